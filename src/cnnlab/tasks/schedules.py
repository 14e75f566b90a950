"""The learning-rate schedules `scheduler=NAME` picks: torch's schedulers, set in epochs and stepped every batch
(epoch-wise decays change the rate at epoch boundaries, as per-epoch stepping would), so that a warm-up counted in
batches can precede any of them. Each builder's keyword arguments are the scheduler.* settings it takes."""

from __future__ import annotations

import math
from typing import Any, Literal

from torch.optim.lr_scheduler import LambdaLR, LRScheduler, MultiStepLR, OneCycleLR, ReduceLROnPlateau, StepLR

from cnnlab.setting_types import (
    Fraction,
    NonEmpty,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Probability,
)

LR_KEY = "train/lr"  # the name every schedule is logged under by the lr_monitor callback


def base_lrs(optimizer) -> list[float]:
    """optimizer.lr of each group, also when a warm-up built before this schedule has lowered the current rate."""
    return [group.get("initial_lr", group["lr"]) for group in optimizer.param_groups]


def none(optimizer, *, max_epochs: int, steps_per_epoch: int, warmup_steps: int) -> LRScheduler:
    """A constant rate (after the warm-up, if any)."""
    return LambdaLR(optimizer, lambda step: 1.0)


def cosine(
    optimizer, *, max_epochs: int, steps_per_epoch: int, warmup_steps: int, min_lr: NonNegativeFloat = 0.0
) -> LRScheduler:
    """Cosine decay from lr to min_lr over the steps after the warm-up. Closed form (LambdaLR), so the rate at a
    step does not depend on float drift of the steps before it, as torch's recursive CosineAnnealingLR does."""
    total = max(1, max_epochs * steps_per_epoch - warmup_steps)
    floor = min_lr / base_lrs(optimizer)[0]

    def factor(step: int) -> float:
        progress = min(1.0, step / total)
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)


def step(
    optimizer,
    *,
    max_epochs: int,
    steps_per_epoch: int,
    warmup_steps: int,
    step_size: PositiveInt = 10,
    gamma: PositiveFloat = 0.1,
) -> LRScheduler:
    """lr x gamma every step_size epochs."""
    return StepLR(optimizer, step_size=step_size * steps_per_epoch, gamma=gamma)


def multistep(
    optimizer,
    *,
    max_epochs: int,
    steps_per_epoch: int,
    warmup_steps: int,
    milestones: NonEmpty[PositiveInt] = (30, 60, 90),
    gamma: PositiveFloat = 0.1,
) -> LRScheduler:
    """lr x gamma at each milestone epoch."""
    return MultiStepLR(optimizer, milestones=[m * steps_per_epoch for m in milestones], gamma=gamma)


def exponential(
    optimizer, *, max_epochs: int, steps_per_epoch: int, warmup_steps: int, gamma: PositiveFloat = 0.95
) -> LRScheduler:
    """lr x gamma after every epoch (torch's ExponentialLR stepped per epoch)."""
    return StepLR(optimizer, step_size=steps_per_epoch, gamma=gamma)


def onecycle(
    optimizer,
    *,
    max_epochs: int,
    steps_per_epoch: int,
    warmup_steps: int,
    pct_start: Probability = 0.3,
    div_factor: PositiveFloat = 25.0,
    final_div_factor: PositiveFloat = 1e4,
) -> LRScheduler:
    """One cycle (Smith 2018): optimizer.lr is the peak, reached after pct_start of the steps."""
    return OneCycleLR(
        optimizer, max_lr=base_lrs(optimizer),
        total_steps=max(2, max_epochs * steps_per_epoch - warmup_steps), pct_start=pct_start,
        div_factor=div_factor, final_div_factor=final_div_factor,
    )  # fmt: skip


def plateau(
    optimizer,
    *,
    max_epochs: int,
    steps_per_epoch: int,
    warmup_steps: int,
    monitor: str,
    monitor_mode: str,
    mode: Literal["min", "max"] | None = None,
    factor: Fraction = 0.1,
    patience: NonNegativeInt = 10,
    threshold: NonNegativeFloat = 1e-4,
    cooldown: NonNegativeInt = 0,
    min_lr: NonNegativeFloat = 0.0,
) -> dict[str, Any]:
    """lr x factor when the task's monitored metric has not improved for `patience` epochs (mode: the task's)."""
    scheduler = ReduceLROnPlateau(
        optimizer, mode=mode or monitor_mode, factor=factor, patience=patience, threshold=threshold,
        cooldown=cooldown, min_lr=min_lr,
    )  # fmt: skip
    return {"scheduler": scheduler, "interval": "epoch", "monitor": monitor, "name": LR_KEY}


SCHEDULERS = {
    "none": none, "cosine": cosine, "step": step, "multistep": multistep, "exponential": exponential,
    "onecycle": onecycle, "plateau": plateau,
}  # fmt: skip
