"""The store many machines share, for real: a PostgreSQL server started here on 127.0.0.1, `cnnlab server` (MLflow
on PostgreSQL, artifacts served), and two sweep processes, as two machines run them, on one Optuna study in the same
PostgreSQL. Skipped only where no PostgreSQL server is installed (`make test` installs it where apt can)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import CNNLAB, FAST, cli, free_port, healthy, sigint_as_usual, stop_mlflow_server


def postgres_bin() -> Path | None:
    """The folder of initdb and pg_ctl: on PATH, or Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent  # through a symlink to the version's own folder
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(versions[-1]).parent if versions else None


def as_postgres_user() -> list[str] | None:
    """initdb refuses to run as root: as root, the commands run as Debian's `postgres` user."""
    if os.geteuid() != 0:
        return []
    if shutil.which("runuser") and subprocess.run(["id", "postgres"], capture_output=True).returncode == 0:
        return ["runuser", "-u", "postgres", "--"]
    return None


needs_postgres = pytest.mark.skipif(
    postgres_bin() is None or as_postgres_user() is None,
    reason="no PostgreSQL server here (make test installs Debian's postgresql package where apt can)",
)


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A PostgreSQL server on 127.0.0.1 with databases mlflow and optuna; yields postgresql://cnnlab@127.0.0.1:PORT."""
    bin_dir, user = postgres_bin(), as_postgres_user()
    root = Path(tempfile.mkdtemp(prefix="cnnlab-postgres-"))  # not under pytest's tmp: its folders are root's only
    if user:
        shutil.chown(root, "postgres")
    data, port = root / "data", free_port()
    subprocess.run([*user, bin_dir / "initdb", "-D", data, "-U", "cnnlab", "--auth=trust", "-E", "UTF8", "-N"],
                   check=True, capture_output=True)  # fmt: skip
    options = f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off"
    subprocess.run([*user, bin_dir / "pg_ctl", "-D", data, "-l", root / "log", "-w", "-t", "60", "-o", options,
                    "start"], check=True, capture_output=True)  # fmt: skip
    try:
        for database in ("mlflow", "optuna"):
            subprocess.run([bin_dir / "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "cnnlab", database],
                           check=True, capture_output=True)  # fmt: skip
        yield f"postgresql://cnnlab@127.0.0.1:{port}"
    finally:
        subprocess.run([*user, bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def shared_server(postgres: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`cnnlab server` on the PostgreSQL database `mlflow`; yields (its URI, its artifacts folder)."""
    root = tmp_path_factory.mktemp("shared-server")
    port = free_port()
    command = [CNNLAB, "server", f"tracking.uri=http://127.0.0.1:{port}", "tracking.server.workers=1",
               f"tracking.server.backend_store_uri={postgres}/mlflow",
               f"tracking.server.artifacts_destination={root / 'artifacts'}"]  # fmt: skip
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # no GenAI job runner: faster start
    env.pop("MLFLOW_TRACKING_URI", None)
    with open(root / "server.log", "w") as log:
        server = subprocess.Popen(command, cwd=root, stdout=log, stderr=subprocess.STDOUT, env=env,
                                  start_new_session=True)  # fmt: skip
    healthy(server, port, root / "server.log")
    try:
        yield f"http://127.0.0.1:{port}", root / "artifacts"
    finally:
        stop_mlflow_server(server)


@needs_postgres
def test_two_sweep_processes_share_one_study_and_one_parent(postgres: str, shared_server, tmp_path: Path, capfd,
                                                            monkeypatch) -> None:
    """Each trial runs exactly once (whichever process asks for it), each in one FINISHED MLflow run nested under
    the study's single parent, with its artifacts on the server."""
    uri, artifacts = shared_server
    trials = 4
    command = [CNNLAB, "train", "-m", "sweep=optuna", "tracking=mlflow_postgres", f"tracking.uri={uri}",
               f"hydra.sweeper.storage={postgres}/optuna", f"hydra.sweeper.n_trials={trials}",
               "tracking.log_model=false", "tracking.system_metrics=false", *FAST,
               # each machine's first trial starts only once both have one: they surely overlap
               "+hydra.callbacks.meet._target_=tests.process_hooks.MeetPeers",
               f"+hydra.callbacks.meet.folder={tmp_path / 'started'}", "+hydra.callbacks.meet.peers=2"]  # fmt: skip
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    for name in ("machine-a", "machine-b"):  # each its own folder, as each machine has its own disk
        (tmp_path / name).mkdir()
    # machine b: a process of its own; machine a: this one (in-process: one start-up less to pay)
    other = subprocess.Popen(command, cwd=tmp_path / "machine-b", env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, preexec_fn=sigint_as_usual)  # fmt: skip
    monkeypatch.chdir(tmp_path / "machine-a")
    here = cli(capfd, *command[1:], store=uri)
    outputs = [here.stdout + here.stderr, other.communicate(timeout=400)[0]]
    assert [here.returncode, other.returncode] == [0, 0], "\n".join(o[-3000:] for o in outputs)

    study = optuna.load_study(study_name="classification-simple_cnn-digits", storage=f"{postgres}/optuna")
    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    others = [t for t in study.get_trials() if t.state != optuna.trial.TrialState.COMPLETE]
    assert sorted(t.number for t in complete) == list(range(trials))
    assert all(t.state == optuna.trial.TrialState.FAIL and t.user_attrs.get("cnnlab.surplus") for t in others)
    assert all(f"of {trials} trials to run" in output for output in outputs)

    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("classification").experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("cnnlab.sweep_parent") == "true"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(runs) == 1 + trials and len(children) == trials and parent.info.status == "FINISHED"
    assert all(c.info.status == "FINISHED" for c in children)
    by_trial = {int(c.data.tags["cnnlab.optuna_trial"]): c for c in children}
    assert {t.number: t.user_attrs["cnnlab.mlflow_run_id"] for t in complete} == {
        number: run.info.run_id for number, run in by_trial.items()
    }  # every trial's run, both ways
    for trial in complete:  # the run trained the trial's parameters and returned its value
        run = by_trial[trial.number]
        assert float(run.data.params["optimizer.lr"]) == pytest.approx(trial.params["optimizer.lr"])
        assert run.data.metrics["best/val/acc"] == pytest.approx(trial.value)
    machines = {Path(c.data.tags["cnnlab.run_dir"]).relative_to(tmp_path).parts[0] for c in children}
    assert machines == {"machine-a", "machine-b"}  # both asked for trials: they shared the study
    served = next(iter(by_trial.values()))
    assert served.info.artifact_uri.startswith("mlflow-artifacts:")
    assert list(artifacts.rglob(f"{served.info.run_id}/artifacts/config.yaml"))


def test_the_server_command_names_what_is_wrong_in_one_line(capfd) -> None:
    port = free_port()  # nothing listens there
    result = cli(capfd, "server", f"tracking.server.backend_store_uri=postgresql://cnnlab:pw@127.0.0.1:{port}/mlflow")
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "cannot reach the database postgresql://cnnlab:***@127.0.0.1" in result.stderr and "pw@" not in result.stderr
    for args, message in [
        (["tracking=mlflow"], "has no server settings; use tracking=mlflow_postgres"),
        (["tracking.uri=sqlite:///x.db"], "tracking.uri=sqlite:///x.db is not the server's http://HOST:PORT"),
        (["tracking.server.workers=0"], "tracking.server.workers=0 is not valid"),
        (["+tracking.server.port=80"], "tracking.server.port is not a server setting"),
    ]:
        result = cli(capfd, "server", *args)
        assert result.returncode == 1 and message in result.stderr, result.stderr


def open_study_storage(url: str) -> str:
    from hydra_plugins.cnnlab_optuna.sweeper import open_storage

    try:
        open_storage(url, 30, 120)
    except Exception as err:  # noqa: BLE001 - the name is the answer
        return type(err).__name__
    return "ok"


@needs_postgres
def test_machines_starting_together_on_a_new_study_database_all_open_it(postgres: str) -> None:
    """Optuna makes its tables on first use; four processes doing it at once on a new database raced (a duplicate
    alembic_version: 16 of 24 opens failed in 6 rounds by hand). Each must open the tables one of them made."""
    import multiprocessing

    port = postgres.rsplit(":", 1)[1]
    subprocess.run([postgres_bin() / "createdb", "-h", "127.0.0.1", "-p", port, "-U", "cnnlab", "fresh"], check=True)
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        assert pool.map(open_study_storage, [f"{postgres}/fresh"] * 4) == ["ok"] * 4
