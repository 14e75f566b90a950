"""Optimizers and learning-rate schedules from plain config mappings."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR, OneCycleLR, StepLR

from cnnlab.errors import CnnlabError, pick
from cnnlab.registry import check_settings
from cnnlab.setting_types import NonNegativeFloat, PositiveFloat, PositiveInt, Probability

OPTIMIZERS = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "adadelta": torch.optim.Adadelta,  # Kim (2014) trains the text CNN with it
}


def build_optimizer(parameters: Iterable[torch.nn.Parameter], settings: Mapping[str, Any]) -> torch.optim.Optimizer:
    cls = pick("optimizer", settings["name"], OPTIMIZERS)
    kwargs = check_settings(cls, dict(settings), "optimizer", provided=("params",))
    if not settings["lr"] > 0:
        raise CnnlabError(f"optimizer.lr={settings['lr']} must be positive")
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    try:
        return cls(parameters, **kwargs)
    except ValueError as err:  # torch's own range checks (momentum, weight_decay, betas, ...)
        raise CnnlabError(f"optimizer={settings['name']}: {err}; fix the optimizer.* setting it names") from err


def check_optimization(optimizer: Mapping[str, Any], scheduler: Mapping[str, Any]) -> None:
    """Builds both on a dummy parameter so a bad setting fails before a run starts."""
    built = build_optimizer([torch.nn.Parameter(torch.zeros(1))], optimizer)
    build_scheduler(built, scheduler, max_epochs=1, steps_per_epoch=1)


def build_scheduler(
    optimizer: torch.optim.Optimizer, settings: Mapping[str, Any], *, max_epochs: int, steps_per_epoch: int
) -> dict[str, Any] | None:
    """A Lightning lr_scheduler config, or None for scheduler=none."""
    name = settings["name"]
    options = {k: v for k, v in settings.items() if k != "name"}
    builder = pick("scheduler", name, SCHEDULERS)
    if builder is None:
        return None
    check_settings(
        builder, {"name": name, **options}, "scheduler", provided=("optimizer", "max_epochs", "steps_per_epoch")
    )
    return builder(optimizer, max_epochs=max_epochs, steps_per_epoch=steps_per_epoch, **options)


def cosine(
    optimizer, *, max_epochs: int, steps_per_epoch: int, warmup_epochs: NonNegativeFloat = 0,
    min_lr: NonNegativeFloat = 0.0,
) -> dict:
    """Linear warm-up then cosine decay to min_lr, stepped every batch."""
    total = max(1, max_epochs * steps_per_epoch)
    warmup = int(warmup_epochs * steps_per_epoch)
    base_lr = optimizer.param_groups[0]["lr"]
    floor = min_lr / base_lr

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return {"scheduler": LambdaLR(optimizer, factor), "interval": "step"}


def step(
    optimizer, *, max_epochs: int, steps_per_epoch: int, step_size: PositiveInt = 10, gamma: PositiveFloat = 0.1
) -> dict:
    return {"scheduler": StepLR(optimizer, step_size=step_size, gamma=gamma), "interval": "epoch"}


def onecycle(optimizer, *, max_epochs: int, steps_per_epoch: int, pct_start: Probability = 0.3) -> dict:
    max_lr = [group["lr"] for group in optimizer.param_groups]
    scheduler = OneCycleLR(
        optimizer, max_lr=max_lr, epochs=max_epochs, steps_per_epoch=steps_per_epoch, pct_start=pct_start
    )
    return {"scheduler": scheduler, "interval": "step"}


SCHEDULERS = {"none": None, "cosine": cosine, "step": step, "onecycle": onecycle}
