"""Pruning for cnnlab's Optuna sweeper: a job of a sweep reports its monitored validation metric after every epoch
to the study's trial it runs, and stops training when the study's pruner says the trial is losing. The run then
tests its best checkpoint and ends FINISHED, tagged cnnlab.pruned=<epoch>: a pruned trial is not a failure.

The sweeper names the trial in the job's environment (TRIAL_ENV); the trial lives in the study's storage, which
the job opens itself (it may run in another process or on another machine).
"""

from __future__ import annotations

import json
import os
import warnings
from typing import TYPE_CHECKING, Any

import pytorch_lightning as pl

if TYPE_CHECKING:
    import optuna

    from cnnlab.tracking.run import TrackedRun

TRIAL_ENV = "CNNLAB_OPTUNA_TRIAL"  # JSON: storage, study, trial_id, pruner settings
TRIAL_TAG = "cnnlab.optuna_trial"  # on a trial's MLflow run: the trial's number in its study
RUN_ATTR = "cnnlab.mlflow_run_id"  # the trial's user attribute: the MLflow run that trained it
PRUNED_ATTR = "cnnlab.pruned_epoch"  # the trial's user attribute: the epoch after which it was pruned
PRUNED_TAG = "cnnlab.pruned"  # the run's tag: the same epoch
PRUNERS = ("median", "hyperband", "none")


def make_pruner(name: str, startup_trials: int, warmup_epochs: int) -> optuna.pruners.BasePruner:
    """Optuna's own pruners: median (stop a trial below the median of earlier trials at the same epoch), hyperband
    (successive halving over brackets of epochs), none."""
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=warmup_epochs)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(1, warmup_epochs))
    return optuna.pruners.NopPruner()


def trial_tags() -> dict[str, str]:
    """The run's tag naming its trial, when this job runs a trial of an Optuna sweep."""
    reference = os.environ.get(TRIAL_ENV)
    return {TRIAL_TAG: str(json.loads(reference)["trial_number"])} if reference else {}


def link_trial(run_id: str) -> None:
    """The trial remembers its run (user attribute RUN_ATTR), so a study read later leads to each trial's run."""
    reference = os.environ.get(TRIAL_ENV)
    if reference:
        open_trial(json.loads(reference)).set_user_attr(RUN_ATTR, run_id)


def trial_pruning(monitor: str, run: TrackedRun) -> list[pl.Callback]:
    """The pruning callback when this job runs a trial of a pruned study, else none."""
    reference = os.environ.get(TRIAL_ENV)
    if not reference:
        return []
    settings = json.loads(reference)
    if settings["pruner"] == "none":
        return []
    return [TrialPruning(settings, monitor, run)]


def open_trial(settings: dict[str, Any]) -> optuna.trial.Trial:
    import optuna

    pruner = make_pruner(settings["pruner"], settings["startup_trials"], settings["warmup_epochs"])
    study = optuna.load_study(study_name=settings["study"], storage=settings["storage"], pruner=pruner)
    with warnings.catch_warnings():  # Trial(study, id) is how a trial asked in another process is resumed
        warnings.simplefilter("ignore")
        return optuna.trial.Trial(study, settings["trial_id"])


class TrialPruning(pl.Callback):
    def __init__(self, settings: dict[str, Any], monitor: str, run: TrackedRun) -> None:
        self.settings = settings
        self.monitor = monitor
        self.run = run
        self.trial: optuna.trial.Trial | None = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        prune = False
        if trainer.is_global_zero and self.monitor in trainer.callback_metrics:
            self.trial = self.trial or open_trial(self.settings)
            epoch = trainer.current_epoch
            self.trial.report(float(trainer.callback_metrics[self.monitor]), epoch)
            prune = self.trial.should_prune() and epoch + 1 < (trainer.max_epochs or 0)
            if prune:
                self.trial.set_user_attr(PRUNED_ATTR, epoch)
                self.run.set_tags({PRUNED_TAG: str(epoch)})
                print(f"cnnlab: trial {self.trial.number} pruned after epoch {epoch} ({self.monitor} behind the study)")
        if trainer.strategy.broadcast(prune, src=0):  # every DDP rank stops together
            trainer.should_stop = True
