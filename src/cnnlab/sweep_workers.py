"""The asynchronous Optuna sweeper's worker processes (joblib's loky executor): how one starts, runs a trial's
job, and stops when the sweeper is interrupted. Here, not beside the sweeper in hydra_plugins: Hydra re-executes
every module there when a job looks up its plugins, which would reset a worker's state.

Ctrl-C is the sweeper's alone (workers ignore SIGINT: a terminal sends it to every process of the group, and a
worker hit while importing would print a traceback or half-import MLflow). When the sweeper stops, on Ctrl-C or
SIGTERM, it releases the shared stop semaphore (and when it dies, kill -9, the workers see their parent gone); each
worker then stops its running job as SIGTERM stops `cnnlab train`: Lightning ends fit at the next step, a
checkpoint is saved and the run is marked KILLED, never left RUNNING; a queued job does not start."""

from __future__ import annotations

import gc
import os
import signal
import threading
import time
from typing import Any

from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

_job_running = threading.Event()
_stopping = threading.Event()
PARENT_CHECK_S = 0.5


def start_worker(stop: Any) -> None:
    """A worker's start, before its first trial: signals as above, the training code imported once, and everything
    it made kept out of the garbage collector's scans (loky collects after a worker's first job, to measure its
    memory, and a full collection over torch, Lightning and MLflow's objects takes about half a second)."""
    from cnnlab.console import quiet_third_party
    from cnnlab.signals import install_stop_handlers

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    install_stop_handlers()  # SIGTERM: the job's run ends KILLED
    quiet_third_party()  # a worker process starts bare
    import cnnlab.dispatch  # noqa: F401 - what every trial runs

    gc.freeze()
    threading.Thread(target=_stop_job_when_asked, args=(stop, os.getppid()), name="sweep-stop", daemon=True).start()


def run_composed_job(
    environment: dict[str, str], job: DictConfig, hydra_context: HydraContext, task_function: TaskFunction,
    singleton_state: dict[Any, Any],
) -> Any:  # fmt: skip
    """One Hydra job, as Hydra's launchers run one, with the trial's environment; None when the sweep is stopping."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.singleton import Singleton
    from hydra.core.utils import run_job, setup_globals

    _job_running.set()  # before looking at the stop event: a stop between the two is seen by one or the other
    try:
        if _stopping.is_set():
            return None
        setup_globals()
        Singleton.set_state(singleton_state)
        HydraConfig.instance().set_config(job)
        os.environ.update(environment)
        try:
            return run_job(hydra_context=hydra_context, task_function=task_function, config=job,
                           job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir")  # fmt: skip
        except (KeyboardInterrupt, SystemExit):
            if _stopping.is_set():  # stopped as asked: its run is KILLED, and the sweeper wants no result
                return None
            raise
        finally:
            for key in environment:
                os.environ.pop(key, None)
    finally:
        _job_running.clear()


def _stop_job_when_asked(stop: Any, sweeper_pid: int) -> None:
    """Waits for the sweeper's stop (a semaphore it releases once per worker), or for the sweeper to die (kill -9:
    this worker is then some other process's child), and stops the running job."""
    from cnnlab.signals import stop_received

    while not stop.acquire(timeout=PARENT_CHECK_S) and os.getppid() == sweeper_pid:
        pass
    _stopping.set()
    if _job_running.is_set() and not stop_received():  # SLURM may have sent SIGTERM to every process already
        os.kill(os.getpid(), signal.SIGTERM)
    if os.getppid() != sweeper_pid:  # nobody will send this worker another job, or shut it down
        while _job_running.is_set():
            time.sleep(PARENT_CHECK_S)
        os._exit(1)
