"""The callbacks users switch on by name: `callbacks=[lr_monitor,early_stopping,ema]` picks conf/callbacks/*.yaml,
and `callbacks.NAME.KEY=VALUE` sets a keyword argument of the builder registered under NAME here. Each builder
returns Lightning's own callback (or a subclass that records what it found on the run)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import pytorch_lightning as pl
from annotated_types import Interval
from pytorch_lightning.callbacks import DeviceStatsMonitor, EarlyStopping, LearningRateMonitor

from cnnlab.callbacks.averaging import EMA, SWA
from cnnlab.callbacks.finders import RecordedBatchSizeFinder, RecordedLearningRateFinder
from cnnlab.errors import CnnlabError
from cnnlab.registry import Registry, check_settings
from cnnlab.setting_types import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt
from cnnlab.tracking.run import TrackedRun

Decay = Annotated[float, Interval(gt=0, lt=1)]


@dataclass(frozen=True)
class CallbackContext:
    """What builders take from the run rather than from their settings."""

    monitor: str  # the task's monitored metric and whether larger is better
    monitor_mode: str
    run: TrackedRun | None = None  # None while settings are only checked
    distributed: bool = False
    resuming: bool = False  # a resumed run keeps the batch size and learning rate it was trained with
    logged: bool = True  # this process logs to MLflow (DDP ranks other than 0 do not)


# Builders return None where their callback has nothing to do in this process (logging on a rank that does not log).
CALLBACKS: Registry[Callable[..., pl.Callback | None]] = Registry("callbacks")


@CALLBACKS.register("lr_monitor")
def lr_monitor(
    context: CallbackContext,
    *,
    logging_interval: Literal["step", "epoch"] | None = "step",
    log_momentum: bool = False,
    log_weight_decay: bool = False,
) -> pl.Callback | None:
    """The learning rate as train/lr, every log_every_n_steps steps (or per epoch)."""
    if not context.logged:
        return None
    return LearningRateMonitor(
        logging_interval=logging_interval, log_momentum=log_momentum, log_weight_decay=log_weight_decay
    )


@CALLBACKS.register("early_stopping")
def early_stopping(
    context: CallbackContext,
    *,
    monitor: str | None = None,
    mode: Literal["min", "max"] | None = None,
    patience: PositiveInt = 3,
    min_delta: NonNegativeFloat = 0.0,
    stopping_threshold: float | None = None,
    divergence_threshold: float | None = None,
    check_finite: bool = True,
    check_on_train_epoch_end: bool | None = None,
) -> pl.Callback:
    """Stops when `monitor` (default: task.monitor, in the task's mode) has not improved by more than min_delta
    for `patience` validation epochs."""
    return EarlyStopping(
        monitor=monitor or context.monitor, mode=mode or context.monitor_mode, patience=patience,
        min_delta=min_delta, stopping_threshold=stopping_threshold, divergence_threshold=divergence_threshold,
        check_finite=check_finite, check_on_train_epoch_end=check_on_train_epoch_end, verbose=False,
    )  # fmt: skip


@CALLBACKS.register("ema")
def ema(
    context: CallbackContext,
    *,
    decay: Decay = 0.999,
    update_every_n_steps: PositiveInt = 1,
    update_starting_at_step: NonNegativeInt | None = None,
    update_starting_at_epoch: NonNegativeInt | None = None,
) -> pl.Callback:
    """An exponential moving average of the weights, validated, checkpointed, tested and logged instead of them."""
    return EMA(
        decay=decay, update_every_n_steps=update_every_n_steps, update_starting_at_step=update_starting_at_step,
        update_starting_at_epoch=update_starting_at_epoch,
    )  # fmt: skip


@CALLBACKS.register("swa")
def swa(
    context: CallbackContext,
    *,
    swa_lrs: PositiveFloat = 1e-3,
    swa_epoch_start: Annotated[float, Interval(gt=0, lt=1)] | PositiveInt = 0.8,
    annealing_epochs: PositiveInt = 1,
    annealing_strategy: Literal["cos", "linear"] = "cos",
) -> pl.Callback:
    """Stochastic weight averaging (Izmailov et al. 2018) from swa_epoch_start (a share of the epochs, or an epoch
    counted from 1, as Lightning counts it) at the rate swa_lrs; the run is tested and logged with the averaged
    weights."""
    return SWA(
        swa_lrs=swa_lrs, swa_epoch_start=swa_epoch_start, annealing_epochs=annealing_epochs,
        annealing_strategy=annealing_strategy,
    )  # fmt: skip


@CALLBACKS.register("lr_finder")
def lr_finder(
    context: CallbackContext,
    *,
    min_lr: PositiveFloat = 1e-6,
    max_lr: PositiveFloat = 1.0,
    num_training_steps: PositiveInt = 100,
    mode: Literal["exponential", "linear"] = "exponential",
    early_stop_threshold: PositiveFloat | None = 4.0,
    update_attr: bool = True,
) -> pl.Callback:
    """Lightning's learning-rate range test before training; update_attr: train with its suggestion."""
    return RecordedLearningRateFinder(
        context.run, context.resuming, min_lr=min_lr, max_lr=max_lr, num_training_steps=num_training_steps, mode=mode,
        early_stop_threshold=early_stop_threshold, update_attr=update_attr,
    )  # fmt: skip


@CALLBACKS.register("batch_size_finder")
def batch_size_finder(
    context: CallbackContext,
    *,
    mode: Literal["power", "binsearch"] = "power",
    steps_per_trial: PositiveInt = 3,
    init_val: PositiveInt = 2,
    max_trials: PositiveInt = 25,
    max_val: PositiveInt = 8192,
) -> pl.Callback:
    """The largest data.batch_size that fits in memory, found before training (one device only)."""
    if context.distributed:
        raise CnnlabError("callbacks.batch_size_finder works on one device; find the size on one, then set "
                          "data.batch_size for the distributed run")  # fmt: skip
    return RecordedBatchSizeFinder(
        context.run, context.resuming, mode=mode, steps_per_trial=steps_per_trial, init_val=init_val,
        max_trials=max_trials, max_val=max_val,
    )  # fmt: skip


@CALLBACKS.register("device_stats")
def device_stats(context: CallbackContext, *, cpu_stats: bool | None = None) -> pl.Callback | None:
    """The accelerator's own statistics (GPU memory and utilisation; CPU and RAM with cpu_stats) per step."""
    return DeviceStatsMonitor(cpu_stats=cpu_stats) if context.logged else None


# Finders run before training in this order whatever order they are picked in: the best rate depends on the batch
# size, not the other way round.
FIRST = ("batch_size_finder", "lr_finder")


def build_callbacks(settings: Mapping[str, Mapping[str, Any] | None], context: CallbackContext) -> list[pl.Callback]:
    """One callback per entry of the config's callbacks mapping (name -> its settings)."""
    built = []
    for name, options in sorted(settings.items(), key=lambda item: FIRST.index(item[0]) if item[0] in FIRST else 9):
        builder = CALLBACKS.get(name)
        kwargs = check_settings(builder, dict(options or {}), f"callbacks.{name}", provided=("context",))
        built.append(builder(context, **kwargs))
    return [callback for callback in built if callback is not None]


def check_callbacks(settings: Mapping[str, Any] | None, monitor: str, monitor_mode: str, distributed: bool) -> None:
    """Builds each callback from its settings (nothing runs) so a wrong name or value fails before a run exists."""
    if settings is not None and not isinstance(settings, Mapping):
        raise CnnlabError(f"callbacks={settings} is not valid; pick callbacks by name, e.g. callbacks=[lr_monitor,ema]")
    build_callbacks(settings or {}, CallbackContext(monitor, monitor_mode, distributed=distributed))


def early_stop_note(trainer: pl.Trainer) -> str | None:
    """What an early_stopping callback did, when it stopped the run before trainer.max_epochs (Lightning's reason)."""
    for callback in trainer.callbacks:
        if isinstance(callback, EarlyStopping) and callback.stopped_epoch > 0:
            reason = " ".join((callback.stopping_reason_message or "").split())
            return f"cnnlab: early stopping after epoch {callback.stopped_epoch + 1} of {trainer.max_epochs}: {reason}"
    return None
