"""Interruption and crash safety: SIGTERM / Ctrl-C leave a KILLED run and checkpoints, a resume finishes it with
the metrics of an uninterrupted run, a NaN loss stops the run FAILED naming the step, checkpoints are written
atomically, and secrets from the environment never reach MLflow."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import fsspec
import pytest
import sqlalchemy
import torch
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from cnnlab.dispatch import train
from cnnlab.errors import CnnlabError
from cnnlab.signals import Terminated, cancel_held_signals, install_stop_handlers
from cnnlab.tasks import ClassificationTask
from tests.conftest import CNNLAB, FAST, cli, migrated_store, sigint_as_usual

# Default digits job, shortened: 6 epochs of 8 steps.
SHORT = ["trainer.max_epochs=6", "+trainer.limit_train_batches=8", "trainer.enable_progress_bar=false",
         "tracking.log_model=false", "tracking.explain_images=0"]  # fmt: skip


def the_run(store: str):
    client = MlflowClient(store)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    return run


def start_and_signal(run_dir: Path, store: str, cwd: Path, signum: int) -> subprocess.CompletedProcess:
    """`cnnlab train SHORT`, sent `signum` once its first epoch's last.ckpt exists."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": store}
    command = [CNNLAB, "train", *SHORT, f"run_dir={run_dir}", f"hydra.run.dir={run_dir}"]
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=sigint_as_usual)  # fmt: skip
    deadline = time.monotonic() + 300
    while not (run_dir / "checkpoints" / "last.ckpt").exists() and process.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.05)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=300)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def test_sigterm_then_resume_equals_an_uninterrupted_run(make_config, store: str, tmp_path: Path, capfd) -> None:
    uninterrupted = train(make_config(*SHORT))
    MlflowClient(store).delete_experiment(the_run(store).info.experiment_id)  # leave one run to look at

    store = migrated_store(tmp_path / 'second.db')
    run_dir = tmp_path / "killed"
    killed = start_and_signal(run_dir, store, tmp_path, signal.SIGTERM)
    assert killed.returncode == 128 + signal.SIGTERM, killed.stderr[-3000:]
    assert "cnnlab: stopped by SIGTERM" in killed.stderr and "Traceback" not in killed.stderr
    run = the_run(store)
    assert run.info.status == "KILLED"
    assert (run_dir / "checkpoints" / "interrupted.ckpt").is_file()
    epochs_done = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] + 1
    assert epochs_done < 6, "the signal came after training; nothing to resume"

    resumed = cli(capfd, "train", f"resume={run.info.run_id}", store=store)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    run = the_run(store)
    assert run.info.status == "FINISHED" and run.data.tags["cnnlab.resumes"] == "1"
    for key in ("test/acc", "test/f1", "test/loss"):
        assert run.data.metrics[key] == uninterrupted[key], key


def test_ctrl_c_leaves_a_killed_run_and_a_checkpoint(store: str, tmp_path: Path) -> None:
    run_dir = tmp_path / "interrupted"
    result = start_and_signal(run_dir, store, tmp_path, signal.SIGINT)
    assert result.returncode == 130 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "cnnlab: interrupted; a run that had started is marked KILLED" in result.stderr
    assert the_run(store).info.status == "KILLED"
    assert (run_dir / "checkpoints" / "interrupted.ckpt").is_file()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_a_store_write_waits_for_the_write(store: str, signum: int) -> None:
    """The race behind a Ctrl-C that ended in a traceback: interrupted inside SQLAlchemy's commit, the session is
    left broken and the write that marks the run KILLED fails too."""
    client = MlflowClient(store)
    run_id = client.create_run(client.create_experiment("signals")).info.run_id
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)

    sent = []

    def signal_mid_write(conn, cursor, statement: str, *args) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO METRICS") and not sent:
            sent.append(signum)
            signal.raise_signal(signum)

    try:
        install_stop_handlers()
        sqlalchemy.event.listen(sqlalchemy.engine.Engine, "before_cursor_execute", signal_mid_write)
        with pytest.raises(KeyboardInterrupt if signum == signal.SIGINT else Terminated):
            client.log_batch(run_id, metrics=[Metric("loss", 0.5, 0, 3)])
            time.sleep(5)  # the signal lands here, once the write has returned
    finally:
        sqlalchemy.event.remove(sqlalchemy.engine.Engine, "before_cursor_execute", signal_mid_write)
        for s, handler in previous.items():
            signal.signal(s, handler)
    client.set_terminated(run_id, "KILLED")
    run = client.get_run(run_id)
    assert sent == [signum]
    assert run.data.metrics == {"loss": 0.5} and run.info.status == "KILLED"


def test_a_held_signal_stops_nothing_once_the_command_has_ended(store: str, monkeypatch) -> None:
    """A SIGTERM during fit is Lightning's to act on (it stops at the next step): holding it too would stop the
    command a second time, after it ended; and what a finished command still holds is dropped."""
    import cnnlab.signals

    client = MlflowClient(store)
    run_id = client.create_run(client.create_experiment("held")).info.run_id
    previous = signal.getsignal(signal.SIGTERM)

    def signal_mid_write(conn, cursor, statement: str, *args) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO METRICS"):
            signal.raise_signal(signal.SIGTERM)

    try:
        install_stop_handlers()
        sqlalchemy.event.listen(sqlalchemy.engine.Engine, "before_cursor_execute", signal_mid_write)
        monkeypatch.setattr(cnnlab.signals, "_lightning_is_fitting", lambda frame: True)
        client.log_batch(run_id, metrics=[Metric("loss", 0.5, 0, 1)])  # during fit: nothing held
        monkeypatch.setattr(cnnlab.signals, "_lightning_is_fitting", lambda frame: False)
        client.log_batch(run_id, metrics=[Metric("loss", 0.4, 0, 2)])  # held for the write...
        cancel_held_signals()  # ... and the command ends (cnnlab.cli.main)
        time.sleep(0.5)  # no Terminated lands here
    finally:
        sqlalchemy.event.remove(sqlalchemy.engine.Engine, "before_cursor_execute", signal_mid_write)
        signal.signal(signal.SIGTERM, previous)
    assert [m.value for m in client.get_metric_history(run_id, "loss")] == [0.5, 0.4]


def test_nan_loss_stops_the_run_naming_the_step(make_config, store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    original = ClassificationTask.training_step

    def nan_in_second_epoch(self, batch, batch_idx):
        loss = original(self, batch, batch_idx)
        return loss * float("nan") if self.current_epoch == 1 and batch_idx == 1 else loss

    monkeypatch.setattr(ClassificationTask, "training_step", nan_in_second_epoch)
    with pytest.raises(CnnlabError, match=r"the training loss is nan at step 4 \(epoch 1, batch 1\)"):
        train(make_config(*FAST, "trainer.max_epochs=2", "tracking.log_model=false"))
    run = the_run(store)
    assert run.info.status == "FAILED" and "at step 4" in run.data.tags["cnnlab.error"]
    logged = {a.path for a in MlflowClient(store).list_artifacts(run.info.run_id, "checkpoints")}
    assert logged == {"checkpoints/last.ckpt"}  # the last good checkpoint, end of epoch 0
    named = re.search(r"the last good checkpoint is (\S+last\.ckpt)", run.data.tags["cnnlab.error"])
    assert named and Path(named[1]).is_file()


def test_a_nan_loss_in_the_first_epoch_names_no_checkpoint(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from cnnlab.callbacks.safety import last_good_checkpoint

    trainer = SimpleNamespace(checkpoint_callbacks=[SimpleNamespace(dirpath=str(tmp_path))])
    assert last_good_checkpoint(trainer) == "no epoch had ended, so there is no checkpoint to go back to"


def test_an_interrupted_checkpoint_write_keeps_the_previous_file(tmp_path: Path, monkeypatch) -> None:
    from lightning_fabric.utilities.cloud_io import _atomic_save

    path = tmp_path / "last.ckpt"
    _atomic_save({"epoch": 1}, path)

    def killed_mid_write(self, data):
        raise KeyboardInterrupt  # as if the process died while writing

    monkeypatch.setattr(fsspec.implementations.local.LocalFileOpener, "write", killed_mid_write)
    with pytest.raises(KeyboardInterrupt):
        _atomic_save({"epoch": 2, "weights": torch.zeros(1000)}, path)
    assert torch.load(path, weights_only=True) == {"epoch": 1}


def test_planted_secrets_never_reach_mlflow(make_config, store: str, tmp_path: Path, monkeypatch) -> None:
    secrets = {"MLFLOW_TRACKING_PASSWORD": "planted-pw-1234", "AWS_SECRET_ACCESS_KEY": "planted-aws-5678",
               "HF_TOKEN": "planted-hf-9012", "CNNLAB_API_KEY": "planted-key-3456"}  # fmt: skip
    planted = [*secrets.values(), "planted-url-7890"]
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    # A config value that pulls a secret from the environment, and a tracking URI with a password in it
    config = make_config(*FAST, "tracking.log_model=false", "+tracking.hub_token=${oc.env:HF_TOKEN}",
                         "+tracking.mirror=https://me:planted-url-7890@mlflow.example.com")  # fmt: skip
    train(config)
    client = MlflowClient(store)
    run = the_run(store)
    seen = [*run.data.params.items(), *run.data.tags.items()]
    folder = tmp_path / "artifacts-copy"
    client.download_artifacts(run.info.run_id, "", str(folder))
    texts = [p.read_bytes() for p in folder.rglob("*") if p.is_file()]
    assert run.data.tags["cnnlab.setting.tracking.hub_token"] == "***"
    for value in planted:
        assert not any(value in f"{k}={v}" for k, v in seen), value
        assert not any(value.encode() in text for text in texts), value
