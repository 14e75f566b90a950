"""A run's folder and checkpoints are its own: a reused run_dir gets a numbered sibling, commands that read a run's
checkpoint never take another run's file, a run being trained cannot be resumed twice at once, a run left RUNNING
by a dead process is resumed, one that may be training elsewhere needs --force, and a run killed before its config
was logged says so."""

from __future__ import annotations

import fcntl
import re
import shutil
import threading
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from cnnlab.cli import main
from cnnlab.errors import CnnlabError
from cnnlab.run_folder import OWNER_FILE, claimed, owner
from cnnlab.tasks.checkpoints import checkpoint_run_id
from cnnlab.tracking.source import load_source_run
from cnnlab.tracking.tags import RUN_DIR_TAG
from tests.conftest import FAST

QUICK = [*FAST, "tracking.log_model=false"]


def train(tmp_path: Path, capfd, *overrides: str) -> tuple[int, str, str]:
    capfd.readouterr()
    try:
        status = main(["train", *QUICK, f"hydra.run.dir={tmp_path / 'hydra'}", *overrides])
    except SystemExit as stop:  # Hydra's app ends a failed run this way
        status = stop.code
    captured = capfd.readouterr()
    return status, captured.out, captured.err


def runs(store: str) -> list:
    client = MlflowClient(store)
    return client.search_runs([e.experiment_id for e in client.search_experiments()],
                              order_by=["attributes.start_time ASC"])  # fmt: skip


def test_a_reused_run_dir_keeps_each_runs_checkpoints_its_own(tmp_path: Path, store: str, capfd) -> None:
    folder = tmp_path / "run"
    status, out, err = train(tmp_path, capfd, f"run_dir={folder}")
    assert status == 0, err[-3000:]
    status, out, _ = train(tmp_path, capfd, f"run_dir={folder}", "seed=7")
    assert status == 0 and f"this run writes to {folder}-2" in out
    first, second = runs(store)
    assert first.data.tags["cnnlab.run_dir"] == str(folder) and second.data.tags["cnnlab.run_dir"] == f"{folder}-2"
    assert owner(folder)["run_id"] == first.info.run_id and owner(Path(f"{folder}-2"))["run_id"] == second.info.run_id
    client = MlflowClient(store)
    assert checkpoint_run_id(load_source_run(client, first.info.run_id).checkpoint()) == first.info.run_id

    # A folder reused behind cnnlab's back (a copied file): the local file is not the run's, its artifact is used
    shutil.copy(Path(f"{folder}-2") / "checkpoints" / "best.ckpt", folder / "checkpoints" / "best.ckpt")
    chosen = load_source_run(client, first.info.run_id).checkpoint()
    assert chosen != folder / "checkpoints" / "best.ckpt" and checkpoint_run_id(chosen) == first.info.run_id


def test_runs_claiming_one_folder_at_once_get_one_each(tmp_path: Path) -> None:
    claimed_paths, barrier = [], threading.Barrier(6)

    def claim() -> None:
        barrier.wait()
        with claimed(tmp_path / "run") as folder:
            claimed_paths.append(folder.path)
            barrier.wait()  # hold every claim until all are made

    threads = [threading.Thread(target=claim) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(claimed_paths)) == 6


@pytest.fixture
def trained(tmp_path: Path, store: str, capfd):
    folder = tmp_path / "run"
    assert train(tmp_path, capfd, f"run_dir={folder}", "trainer.max_epochs=2")[0] == 0
    (run,) = runs(store)
    return run, folder


def test_a_run_being_trained_is_not_resumed_twice(trained, tmp_path: Path, store: str, capfd) -> None:
    run, folder = trained
    with open(folder / OWNER_FILE) as held:  # as the process training it holds it
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        status, _, err = train(tmp_path, capfd, f"resume={run.info.run_id}", "trainer.max_epochs=3")
    assert status == 1 and f"run {run.info.run_id} is being trained now in {folder}" in err
    assert runs(store)[0].info.status == "FINISHED"


def test_a_run_left_running_by_a_dead_process_is_resumed(trained, tmp_path: Path, store: str, capfd) -> None:
    run, _ = trained
    MlflowClient(store).update_run(run.info.run_id, status="RUNNING")  # as a SIGKILL leaves it
    status, out, err = train(tmp_path, capfd, f"resume={run.info.run_id}", "trainer.max_epochs=3")
    assert status == 0, err[-3000:]
    assert "left RUNNING by a process that has ended" in out and runs(store)[0].info.status == "FINISHED"


def test_a_running_run_this_machine_cannot_see_needs_force(trained, tmp_path: Path, store: str, capfd) -> None:
    run, folder = trained
    MlflowClient(store).update_run(run.info.run_id, status="RUNNING")
    (folder / OWNER_FILE).unlink()  # as if trained on another machine: nothing here says whether it still runs
    status, _, err = train(tmp_path, capfd, f"resume={run.info.run_id}", "trainer.max_epochs=3")
    assert status == 1 and "resume it with --force" in err
    status, _, err = train(tmp_path, capfd, f"resume={run.info.run_id}", "trainer.max_epochs=3", "--force")
    assert status == 0, err[-3000:]
    assert runs(store)[0].info.status == "FINISHED"


def test_a_run_killed_before_its_config_is_named_so_and_failed(tmp_path: Path, store: str) -> None:
    client = MlflowClient(store)
    experiment = client.create_experiment("classification")
    tags = {"cnnlab.command": "cnnlab train", RUN_DIR_TAG: str(tmp_path / "gone")}
    run = client.create_run(experiment, tags=tags)  # killed right after this, before its config was logged
    with pytest.raises(CnnlabError, match="was interrupted before it started"):
        load_source_run(client, run.info.run_id)
    assert client.get_run(run.info.run_id).info.status == "FAILED"


def test_explain_and_evaluation_runs_are_refused_and_last_is_a_training_run(tmp_path: Path, store: str) -> None:
    """Explain and evaluation runs copy their training run's tags; resume, reproduce, repeat... must not take them
    for one, and neither may `last` (nor a repeat's parent, which trains nothing itself)."""
    client = MlflowClient(store)
    experiment = client.create_experiment("classification")
    trained = client.create_run(experiment).info.run_id
    client.log_text(trained, "task: {name: classification}\ndata: {name: digits}\nrun_dir: x\n", "config.yaml")
    explain = client.create_run(experiment, tags={"cnnlab.explains": trained}).info.run_id
    client.create_run(experiment, tags={"cnnlab.repeat": "0" * 40})
    evaluation = client.create_run(experiment, tags={"cnnlab.evaluates": trained}).info.run_id
    with pytest.raises(CnnlabError, match=f"run {explain} is a `cnnlab explain` run of run {trained}"):
        load_source_run(client, explain)
    with pytest.raises(CnnlabError, match=re.escape(f"run {evaluation} is an evaluation (`cnnlab evaluate`) of run")):
        load_source_run(client, evaluation)
    assert load_source_run(client, "last").run.info.run_id == trained
