"""The `cnnlab` command as users run it: the embedded default end to end, and one-line errors."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient

from cnnlab.config_files import group_options
from tests.conftest import cli, cnnlab, migrated_store


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory):
    """`cnnlab train` with nothing but progress bars off: the embedded default (simple CNN on digits, CPU)."""
    tmp = tmp_path_factory.mktemp("default")
    store = f"sqlite:///{tmp / 'mlflow.db'}"  # a new store, as on a first `make train`: its tables made by this run
    result = cnnlab("train", "trainer.enable_progress_bar=false", cwd=tmp, store=store)
    assert result.returncode == 0, result.stderr[-3000:]
    client = MlflowClient(store)
    (run,) = client.search_runs([client.get_experiment_by_name("classification").experiment_id])
    return result, client, run, tmp


def test_default_reaches_the_accuracy_bar(default_run) -> None:
    result, _, run, _ = default_run
    assert run.info.status == "FINISHED"
    assert run.data.metrics["test/acc"] >= 0.98
    assert f"test/acc={run.data.metrics['test/acc']:.4f}" in result.stdout
    assert run.info.run_id in result.stdout


def test_default_console_is_clean(default_run) -> None:
    """What a user sees: cnnlab's summary line first, the results, where the run is; no third-party tips,
    deprecations, warnings, INFO log lines or model-summary table."""
    result = default_run[0]
    lines = (result.stdout + result.stderr).splitlines()
    noise = [line for line in lines if re.search(r"Warning|Tip|\bINFO\b|FLOPs|v_num|Seed set", line)]
    assert noise == [], "\n".join(noise)
    assert result.stdout.startswith("cnnlab: classification simple_cnn on digits, seed 42, 60 epochs; run ")
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == ["cnnlab", "test", "MLflow"]
    # not the default store, which `make ui` serves: the hint names this one
    assert result.stdout.rstrip().endswith(f"browse with `mlflow ui --backend-store-uri {default_run[1].tracking_uri}`")


def test_default_run_folder_keeps_what_the_run_printed(default_run) -> None:
    result, _, run, _ = default_run
    log = (Path(run.data.tags["cnnlab.run_dir"]) / "train.log").read_text()
    assert log.splitlines() == result.stdout.splitlines()  # progress bars are off


def test_default_records_params_metrics_and_tags(default_run) -> None:
    _, client, run, _ = default_run
    params = run.data.params
    assert params["backbone.name"] == "simple_cnn" and params["optimizer.lr"] == "0.001"
    assert params["trainer.max_epochs"] == "60" and params["data.name"] == "digits" and params["seed"] == "42"
    metrics = set(run.data.metrics)
    assert {"train/loss", "train/loss_epoch", "train/acc", "train/lr", "val/loss", "val/acc", "val/f1"} <= metrics
    assert {"test/acc", "test/f1", "test/loss", "test/acc_per_class/0", "test/acc_per_class/9"} <= metrics
    assert len(client.get_metric_history(run.info.run_id, "val/acc")) == 60
    assert len(client.get_metric_history(run.info.run_id, "train/loss")) > 60  # every log_every_n_steps
    rates = [point.value for point in client.get_metric_history(run.info.run_id, "train/lr")]
    assert len(rates) > 60 and len(set(rates[:10])) == 10  # per step: cosine decay moves it within an epoch
    system = {"cpu_utilization_percentage", "system_memory_usage_megabytes", "disk_usage_percentage",
              "network_receive_megabytes"}  # fmt: skip
    assert {f"system/{name}" for name in system} <= metrics  # sampled every 5 s by default, from rank 0
    contexts = {d.tags[0].value: d.dataset for d in run.inputs.dataset_inputs}
    assert {name: json.loads(d.profile)["num_samples"] for name, d in contexts.items()} == {
        "train": 1257, "val": 270, "test": 270}  # fmt: skip
    assert contexts["train"].name == "digits-train" and json.loads(contexts["train"].source)["name"] == "digits"
    tags = run.data.tags
    assert tags["cnnlab.task"] == "classification" and tags["cnnlab.backbone"] == "simple_cnn"
    assert tags["cnnlab.data"] == "digits" and tags["cnnlab.seed"] == "42"
    assert tags["cnnlab.command"] == "cnnlab train trainer.enable_progress_bar=false"
    assert tags["cnnlab.version"] and tags["cnnlab.git_dirty"] in ("true", "false", "none")
    assert run.info.run_name == "simple_cnn-digits-s42"  # the experiment names the task
    assert not [key for key in params if key.startswith(("tracking.", "run_dir"))]  # bookkeeping: tags
    assert tags["cnnlab.setting.tracking.uri"] == client.tracking_uri
    note = tags["mlflow.note.content"]  # the run page's description
    assert note.startswith("`cnnlab train trainer.enable_progress_bar=false`")
    assert f"| test/acc | {run.data.metrics['test/acc']:.4g} |" in note and "| best/val/acc |" in note


def test_default_logs_artifacts(default_run) -> None:
    _, client, run, tmp = default_run
    run_id = run.info.run_id
    names = {a.path for a in client.list_artifacts(run_id)}
    assert {"config.yaml", "overrides.yaml", "model_summary.txt", "confusion_matrix.png", "checkpoints"} <= names
    assert [a.path for a in client.list_artifacts(run_id, "checkpoints")] == ["checkpoints/best.ckpt"]
    config = yaml.safe_load(Path(client.download_artifacts(run_id, "config.yaml", str(tmp))).read_text())
    assert config["backbone"]["filters"] == [32, 64]
    overrides = yaml.safe_load(Path(client.download_artifacts(run_id, "overrides.yaml", str(tmp))).read_text())
    assert overrides == ["trainer.enable_progress_bar=false"]
    assert Path(client.download_artifacts(run_id, "confusion_matrix.png", str(tmp))).read_bytes()[:4] == b"\x89PNG"
    summary = Path(client.download_artifacts(run_id, "model_summary.txt", str(tmp))).read_text()
    assert "SimpleCNN" in summary
    assert "Layers (one example of shape (1, 8, 8)" in summary and "features.2    MaxPool2d  4×4×32" in summary


def test_default_logs_a_loadable_model_with_signature(default_run, monkeypatch) -> None:
    _, client, run, _ = default_run
    # what MLflow's model loaders read; restored after the test (mlflow.set_tracking_uri would outlive it)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", client.tracking_uri)
    uri = f"runs:/{run.info.run_id}/model"
    info = mlflow.models.get_model_info(uri)
    assert info.signature.inputs.to_dict()[0]["tensor-spec"]["shape"] == (-1, 1, 8, 8)
    model = mlflow.pytorch.load_model(uri)
    images = torch.randn(3, 1, 8, 8)
    assert model(images).shape == (3, 10)
    pyfunc = mlflow.pyfunc.load_model(uri)
    assert np.allclose(pyfunc.predict(images.numpy()), model(images).detach().numpy(), atol=1e-5)


def test_unknown_group_option_is_one_line(tmp_path: Path, capfd, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli(capfd, "train", "backbone=resnet_9000", store=f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert result.returncode == 1
    choices = group_options("backbone")
    assert {"simple_cnn", "lenet5", "alexnet", "vgg16", "resnet18", "timm", "torchvision"} <= set(choices)
    assert result.stderr.strip().splitlines() == [
        f"cnnlab: error: backbone=resnet_9000 is not an option; valid choices: {', '.join(sorted(choices))}"
    ]
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "outputs").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nonsense=1"], "nonsense is not a setting here"),
        (["optimizer.lr=-0.5"], "optimizer.lr=-0.5 must be positive"),
        (["data=imagefolder"], "data.root must be set"),
        (["-m", "backbone=simple_cnn,resnet_9000"], "backbone=resnet_9000 is not an option"),
    ],
)
def test_bad_input_is_one_line(args: list[str], message: str, tmp_path: Path, capfd, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli(capfd, "train", *args, store=migrated_store(tmp_path / "m.db"))
    lines = [line for line in result.stderr.splitlines() if line.startswith("cnnlab: error:")]
    assert result.returncode == 1 and len(lines) == 1 and message in lines[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr


def test_cfg_job_prints_the_composed_config(tmp_path: Path, capfd, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli(capfd, "train", "backbone=lenet5", "--cfg", "job")
    assert result.returncode == 0
    assert yaml.safe_load(result.stdout)["backbone"]["name"] == "lenet5"


def test_usage_and_unknown_command(tmp_path: Path) -> None:
    # the installed command itself, as a process: its entry point and exit codes
    assert "train" in cnnlab("--help", cwd=tmp_path, store="sqlite:///x.db").stdout
    result = cnnlab("fly", cwd=tmp_path, store="sqlite:///x.db")
    assert result.returncode == 2 and "unknown command 'fly'; valid commands: train" in result.stderr


def test_make_ui_serves_this_machine_only_unless_asked() -> None:
    root = Path(__file__).resolve().parents[1]
    default = subprocess.run(["make", "-n", "ui"], cwd=root, capture_output=True, text=True)
    ui = [line for line in default.stdout.splitlines() if " ui " in line]
    assert ui and all("--host 127.0.0.1 " in line for line in ui), default.stdout
    asked = subprocess.run(["make", "-n", "ui", "UI_HOST=0.0.0.0"], cwd=root, capture_output=True, text=True)
    assert "--host 0.0.0.0 " in asked.stdout
