"""`cnnlab train -m` as users run it: one parent MLflow run per sweep with nested job runs, a summary and plots;
a crashing job that does not stop the sweep; parallel joblib jobs; an Optuna study that resumes."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import time
from pathlib import Path

import optuna
import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from mlflow.tracking import MlflowClient

from cnnlab.config_files import CONFIG_DIR, CONFIG_NAME
from tests.conftest import CNNLAB, cli, cnnlab, migrated_store, sigint_as_usual

REPO = Path(__file__).resolve().parents[1]

FAST = [
    "trainer.max_epochs=1", "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1",
    "+trainer.limit_test_batches=1", "trainer.enable_progress_bar=false", "tracking.log_model=false",
    "tracking.log_checkpoint=false",
]  # fmt: skip


def sweep_runs(store: str) -> tuple[list, list]:
    """(parent runs, child runs) of the classification experiment."""
    client = MlflowClient(store)
    runs = client.search_runs([client.get_experiment_by_name("classification").experiment_id])
    parents = [r for r in runs if r.data.tags.get("cnnlab.sweep_parent") == "true"]
    return parents, [r for r in runs if "mlflow.parentRunId" in r.data.tags]


def test_grid_sweep_is_one_parent_with_a_child_per_job(tmp_path: Path, capfd, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = migrated_store(tmp_path / "mlflow.db")
    result = cli(capfd, "train", "-m", "sweep=grid", *FAST, store=store)
    assert result.returncode == 0, result.stderr[-3000:]
    (parent,), children = sweep_runs(store)
    assert len(children) == 4 and {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    grid = {(c.data.params["backbone.name"], c.data.params["optimizer.lr"]) for c in children}
    assert grid == {("simple_cnn", "0.001"), ("simple_cnn", "0.01"), ("lenet5", "0.001"), ("lenet5", "0.01")}
    assert parent.info.status == "FINISHED" and parent.data.tags["cnnlab.sweeper"] == "BasicSweeper"
    assert "sweep=grid" in parent.data.tags["cnnlab.overrides"]
    best = max(children, key=lambda c: c.data.metrics["best/val/acc"])
    assert parent.data.tags["cnnlab.best_run_id"] == best.info.run_id
    assert parent.data.metrics["best/val/acc"] == best.data.metrics["best/val/acc"]
    client = MlflowClient(store)
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    artifacts |= {a.path for a in client.list_artifacts(parent.info.run_id, "sweep")}
    assert {"sweep_summary.csv", "sweep/val_acc_vs_backbone.png", "sweep/val_acc_vs_optimizer.lr.png",
            "sweep/parallel_coordinates.png"} <= artifacts  # fmt: skip
    summary = Path(client.download_artifacts(parent.info.run_id, "sweep_summary.csv", str(tmp_path))).read_text()
    rows = {row["run_id"]: row for row in csv.DictReader(io.StringIO(summary))}
    assert rows.keys() == {c.info.run_id for c in children}
    first_metric = next(column for column in summary.splitlines()[0].split(",") if "/" in column)
    assert first_metric == "best/val/acc"  # the score swept for leads the metrics
    for child in children:  # the swept-for score and the test metrics of every job
        for key in ("best/val/acc", "test/acc"):
            assert float(rows[child.info.run_id][key]) == child.data.metrics[key]
    # the terminal ends on the best job: run, score and the overrides that rerun it
    last_line = result.stdout.strip().splitlines()[-1]
    score = best.data.metrics["best/val/acc"]
    assert last_line.startswith(f"best job: run {best.info.run_id}  best/val/acc={score:.4g}")
    assert f"optimizer.lr={best.data.params['optimizer.lr']}" in last_line and "hydra." not in last_line
    # each job's start-up counts from its own start: a process's age (this pytest process's, or cumulative over
    # the jobs) would exceed the whole sweep's time
    sweep_seconds = (parent.info.end_time - parent.info.start_time) / 1000
    assert all(job.data.metrics["time/startup_s"] < sweep_seconds / 2 for job in children)

    compared = cli(capfd, "compare", "--sweep", parent.info.run_id, store=store)
    assert compared.returncode == 0, compared.stderr
    header = next(line for line in compared.stdout.splitlines() if "rank" in line)
    assert "optimizer.lr" in header and "backbone.name" in header and "data.batch_size" not in header


def test_a_crashing_job_is_failed_and_the_sweep_goes_on(tmp_path: Path, capfd, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = migrated_store(tmp_path / "mlflow.db")
    # a batch larger than the training split fails once the job's run exists (its data is read in the run)
    result = cli(capfd, "train", "-m", *FAST, "data.batch_size=5000,64", store=store)
    assert result.returncode == 1
    (parent,), children = sweep_runs(store)
    assert sorted(c.info.status for c in children) == ["FAILED", "FINISHED"]
    assert parent.info.status == "FINISHED" and "1 of 2 jobs finished" in result.stdout


def test_four_joblib_writers_on_one_sqlite_store_lose_no_run(tmp_path: Path, capfd, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = migrated_store(tmp_path / 'mlflow.db')
    # in-process: the four jobs run in joblib's worker processes all the same
    result = cli(capfd, "train", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=4", "seed=1,2,3,4", *FAST,
                 store=store)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "database is locked" not in result.stderr + result.stdout
    (parent,), children = sweep_runs(store)
    assert sorted(c.data.params["seed"] for c in children) == ["1", "2", "3", "4"]
    assert all(c.info.status == "FINISHED" for c in children)
    client = MlflowClient(store)
    assert all(len(client.get_metric_history(c.info.run_id, "val/acc")) == 1 for c in children)


def test_an_interrupted_optuna_study_resumes_to_its_total(tmp_path: Path) -> None:
    store = migrated_store(tmp_path / 'mlflow.db')
    args = ["train", "-m", "sweep=optuna", "hydra.sweeper.n_trials=3", *FAST]
    # Ctrl-C as the third trial starts: two trials are told to the study, the third is RUNNING in it
    interrupt = ["+hydra.callbacks.interrupt._target_=tests.process_hooks.InterruptAtJob",
                 "+hydra.callbacks.interrupt.job=2"]  # fmt: skip
    env = {**os.environ, "MLFLOW_TRACKING_URI": store, "PYTHONPATH": str(REPO)}
    sweep = subprocess.run([CNNLAB, *args, *interrupt], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=600, preexec_fn=sigint_as_usual)  # fmt: skip
    assert sweep.returncode != 0 and "interrupted" in sweep.stderr, sweep.stderr[-3000:]
    parents, _ = sweep_runs(store)
    assert [p.info.status for p in parents] == ["KILLED"]

    resumed = cnnlab(*args, cwd=tmp_path, store=store)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    study = optuna.load_study(
        study_name="classification-simple_cnn-digits", storage=f"sqlite:///{tmp_path}/outputs/optuna/studies.db"
    )
    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(complete) == 3 and "1 of 3 trials to run" in resumed.stdout
    parents, children = sweep_runs(store)
    assert [p.info.status for p in parents] == ["FINISHED"]  # the study's own parent, reopened
    assert parents[0].data.tags["cnnlab.resumes"] == "1" and "reopening the study's sweep parent" in resumed.stdout
    finished = [c for c in children if c.info.status == "FINISHED"]
    assert len(finished) == 3 and all(c.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for c in children)


def study_of(folder: Path) -> optuna.Study:
    return optuna.load_study(study_name="classification-simple_cnn-digits",
                             storage=f"sqlite:///{folder}/outputs/optuna/studies.db")  # fmt: skip


def test_a_pruned_trial_stops_early_and_is_no_failure(tmp_path: Path, capfd, monkeypatch) -> None:
    """Median pruning on the validation accuracy of each epoch: trials behind the study stop, their runs FINISHED
    and tagged cnnlab.pruned, the study's trials PRUNED, the sweep a success."""
    monkeypatch.chdir(tmp_path)
    store = migrated_store(tmp_path / "mlflow.db")
    result = cli(capfd, "train", "-m", "sweep=optuna", "hydra.sweeper.n_trials=5", "hydra.sweeper.pruner=median",
                 "hydra.sweeper.pruner_startup_trials=1", "optimizer.lr=choice(0.01,0.000000001)",
                 *FAST[1:], "trainer.max_epochs=4", store=store)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    pruned = study_of(tmp_path).get_trials(states=(optuna.trial.TrialState.PRUNED,))
    assert pruned and len(study_of(tmp_path).get_trials(states=(optuna.trial.TrialState.FAIL,))) == 0
    _, children = sweep_runs(store)
    stopped = [c for c in children if "cnnlab.pruned" in c.data.tags]
    assert len(stopped) == len(pruned) and all(c.info.status == "FINISHED" for c in children)
    client = MlflowClient(store)
    for run in stopped:  # validated up to the epoch it was pruned after, and tested
        epochs = len(client.get_metric_history(run.info.run_id, "val/acc"))
        assert epochs == int(run.data.tags["cnnlab.pruned"]) + 1 < 4 and "test/acc" in run.data.metrics
    assert f"5 of 5 jobs finished ({len(pruned)} pruned early)" in result.stdout


def test_asynchronous_workers_take_a_trial_as_soon_as_they_are_free(tmp_path: Path, capfd, monkeypatch) -> None:
    """Two workers, trials of 1 or 12 epochs: a worker whose short trial ended runs the next one while the long
    one still runs (a batch would wait for it)."""
    monkeypatch.chdir(tmp_path)
    store = migrated_store(tmp_path / "mlflow.db")
    result = cli(capfd, "train", "-m", "sweep=optuna", "hydra.sweeper.n_trials=4", "hydra.sweeper.n_jobs=2",
                 "trainer.max_epochs=choice(1,12)", "+trainer.limit_train_batches=1", *FAST[2:], store=store)
    assert result.returncode == 0, result.stderr[-3000:]
    trials = study_of(tmp_path).get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 4
    parents, children = sweep_runs(store)
    assert len(parents) == 1 and len(children) == 4 and all(c.info.status == "FINISHED" for c in children)
    runs = sorted((c.info.start_time, c.info.end_time) for c in children)  # when each job trained, not was asked
    first_two_end = max(end for _, end in runs[:2])  # in batches of 2, no job starts before both have ended
    assert any(start < first_two_end for start, _ in runs[2:]), runs


def test_ctrl_c_stops_the_asynchronous_workers_trials_killed_with_a_checkpoint(tmp_path: Path) -> None:
    """Ctrl-C to the sweeper alone (as `kill -INT` sends it; a terminal's also reaches the workers, which ignore it)
    while two workers train and a third trial waits: each training run ends KILLED with its interrupted.ckpt, none
    stays RUNNING, the queued trial never starts, and the study's trials are FAIL (asked again on a rerun)."""
    store = migrated_store(tmp_path / "mlflow.db")
    training = tmp_path / "training"
    args = ["train", "-m", "sweep=optuna", "hydra.sweeper.n_trials=3", "hydra.sweeper.n_jobs=2", *FAST[1:],
            "trainer.max_epochs=1000", "+hydra.callbacks.training._target_=tests.process_hooks.TouchAfterFirstEpoch",
            f"+hydra.callbacks.training.folder={training}"]  # fmt: skip
    env = {**os.environ, "MLFLOW_TRACKING_URI": store, "PYTHONPATH": str(REPO)}
    with open(tmp_path / "out.log", "w") as out, open(tmp_path / "err.log", "w") as err:
        sweep = subprocess.Popen([CNNLAB, *args], cwd=tmp_path, env=env, stdout=out, stderr=err,
                                 preexec_fn=sigint_as_usual)  # fmt: skip
        deadline = time.monotonic() + 300
        while len(list(training.glob("*"))) < 2 and sweep.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        sweep.send_signal(signal.SIGINT)
        returncode = sweep.wait(timeout=120)
    stderr = (tmp_path / "err.log").read_text()
    assert returncode == 130 and "cnnlab: interrupted" in stderr, stderr[-3000:]
    parents, children = sweep_runs(store)
    assert [p.info.status for p in parents] == ["KILLED"]
    assert [c.info.status for c in children] == ["KILLED", "KILLED"], stderr[-3000:]
    for child in children:
        assert (Path(child.data.tags["cnnlab.run_dir"]) / "checkpoints" / "interrupted.ckpt").is_file()
    assert [t.state for t in study_of(tmp_path).get_trials()] == [optuna.trial.TrialState.FAIL] * 3


def test_the_slurm_launcher_config_instantiates() -> None:
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(CONFIG_NAME, overrides=["hydra/launcher=slurm"], return_hydra_config=True)
    launcher = instantiate(cfg.hydra.launcher)
    assert type(launcher).__name__ == "SlurmLauncher" and cfg.hydra.launcher.tasks_per_node == 1


def test_a_sweep_whose_every_trial_fails_ends(tmp_path: Path, capfd, monkeypatch) -> None:
    """Failed trials do not count towards n_trials (the same command again asks for them); a setting that fails
    every trial must still end the sweep, after n_trials failures, not ask forever."""
    monkeypatch.chdir(tmp_path)
    store = migrated_store(tmp_path / "mlflow.db")
    result = cli(capfd, "train", "-m", "sweep=optuna", "hydra.sweeper.n_trials=2", "optimizer.lr=1e30", *FAST,
                 store=store)  # fmt: skip
    assert result.returncode == 1 and "stopping: 2 trials of this sweep failed" in result.stdout + result.stderr
    states = [t.state for t in study_of(tmp_path).get_trials()]
    assert states == [optuna.trial.TrialState.FAIL] * 2


@pytest.mark.parametrize("setting, message", [
    ("hydra.sweeper.direction=up", "hydra.sweeper.direction=up is not an option; use maximize or minimize"),
    ("hydra.sweeper.n_trials=0", "hydra.sweeper.n_trials=0 is not valid; give a whole number, at least 1"),
    ("hydra.sweeper.n_jobs=two", "hydra.sweeper.n_jobs=two is not valid"),
    ("hydra.sweeper.pruner=bogus", "hydra.sweeper.pruner=bogus is not an option"),
    ("hydra.sweeper.storage=notaurl", "hydra.sweeper.storage=notaurl is not a database URL"),
    ("optimizer.lr=interval(0.1,0.01)", "optimizer.lr=interval(0.1,0.01): "),
    ("optimizer.lrr=interval(0.001,0.1)", "optimizer.lrr is not a setting here; did you mean optimizer.lr"),
])  # fmt: skip
def test_a_bad_sweeper_setting_is_one_line(setting: str, message: str, tmp_path: Path, capfd, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli(capfd, "train", "-m", "sweep=optuna", setting, *FAST, store=migrated_store(tmp_path / "m.db"))
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1 and errors[-1].startswith(f"cnnlab: error: {message}"), result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "HYDRA_FULL_ERROR" not in result.stderr


def test_a_command_line_value_pins_a_key_the_sweep_searches() -> None:
    from hydra_plugins.cnnlab_optuna.search_space import split_arguments

    space, fixed = split_arguments(["optimizer.lr=tag(log,interval(1e-4,1e-1))", "data.batch_size=choice(32,64)",
                                    "optimizer.lr=0.01"])  # fmt: skip
    assert list(space) == ["data.batch_size"] and fixed == ["optimizer.lr=0.01"]
