"""A Hydra sweeper on Optuna >= 4 whose studies resume, whose workers never wait for each other, and which prunes.

hydra-optuna-sweeper pins optuna < 3, whose sqlite storage fails with SQLAlchemy 2 (which MLflow 3 needs), always
runs n_trials more trials, and launches trials in batches of n_jobs that wait for their slowest trial. Here:
- n_trials is the study's total: rerunning an interrupted sweep (or running the same sweep command on several
  machines against one storage) runs only the trials still missing;
- with n_jobs > 1, n_jobs worker processes and one trial queued ahead: a worker whose trial ends takes the next
  one at once (configs composed by the sweeper meanwhile, the workers' imports kept out of garbage collection);
- `pruner` (median | hyperband | none) stops a trial whose per-epoch validation metric trails the study's
  (cnnlab.callbacks.pruning reports it from inside the job);
- while a trial runs its heartbeat goes to the storage; trials whose sweeper died (no heartbeat for grace_period
  seconds) are failed through Optuna's public fail_stale_trials, and trials this process was running when it was
  interrupted are failed at once.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.plugins import Plugins
from hydra.core.utils import JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

from cnnlab.errors import CnnlabError

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)
DIRECTIONS = {"max": "maximize", "min": "minimize"}
LOCAL_LAUNCHERS = ("BasicLauncher", "JoblibLauncher")  # others (SLURM) get batches through the launcher
STOP_GRACE_S = 60  # for interrupted jobs to end their runs, then the workers are killed
SURPLUS_ATTR = "cnnlab.surplus"  # a trial asked after another worker had asked the study's last one: not run


class OptunaSweeper(Sweeper):
    def __init__(
        self,
        sampler: Any,
        direction: str | None,
        storage: str | None,
        study_name: str,
        n_trials: int,
        n_jobs: int,
        params: DictConfig | None = None,
        pruner: str = "none",
        pruner_startup_trials: int = 4,
        pruner_warmup_epochs: int = 1,
        asynchronous: bool = True,
        heartbeat_interval: int = 30,
        grace_period: int = 120,
    ) -> None:
        """direction: maximize | minimize, None: from task.monitor_mode. params: {key: sweep override} searched
        besides any sweep given on the command line. n_jobs: trials running at once."""
        with one_line_errors():
            check_settings(direction, study_name, n_trials, n_jobs, pruner)
        self.sampler = sampler  # Hydra has instantiated it already (its config has a _target_)
        self.direction = direction
        self.storage_url = storage
        self.study_name = study_name
        self.n_trials = n_trials
        self.n_jobs = n_jobs
        self.params = OmegaConf.to_container(params) if params else {}
        self.pruning = {"pruner": pruner, "startup_trials": pruner_startup_trials,
                        "warmup_epochs": pruner_warmup_epochs}  # fmt: skip
        self.asynchronous = asynchronous
        self.heartbeat = (heartbeat_interval, grace_period)
        self.job_idx = 0

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )
        self.direction = self.direction or DIRECTIONS[config.task.monitor_mode]

    def sweep(self, arguments: list[str]) -> list[Any]:
        with one_line_errors():
            return self._sweep(arguments)

    def _sweep(self, arguments: list[str]) -> list[Any]:
        import optuna

        from hydra_plugins.cnnlab_optuna.search_space import split_arguments

        configured = [f"{key}={value}" for key, value in self.params.items()]
        space, fixed = split_arguments(configured + list(arguments))
        study, storage = self._study()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)  # trials of a sweeper that died: FAIL, asked again
        if study.get_trials(deepcopy=False):  # a resumed (or shared) study: a seeded sampler would repeat its
            study.sampler.reseed_rng()  # first process's draws, and rerun trials already run
        log.info("Optuna study %s in %s: %d of %d trials to run", study.study_name, self.storage_url,
                 max(0, self.n_trials - len(_counted(study))), self.n_trials)  # fmt: skip
        runner = self._runner(space, fixed, study, storage)
        results = runner.run()
        self._report(study)
        return [results]

    def _study(self) -> tuple[optuna.Study, Any]:
        import optuna

        storage: Any = self.storage_url
        if self.storage_url:
            interval, grace = self.heartbeat
            storage = open_storage(self.storage_url, interval, grace)
        from cnnlab.callbacks.pruning import make_pruner

        study = optuna.create_study(
            study_name=self.study_name, storage=storage, sampler=self.sampler, direction=self.direction,
            pruner=make_pruner(self.pruning["pruner"], self.pruning["startup_trials"], self.pruning["warmup_epochs"]),
            load_if_exists=True,
        )  # fmt: skip
        return study, storage

    def _runner(self, space: dict, fixed: list[str], study: optuna.Study, storage: Any) -> TrialRunner:
        local = type(self.launcher).__name__ in LOCAL_LAUNCHERS
        if self.n_jobs > 1 and self.asynchronous and not local:
            log.info("%s launches batches of %d trials; hydra.sweeper.asynchronous needs a local launcher",
                     type(self.launcher).__name__, self.n_jobs)  # fmt: skip
        if self.n_jobs > 1 and self.asynchronous and local:
            return WorkerPool(self, space, fixed, study, storage)
        return TrialRunner(self, space, fixed, study, storage)

    def _report(self, study: optuna.Study) -> None:
        import optuna

        states = [t.state for t in study.get_trials(deepcopy=False)]
        pruned = states.count(optuna.trial.TrialState.PRUNED)
        complete = states.count(optuna.trial.TrialState.COMPLETE)
        log.info("Study %s: %d complete, %d pruned of %d", study.study_name, complete, pruned, self.n_trials)
        if running := states.count(optuna.trial.TrialState.RUNNING):
            log.warning("%d trial(s) of the study are still RUNNING in another process, or in one that died (failed "
                        "after hydra.sweeper.grace_period=%ds without a heartbeat): the same command again completes "
                        "the study", running, self.heartbeat[1])  # fmt: skip
        if complete:
            best = study.best_trial
            log.info("Best trial %d: %s = %s with %s", best.number, self.config.task.monitor, best.value, best.params)


class TrialRunner:
    """Trials one batch of n_jobs at a time through the configured launcher (n_jobs = 1: one after another)."""

    def __init__(self, sweeper: OptunaSweeper, space: dict, fixed: list[str], study: optuna.Study, storage) -> None:
        self.sweeper = sweeper
        self.space = space
        self.fixed = fixed
        self.study = study
        self.storage = storage
        self.running: dict[int, optuna.trial.Trial] = {}  # trial number -> trial, while its job runs
        self.failures = 0  # trials this sweep told FAIL
        self.lock = threading.Lock()

    def run(self) -> list[Any]:
        results = []
        with self.heartbeats():
            while trials := [t for _ in range(self.sweeper.n_jobs) if (t := self.ask()) is not None]:
                batch = [self.overrides(trial) for trial in trials]
                with self.trial_environment(trials[0]) if len(trials) == 1 else _nothing():
                    returns = self.sweeper.launcher.launch(batch, initial_job_idx=self.next_index(len(trials)))
                for trial, result in zip(trials, returns, strict=True):
                    self.tell(trial, result)
                results += returns
        return results

    def ask(self) -> optuna.trial.Trial | None:
        """The study's next trial, None once the study has n_trials complete, pruned or running ones (asked
        by any process)."""
        import optuna

        if len(_counted(self.study)) >= self.sweeper.n_trials:
            return None
        if self.failures >= self.sweeper.n_trials:  # every trial failing (a bad setting): no end otherwise
            log.error("stopping: %d trials of this sweep failed; see their runs' cnnlab.error", self.failures)
            return None
        with warnings.catch_warnings():  # the heartbeat is sent by this sweeper, not by Study.optimize
            warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
            trial = self.study.ask(self.space)
        earlier = [t for t in _counted(self.study) if t.number < trial.number]
        if len(earlier) >= self.sweeper.n_trials:  # another worker asked the last trial at the same moment
            trial.set_user_attr(SURPLUS_ATTR, True)
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return None
        with self.lock:
            self.running[trial.number] = trial
        return trial

    def tell(self, trial: optuna.trial.Trial, result: Any) -> None:
        """The job's monitored value; PRUNED when the job's pruning stopped it; FAIL for a failed job."""
        import optuna

        from cnnlab.callbacks.pruning import PRUNED_ATTR

        with self.lock:
            self.running.pop(trial.number, None)
        frozen = self.study.get_trials(deepcopy=False)[trial.number]
        value = _objective(result)
        if PRUNED_ATTR in frozen.user_attrs:
            self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        elif math.isfinite(value):
            self.study.tell(trial, value)
        else:
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            self.failures += 1

    def overrides(self, trial: optuna.trial.Trial) -> list[str]:
        return [*self.fixed, *(f"{key}={trial.params[key]}" for key in self.space)]

    def next_index(self, count: int) -> int:
        index = self.sweeper.job_idx
        self.sweeper.job_idx += count
        return index

    def trial_settings(self, trial: optuna.trial.Trial) -> dict[str, str]:
        """What the job needs to report to its trial (cnnlab.callbacks.pruning), as its environment."""
        from cnnlab.callbacks.pruning import TRIAL_ENV

        if self.sweeper.storage_url is None:  # an in-memory study cannot be reached from the job
            return {}
        study_id = self.storage.get_study_id_from_name(self.study.study_name)
        trial_id = self.storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        settings = {"storage": self.sweeper.storage_url, "study": self.study.study_name, "trial_id": trial_id,
                    "trial_number": trial.number, **self.sweeper.pruning}  # fmt: skip
        return {TRIAL_ENV: json.dumps(settings)}

    @contextmanager
    def trial_environment(self, trial: optuna.trial.Trial) -> Iterator[None]:
        settings = self.trial_settings(trial)
        os.environ.update(settings)
        try:
            yield
        finally:
            for key in settings:
                os.environ.pop(key, None)

    @contextmanager
    def heartbeats(self) -> Iterator[None]:
        """A heartbeat for every running trial each heartbeat_interval; on leaving (an interruption included) the
        trials still running are failed, so a rerun asks for them again at once."""
        import optuna

        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.sweeper.heartbeat[0]):
                with self.lock:
                    numbers = list(self.running)
                for number in numbers:
                    self.storage.record_heartbeat(self._trial_id(number))

        thread = None
        if self.sweeper.storage_url:
            thread = threading.Thread(target=beat, name="optuna-heartbeat", daemon=True)
            thread.start()
        try:
            yield
        finally:
            stop.set()
            with self.lock:
                left = list(self.running.values())
                self.running.clear()
            for trial in left:
                try:
                    self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
                except Exception as err:  # noqa: BLE001 - the store may be the reason we stopped
                    log.warning("could not mark trial %d failed: %s", trial.number, err)

    def _trial_id(self, number: int) -> int:
        study_id = self.storage.get_study_id_from_name(self.study.study_name)
        return self.storage.get_trial_id_from_study_id_trial_number(study_id, number)


class WorkerPool(TrialRunner):
    """n_jobs worker processes (joblib's loky executor) and one trial queued ahead: a worker that finishes takes the
    queued trial at once, while the sweeper tells the study, asks for the next trial and composes its config. No
    batch waits for its slowest trial, and no worker waits for the sweeper. The queued trial is asked one trial
    earlier than strictly needed (its sampler has one result fewer to learn from)."""

    QUEUED_AHEAD = 1

    def run(self) -> list[Any]:
        from hydra.core.singleton import Singleton
        from hydra.core.utils import configure_log, setup_globals
        from joblib.externals.loky import ProcessPoolExecutor
        from joblib.externals.loky.backend import get_context

        from cnnlab.sweep_workers import run_composed_job, start_worker

        setup_globals()
        config = self.sweeper.config
        configure_log(config.hydra.hydra_logging, config.hydra.verbose)
        Path(str(config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        shared = (self.sweeper.hydra_context, self.sweeper.task_function, Singleton.get_state())
        results = []
        pending: dict[Future, optuna.trial.Trial] = {}
        stop = get_context("loky").Semaphore(0)
        executor = ProcessPoolExecutor(max_workers=self.sweeper.n_jobs, initializer=start_worker, initargs=(stop,))
        try:
            with self.heartbeats():
                try:
                    while True:
                        while len(pending) < self.sweeper.n_jobs + self.QUEUED_AHEAD and (trial := self.ask()):
                            job = (self.trial_settings(trial), self.job_config(trial), *shared)
                            pending[executor.submit(run_composed_job, *job)] = trial
                        if not pending:
                            break
                        done, _ = wait(pending, return_when=FIRST_COMPLETED)
                        for future in done:
                            result = future.result()
                            self.tell(pending.pop(future), result)
                            results.append(result)
                except BaseException:  # Ctrl-C, SIGTERM: the running jobs end their runs before the workers go
                    stop_workers(stop, pending, self.sweeper.n_jobs)
                    raise
        finally:
            executor.shutdown(wait=False, kill_workers=bool(pending))
        return results

    def job_config(self, trial: optuna.trial.Trial) -> DictConfig:
        """The trial's job config, composed here (as Hydra's basic launcher does) rather than in the worker."""
        index = self.next_index(1)
        job = self.sweeper.hydra_context.config_loader.load_sweep_config(self.sweeper.config, self.overrides(trial))
        with open_dict(job):
            job.hydra.job.id = f"{job.hydra.job.name}_{index}"  # as the joblib launcher names its jobs
            job.hydra.job.num = index
        return job


def check_settings(direction: str | None, study_name: str, n_trials: Any, n_jobs: Any, pruner: str) -> None:
    from cnnlab.callbacks.pruning import PRUNERS

    if direction not in (None, *DIRECTIONS.values()):
        raise CnnlabError(f"hydra.sweeper.direction={direction} is not an option; use maximize or minimize (or leave "
                          "it out: task.monitor_mode decides)")  # fmt: skip
    for key, value in (("n_trials", n_trials), ("n_jobs", n_jobs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise CnnlabError(f"hydra.sweeper.{key}={value} is not valid; give a whole number, at least 1")
    if not str(study_name).strip():
        raise CnnlabError("hydra.sweeper.study_name is empty; name the study (default: <task>-<backbone>-<data>)")
    if pruner not in PRUNERS:
        raise CnnlabError(f"hydra.sweeper.pruner={pruner} is not an option; valid choices: {', '.join(PRUNERS)}")


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Hydra prints a sweeper's exception with its traceback, or wraps it in its instantiation message: a setting
    the user got wrong is one line instead."""
    from cnnlab.errors import user_message

    try:
        yield
    except CnnlabError as err:
        print(f"cnnlab: error: {user_message(err)}", file=sys.stderr)
        raise SystemExit(1) from None


def stop_workers(stop: Any, pending: dict[Future, Any], workers: int) -> None:
    """Asks every worker to stop its job (cnnlab.sweep_workers) and waits up to STOP_GRACE_S for the jobs to mark
    their runs KILLED and save their checkpoints; a second Ctrl-C stops waiting."""
    for _ in range(workers):
        stop.release()  # never blocks, unlike an Event's set() with a waiter that died
    for future in pending:
        future.cancel()  # a trial still queued never starts
    running = [future for future in pending if not future.done()]
    if running:
        log.info("stopping %d running trial(s): each run ends KILLED with a checkpoint", len(running))
        wait(running, timeout=STOP_GRACE_S)


def open_storage(url: str, heartbeat_interval: int, grace_period: int, attempts: int = 6) -> Any:
    """Optuna's RDBStorage makes its tables on first use. Machines that start one sweep together on a new database
    race to make them (PostgreSQL: a duplicate `alembic_version` type); the ones that lose open what the winner
    made, after a pause."""
    import optuna
    from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError, ProgrammingError

    setting = f"hydra.sweeper.storage={url}"
    try:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CnnlabError(f"{setting}: cannot make its folder ({err.strerror}); give a path you can write to") from None
    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, heartbeat_interval=heartbeat_interval,
                                                  grace_period=grace_period)  # fmt: skip
        except ArgumentError:
            raise CnnlabError(f"{setting} is not a database URL; e.g. sqlite:///outputs/optuna/studies.db or "
                              "postgresql://USER@HOST:5432/DB") from None  # fmt: skip
        except OperationalError as err:
            reason = " ".join(str(err.orig or err).split())[:200]
            raise CnnlabError(f"{setting}: cannot open the database ({reason}); check the path or server") from None
        except (IntegrityError, ProgrammingError) as err:
            if attempt == attempts - 1:
                raise
            log.info("the study's tables are being made by another process (%s); trying again", type(err).__name__)
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _counted(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Trials that count towards n_trials: complete, pruned, or running now."""
    import optuna

    states = optuna.trial.TrialState
    return study.get_trials(deepcopy=False, states=(states.COMPLETE, states.PRUNED, states.RUNNING, states.WAITING))


def _objective(result: Any) -> float:
    """The job's returned metric; NaN for a failed job (its MLflow run is FAILED already)."""
    if result.status != JobStatus.COMPLETED:
        return math.nan
    try:
        return float(result.return_value)
    except (TypeError, ValueError):
        return math.nan
