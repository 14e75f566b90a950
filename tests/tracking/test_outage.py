"""A tracking server that goes away mid-training (a real `mlflow server` on 127.0.0.1, stopped and started):
training goes on and every metric point ends up in the server, through MLflow's retries when it comes back soon,
through the run's outbox and `cnnlab upload` when it does not."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

from tests.conftest import CNNLAB, FAST, cli, free_port, start_mlflow_server, stop_mlflow_server

REPO = Path(__file__).resolve().parents[2]
EPOCHS = 3  # the outage lands after the first: two epochs' points are sent through it
JOB = [f"trainer.max_epochs={EPOCHS}", "+trainer.limit_train_batches=4", "trainer.enable_progress_bar=false",
       "tracking.log_model=false", "tracking.log_checkpoint=false"]  # fmt: skip


def start_training(tmp_path: Path, uri: str, *overrides: str, **env: str) -> subprocess.Popen:
    run_dir = tmp_path / "run"
    command = [CNNLAB, "train", *JOB, f"tracking.uri={uri}", f"run_dir={run_dir}", f"hydra.run.dir={run_dir}",
               *overrides]  # fmt: skip
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, **env}  # another test may have left a store in the environment
    return subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def pause_after_first_epoch(tmp_path: Path) -> list[str]:
    """The run pauses after its first epoch until tmp_path/server-down exists: the outage lands mid-run, whatever
    the machine's speed."""
    return ["+hydra.callbacks.pause._target_=tests.process_hooks.PauseAfterFirstEpoch",
            f"+hydra.callbacks.pause.reached={tmp_path / 'epoch1'}",
            f"+hydra.callbacks.pause.resume={tmp_path / 'server-down'}"]  # fmt: skip


def wait_for_pause(tmp_path: Path, training: subprocess.Popen) -> None:
    deadline = time.monotonic() + 300
    while not (tmp_path / "epoch1").exists():
        assert training.poll() is None and time.monotonic() < deadline, training.communicate()[1][-3000:]
        time.sleep(0.1)


def the_run(uri: str):
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("classification").experiment_id])
    return client, run


def test_a_server_restart_loses_no_metric_point(tmp_path: Path) -> None:
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = start_mlflow_server(tmp_path, port)
    # MLflow's own retries (10, its most), at most 3 s apart: a 30 s window that the restart falls in, and the
    # server found within 3 s of answering (MLflow's doubling waits found it up to 16 s later)
    retries = ["+hydra.callbacks.retries._target_=tests.process_hooks.RetryEvery", "+hydra.callbacks.retries.seconds=3"]
    training = start_training(tmp_path, uri, *pause_after_first_epoch(tmp_path), *retries, PYTHONPATH=str(REPO),
                              MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR="1", MLFLOW_HTTP_REQUEST_MAX_RETRIES="10")  # fmt: skip
    try:
        wait_for_pause(tmp_path, training)
        stop_mlflow_server(server)
        (tmp_path / "server-down").touch()  # training goes on into the outage, which lasts as long as a restart
        server = start_mlflow_server(tmp_path, port)
        stdout, stderr = training.communicate(timeout=600)
        assert training.returncode == 0, stderr[-3000:]
        client, run = the_run(uri)
        assert run.info.status == "FINISHED"
        assert len(client.get_metric_history(run.info.run_id, "val/acc")) == EPOCHS
        assert len(client.get_metric_history(run.info.run_id, "train/loss_epoch")) == EPOCHS
    finally:
        training.kill()
        stop_mlflow_server(server)


def test_a_server_that_never_comes_back_gets_the_run_by_upload(tmp_path: Path, capfd) -> None:
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = start_mlflow_server(tmp_path, port)
    # Give up quickly instead of MLflow's default ~4 minutes of retries
    training = start_training(tmp_path, uri, *pause_after_first_epoch(tmp_path), MLFLOW_HTTP_REQUEST_MAX_RETRIES="1",
                              MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR="1", PYTHONPATH=str(REPO))  # fmt: skip
    try:
        wait_for_pause(tmp_path, training)
        stop_mlflow_server(server)
        (tmp_path / "server-down").touch()
        stdout, stderr = training.communicate(timeout=600)
        assert training.returncode == 0, stderr[-3000:]
        assert f"send them with: cnnlab upload {tmp_path / 'run'}" in stderr
        assert "test: test/acc=" in stdout  # the run finished locally

        server = start_mlflow_server(tmp_path, port)
        upload = cli(capfd, "upload", str(tmp_path / "run"), store=uri)
        assert upload.returncode == 0, upload.stderr[-3000:]
        client, run = the_run(uri)
        assert run.info.status == "FINISHED"
        assert len(client.get_metric_history(run.info.run_id, "val/acc")) == EPOCHS
        assert "test/acc" in run.data.metrics and "best/val/acc" in run.data.metrics
        assert "confusion_matrix.png" in {a.path for a in client.list_artifacts(run.info.run_id)}
        again = cli(capfd, "upload", str(tmp_path / "run"), store=uri)
        assert again.returncode == 0 and "sent 0 records" in again.stdout  # nothing is sent twice
    finally:
        training.kill()
        stop_mlflow_server(server)


def test_a_server_away_at_the_start_gets_an_offline_run_created_by_upload(tmp_path: Path, monkeypatch, capfd) -> None:
    from cnnlab.cli import main

    port = free_port()
    uri = f"http://127.0.0.1:{port}"  # nothing listens yet
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    started = time.monotonic()
    status = main(["train", *FAST, "tracking.log_model=false", f"run_dir={tmp_path / 'run'}",
                   f"hydra.run.dir={tmp_path / 'run'}"])  # fmt: skip
    stderr = capfd.readouterr().err
    assert status == 0 and "training offline" in stderr and "cnnlab upload" in stderr, stderr[-3000:]
    assert time.monotonic() - started < 120  # a probe of seconds, not MLflow's minutes of retries

    server = start_mlflow_server(tmp_path, port)
    try:
        upload = cli(capfd, "upload", str(tmp_path / "run"), store=uri)
        assert upload.returncode == 0, upload.stderr[-3000:]
        client, run = the_run(uri)
        assert run.info.status == "FINISHED" and run.data.params["optimizer.name"] == "adam"
        assert "test/acc" in run.data.metrics and "val/acc" in run.data.metrics
        assert "config.yaml" in {a.path for a in client.list_artifacts(run.info.run_id)}
    finally:
        stop_mlflow_server(server)
