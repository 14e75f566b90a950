"""debug=fdr|overfit|limit|profile through the command line (in this process): each does what it says, tags its
run, and a setting Lightning refuses is one line."""

from __future__ import annotations

from mlflow.tracking import MlflowClient

from tests.conftest import cli

QUIET = ["trainer.enable_progress_bar=false", "tracking.log_model=false", "tracking.explain_images=0"]


def the_run(store: str):
    client = MlflowClient(store)
    (run,) = client.search_runs([client.get_experiment_by_name("classification").experiment_id])
    return client, run


def test_fdr_is_a_tagged_smoke_test(store: str, tmp_path, capfd) -> None:
    result = cli(capfd, "train", "debug=fdr", f"run_dir={tmp_path / 'run'}", "trainer.enable_progress_bar=false",
                 store=store)  # log_model stays on: a smoke test logs no model all the same
    assert result.returncode == 0, result.stderr[-2000:]
    assert "a smoke test (fast_dev_run)" in result.stdout
    client, run = the_run(store)
    assert run.info.status == "FINISHED" and run.data.tags["cnnlab.debug"] == "fdr"
    assert run.data.tags["cnnlab.fast_dev_run"] == "2" and "test/acc" in run.data.metrics  # tested the last weights
    assert list(client.search_logged_models([run.info.experiment_id])) == []
    assert not (tmp_path / "run" / "checkpoints").exists() or not any((tmp_path / "run" / "checkpoints").iterdir())


def test_overfit_learns_a_few_batches_by_heart(store: str, tmp_path, capfd) -> None:
    # the digits default augments every batch (kornia): the same draws every epoch, or nothing could be memorised
    result = cli(capfd, "train", "debug=overfit", "data.batch_size=32", f"run_dir={tmp_path / 'run'}", *QUIET,
                 store=store)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "the model can fit its data" in result.stdout, result.stdout
    client, run = the_run(store)
    assert run.data.metrics["train/loss_epoch"] <= 0.01  # stopped by its threshold, not by max_epochs
    assert len(client.get_metric_history(run.info.run_id, "train/loss_epoch")) < 150
    assert run.data.tags["cnnlab.debug"] == "overfit"


def test_limit_trains_on_a_quarter_of_the_batches(store: str, tmp_path, capfd) -> None:
    result = cli(capfd, "train", "debug=limit", "trainer.max_epochs=1", "trainer.log_every_n_steps=1",
                 f"run_dir={tmp_path / 'run'}", *QUIET, store=store)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    client, run = the_run(store)
    # digits: 1,257 training images in batches of 64 = 20 batches; a quarter is 5
    assert len(client.get_metric_history(run.info.run_id, "train/loss")) == 5


def test_profile_logs_the_report(store: str, tmp_path, capfd) -> None:
    result = cli(capfd, "train", "debug=profile", "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1",
                 "+trainer.limit_test_batches=1", f"run_dir={tmp_path / 'run'}", *QUIET, store=store)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    client, run = the_run(store)
    reports = {a.path for a in client.list_artifacts(run.info.run_id, "profile")}
    assert reports == {"profile/fit-profile.txt", "profile/test-profile.txt"}
    fit = (tmp_path / "run" / "profile" / "fit-profile.txt").read_text()
    assert "run_training_epoch" in fit and "Mean duration" in fit


def test_a_setting_lightning_refuses_is_one_line(store: str, tmp_path, capfd) -> None:
    result = cli(capfd, "train", "debug=limit", "trainer.limit_val_batches=0.01", "trainer.max_epochs=1",
                 f"run_dir={tmp_path / 'run'}", *QUIET, store=store)  # fmt: skip
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("cnnlab: error:")]
    assert lines == [lines[0]] and "limit_val_batches" in lines[0] and "Traceback" not in result.stderr
    assert the_run(store)[1].info.status == "FAILED"
