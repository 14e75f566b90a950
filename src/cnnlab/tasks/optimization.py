"""Optimizers (any torch.optim class, by its lower-case name) and learning-rate schedules (torch's schedulers, a
linear warm-up in front of any) from plain config mappings."""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

import torch
from annotated_types import Interval
from torch.optim.lr_scheduler import LinearLR

from cnnlab.errors import CnnlabError, pick
from cnnlab.registry import check_settings
from cnnlab.setting_types import NonNegativeFloat
from cnnlab.tasks.schedules import LR_KEY, SCHEDULERS

# Optimizers that cannot train a network's dense parameters as Lightning steps them.
UNSUITABLE = {"sparseadam": "it takes sparse gradients only (nn.Embedding(sparse=True))"}


def torch_optimizers() -> dict[str, type[torch.optim.Optimizer]]:
    """Every optimizer class torch.optim exports, by lower-case name (sgd, adam, adamw, adadelta, rmsprop, ...)."""
    found = {
        name.lower(): cls
        for name, cls in vars(torch.optim).items()
        if inspect.isclass(cls) and issubclass(cls, torch.optim.Optimizer) and cls is not torch.optim.Optimizer
    }
    return dict(sorted(found.items()))


OPTIMIZERS = torch_optimizers()


def optimizer_class(name: str) -> type[torch.optim.Optimizer]:
    key = str(name).lower()
    if key in UNSUITABLE:
        raise CnnlabError(f"optimizer.name={name} cannot train this network: {UNSUITABLE[key]}")
    if key not in OPTIMIZERS:
        raise CnnlabError(f"optimizer.name={name} is not a torch.optim optimizer; use one of: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[key]


def build_optimizer(parameters: Iterable[torch.nn.Parameter], settings: Mapping[str, Any]) -> torch.optim.Optimizer:
    cls = optimizer_class(settings["name"])
    kwargs = check_settings(cls, dict(settings), "optimizer", provided=("params",))
    if "lr" in settings and not settings["lr"] > 0:
        raise CnnlabError(f"optimizer.lr={settings['lr']} must be positive")
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    try:
        return cls(parameters, **kwargs)
    except (ValueError, TypeError) as err:  # torch's own range checks (momentum, weight_decay, betas, ...)
        raise CnnlabError(f"optimizer={settings['name']}: {err}; fix the optimizer.* setting it names") from err


def check_optimization(optimizer: Mapping[str, Any], scheduler: Mapping[str, Any]) -> None:
    """Builds both on a dummy parameter so a bad setting fails before a run starts."""
    built = build_optimizer([torch.nn.Parameter(torch.zeros(1))], optimizer)
    build_scheduler(built, scheduler, max_epochs=1, steps_per_epoch=1, monitor="val/loss", monitor_mode="min")


def warmup(
    optimizer: torch.optim.Optimizer, *, steps: int, warmup_epochs: NonNegativeFloat = 0,
    warmup_start_factor: Annotated[float, Interval(gt=0, le=1)] | None = None,
) -> LinearLR | None:
    """A linear warm-up over warmup_epochs (fractions allowed) of `steps` steps, or None. It starts at
    warmup_start_factor x lr; by default at lr / steps, rising by as much each step so that its last step trains
    at lr (the classic (step + 1) / warm-up ramp)."""
    if not warmup_epochs or steps == 0:
        return None
    if warmup_start_factor is None:
        return LinearLR(optimizer, start_factor=1 / steps, end_factor=1.0, total_iters=max(1, steps - 1))
    return LinearLR(optimizer, start_factor=warmup_start_factor, end_factor=1.0, total_iters=steps)


WARMUP_KEYS = ("warmup_epochs", "warmup_start_factor")


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    settings: Mapping[str, Any],
    *,
    max_epochs: int,
    steps_per_epoch: int,
    monitor: str,
    monitor_mode: str,
) -> list[dict[str, Any]]:
    """Lightning lr_scheduler configs, each named train/lr (what the lr_monitor callback logs): the schedule, with a
    linear warm-up in front when scheduler.warmup_epochs > 0. Step-wise schedules start after the warm-up (torch's
    SequentialLR); ReduceLROnPlateau, stepped on a metric each epoch, scales the warmed-up rate."""
    name = settings["name"]
    builder = pick("scheduler", name, SCHEDULERS)
    warmup_settings = {k: v for k, v in settings.items() if k in WARMUP_KEYS}
    options = check_settings(
        builder,
        {k: v for k, v in settings.items() if k not in WARMUP_KEYS},
        "scheduler",
        provided=("optimizer", "max_epochs", "steps_per_epoch", "monitor", "monitor_mode", "warmup_steps"),
    )
    check_settings(warmup, {"name": name, **warmup_settings}, "scheduler", provided=("optimizer", "steps"))
    if name == "onecycle" and warmup_settings.get("warmup_epochs"):
        raise CnnlabError(
            f"scheduler=onecycle warms up by itself (for scheduler.pct_start of the steps); drop "
            f"scheduler.warmup_epochs={warmup_settings['warmup_epochs']} or pick another scheduler"
        )
    warmup_steps = round(warmup_settings.get("warmup_epochs", 0) * steps_per_epoch)
    ramp = warmup(optimizer, steps=warmup_steps, **warmup_settings)
    context = {"max_epochs": max_epochs, "steps_per_epoch": steps_per_epoch, "warmup_steps": warmup_steps}
    if "monitor" in inspect.signature(builder).parameters:  # stepped on a metric: plateau
        config = builder(optimizer, monitor=monitor, monitor_mode=monitor_mode, **context, **options)
        return [*([_step_config(ramp)] if ramp else []), config]
    scheduler = builder(optimizer, **context, **options)
    if ramp:
        scheduler = torch.optim.lr_scheduler.SequentialLR(optimizer, [ramp, scheduler], milestones=[warmup_steps])
    return [_step_config(scheduler)]


def _step_config(scheduler: torch.optim.lr_scheduler.LRScheduler) -> dict[str, Any]:
    return {"scheduler": scheduler, "interval": "step", "name": LR_KEY}
