"""What users do with past runs: reproduce, evaluate, predict, resume into the same run, the model registry."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image
from sklearn.datasets import load_digits

from cnnlab.commands import evaluate, predict, reproduce
from cnnlab.dispatch import train
from cnnlab.errors import CnnlabError
from cnnlab.tracking.datasets import logged_digests
from tests.conftest import FAST, cli, free_port

BIN = Path(sys.executable).parent
QUICK = [*FAST, "tracking.log_model=false"]


def only_run(store: str, experiment: str = "classification"):
    client = MlflowClient(store)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    assert len(runs) == 1
    return runs[0]


@pytest.fixture
def trained(make_config, store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """One quick digits run; the working folder is tmp_path (commands write outputs/ there)."""
    monkeypatch.chdir(tmp_path)
    train(make_config(*QUICK, "tracking.system_metrics_interval_s=0.1"))  # system metrics, as a longer run has
    return only_run(store)


def test_reproduce_matches_exactly_on_cpu(trained, store: str, capsys) -> None:
    assert reproduce.main([trained.info.run_id]) == 0
    client = MlflowClient(store)
    (copy,) = client.search_runs(
        [trained.info.experiment_id], filter_string=f"tags.`cnnlab.reproduces` = '{trained.info.run_id}'"
    )
    results = lambda run: {k: v for k, v in run.data.metrics.items()  # noqa: E731
                           if not k.startswith(("time/", "system/"))}  # the machine's, not the result's
    assert results(copy) == results(trained) and copy.info.run_id != trained.info.run_id
    out = capsys.readouterr().out
    assert logged_digests(client, copy.info.run_id) == logged_digests(client, trained.info.run_id)
    assert "data differs" not in out
    assert any(key.startswith("system/") for key in trained.data.metrics)  # left out of the comparison too
    compared = len(results(trained))  # timings and system metrics measure the machine and are left out
    assert f"{compared} of {compared} metrics match" in out


def test_reproduce_reports_a_planted_mismatch(trained, store: str, capsys) -> None:
    MlflowClient(store).log_metric(trained.info.run_id, "test/acc", 0.123, step=10_000)
    assert reproduce.main([trained.info.run_id]) == 1
    out = capsys.readouterr().out
    assert "DIFFERENT" in out and "1 differ" in out


def test_evaluate_recomputes_the_test_metrics_into_a_linked_run(trained, store: str, capsys) -> None:
    assert evaluate.main([trained.info.run_id]) == 0
    assert "data differs" not in capsys.readouterr().out
    client = MlflowClient(store)
    (evaluation,) = client.search_runs(
        [trained.info.experiment_id], filter_string=f"tags.`cnnlab.evaluates` = '{trained.info.run_id}'"
    )
    for key in ("test/acc", "test/f1", "test/loss"):
        assert evaluation.data.metrics[key] == pytest.approx(trained.data.metrics[key], abs=1e-6)
    trained_on = logged_digests(client, trained.info.run_id)
    assert logged_digests(client, evaluation.info.run_id) == {"test": trained_on["test"]}

    assert evaluate.main([trained.info.run_id, "data.split_seed=1"]) == 0  # another test split
    assert f"the test data differs from run {trained.info.run_id}'s" in capsys.readouterr().out


def test_resume_continues_the_same_run_without_repeating_epochs(make_config, store: str, tmp_path: Path,
                                                                capfd) -> None:
    sampling = "tracking.system_metrics_interval_s=0.1"
    train(make_config(*QUICK, "trainer.max_epochs=2", sampling))
    first = only_run(store)
    result = cli(capfd, "train", f"resume={first.info.run_id}", "trainer.max_epochs=3", sampling, store=store)
    assert result.returncode == 0, result.stderr[-2000:]
    resumed = only_run(store)  # still one run
    assert resumed.info.run_id == first.info.run_id and resumed.info.status == "FINISHED"
    history = MlflowClient(store).get_metric_history(first.info.run_id, "val/acc")
    steps = [m.step for m in history]
    assert len(steps) == 3 and steps == sorted(set(steps))
    cpu = "system/cpu_utilization_percentage"
    samples = [m.step for m in MlflowClient(store).get_metric_history(first.info.run_id, cpu)]
    assert sorted(samples) == sorted(set(samples)), "system metrics resumed at step 0"
    assert "data differs" not in result.stdout
    assert resumed.data.tags["cnnlab.resumes"] == "1" and resumed.data.tags["cnnlab.resume.trainer.max_epochs"] == "3"


def test_resume_refuses_to_swap_a_config_group(trained) -> None:
    from cnnlab.resume import with_overrides

    with pytest.raises(CnnlabError, match="backbone=lenet5: a resumed run keeps its config groups"):
        with_overrides({"backbone": {"name": "simple_cnn"}}, ["backbone=lenet5"])


def test_predict_and_the_registered_model_agree(make_config, store: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    train(make_config(*QUICK, "tracking.register_as=digits_cnn"))
    run = only_run(store)
    digits = load_digits()
    paths = []
    for i in range(3):
        path = tmp_path / f"digit{digits.target[i]}.png"
        Image.fromarray(np.round(digits.images[i] * 255 / 16).astype(np.uint8)).save(path)
        paths.append(str(path))
    assert predict.main([run.info.run_id, *paths, "--output", str(tmp_path / "out.jsonl")]) == 0
    predicted = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [p["input"] for p in predicted] == paths and all(abs(sum(p["probabilities"].values()) - 1) < 1e-5
                                                            for p in predicted)  # fmt: skip
    registered = mlflow.pyfunc.load_model("models:/digits_cnn/1").predict(paths)
    # and served over HTTP (`mlflow models serve`), to a client that sends the image files' bytes
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("mlflow")), "models", "serve", "-m", "models:/digits_cnn/1",
         "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        # the venv's bin on PATH, as in an activated venv: MLflow starts `uvicorn` by name
        env={**os.environ, "MLFLOW_TRACKING_URI": store, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        images = [base64.b64encode(Path(path).read_bytes()).decode("ascii") for path in paths]
        served = post_when_up(server, f"http://127.0.0.1:{port}", {"dataframe_split": {"columns": ["image"],
                                                                            "data": [[i] for i in images]}})
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    for ours, theirs, over_http in zip(predicted, registered, served["predictions"], strict=True):
        assert ours["class"] == theirs["class"] == over_http["class"]
        assert np.allclose(list(ours["probabilities"].values()), list(theirs["probabilities"].values()), atol=1e-6)
        assert np.allclose(list(ours["probabilities"].values()), list(over_http["probabilities"].values()),
                           atol=1e-6)  # fmt: skip


def post_when_up(server: subprocess.Popen, url: str, payload: dict, seconds: float = 120) -> dict:
    """POSTs `payload` to the scoring server's /invocations once its /ping answers."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2):
                break
        except OSError:
            assert server.poll() is None, f"mlflow models serve exited with {server.returncode}"
            assert time.monotonic() < deadline, f"{url} did not answer within {seconds} s"
            time.sleep(0.3)
    request = urllib.request.Request(f"{url}/invocations", json.dumps(payload).encode(),
                                     {"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def test_predict_text_from_a_run(make_config, store: str, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    train(make_config(*QUICK, "task=text", "backbone.embedding_dim=8", "backbone.maps=4",
                      f"data.root={tmp_path / 'pydocs'}"))  # fmt: skip
    run = only_run(store, "text")
    assert predict.main([run.info.run_id, "Return the event loop of the current thread.", "Parse an XML file."]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(lines) == 2 and all(line["class"] in line["probabilities"] for line in lines)
    assert len(lines[0]["probabilities"]) == 8


def test_an_unknown_run_is_one_line(store: str) -> None:
    with pytest.raises(CnnlabError, match="no run 0123abcd in sqlite"):
        predict.main(["0123abcd", "x.png"])
