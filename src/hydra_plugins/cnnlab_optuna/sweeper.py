"""A Hydra sweeper on Optuna >= 4 whose studies resume.

hydra-optuna-sweeper pins optuna < 3, whose sqlite storage fails with SQLAlchemy 2 (which MLflow 3 needs), and it
always runs n_trials more trials. Here n_trials is the study's total: rerunning an interrupted sweep with the same
storage and study name runs only the trials still missing; trials the interruption left RUNNING are marked FAIL.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.plugins import Plugins
from hydra.core.utils import JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)
DIRECTIONS = {"max": "maximize", "min": "minimize"}


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
    ) -> None:
        """direction: maximize | minimize, None: from task.monitor_mode. params: {key: sweep override} searched
        besides any sweep given on the command line. n_jobs: trials launched at once (one launcher batch)."""
        self.sampler = sampler  # Hydra has instantiated it already (its config has a _target_)
        self.direction = direction
        self.storage = storage
        self.study_name = study_name
        self.n_trials = n_trials
        self.n_jobs = n_jobs
        self.params = OmegaConf.to_container(params) if params else {}
        self.job_idx = 0

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )
        self.direction = self.direction or DIRECTIONS[config.task.monitor_mode]

    def sweep(self, arguments: list[str]) -> list[Any]:
        import optuna  # here: Hydra imports every plugin module to list them, also for `cnnlab train --help`

        from hydra_plugins.cnnlab_optuna.search_space import split_arguments

        configured = [f"{key}={value}" for key, value in self.params.items()]
        space, fixed = split_arguments(configured + list(arguments))
        study = self._study()
        remaining = self.n_trials - _settle(study)
        log.info("Optuna study %s in %s: %d of %d trials to run", study.study_name, self.storage, remaining,
                 self.n_trials)  # fmt: skip
        returns = []
        while remaining > 0:
            trials = [study.ask(space) for _ in range(min(self.n_jobs, remaining))]
            batch = [(*fixed, *(f"{key}={trial.params[key]}" for key in space)) for trial in trials]
            results = self.launcher.launch(batch, initial_job_idx=self.job_idx)
            self.job_idx += len(results)
            for trial, result in zip(trials, results, strict=True):
                value = _objective(result)
                if math.isfinite(value):
                    study.tell(trial, value)
                else:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
            returns.append(results)
            remaining -= len(trials)
        self._report(study)
        return returns

    def _study(self) -> optuna.Study:
        import optuna

        if self.storage and self.storage.startswith("sqlite:///"):
            Path(self.storage.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return optuna.create_study(
            study_name=self.study_name,
            storage=self.storage,
            sampler=self.sampler,
            direction=self.direction,
            load_if_exists=True,
        )

    def _report(self, study: optuna.Study) -> None:
        import optuna

        completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if completed:
            best = study.best_trial
            log.info("Best trial %d: %s = %s with %s", best.number, self.config.task.monitor, best.value, best.params)


def _settle(study: optuna.Study) -> int:
    """Marks trials an interruption left RUNNING as FAIL; returns how many trials completed."""
    import optuna

    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study._storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
    return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))


def _objective(result: Any) -> float:
    """The job's returned metric; NaN for a failed job (its MLflow run is FAILED already)."""
    if result.status != JobStatus.COMPLETED:
        return math.nan
    try:
        return float(result.return_value)
    except (TypeError, ValueError):
        return math.nan
