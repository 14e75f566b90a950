"""Optimizers and schedules from config."""

from __future__ import annotations

import pytest
import torch

from cnnlab.errors import CnnlabError
from cnnlab.tasks.optimization import build_optimizer, build_scheduler


def parameters() -> list[torch.nn.Parameter]:
    return [torch.nn.Parameter(torch.zeros(2))]


@pytest.mark.parametrize(
    ("settings", "cls"),
    [
        ({"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4}, torch.optim.SGD),
        ({"name": "adam", "lr": 1e-3, "betas": [0.8, 0.99], "weight_decay": 0.0}, torch.optim.Adam),
        ({"name": "adamw", "lr": 1e-3, "weight_decay": 0.05}, torch.optim.AdamW),
    ],
)
def test_optimizers_take_their_settings(settings: dict, cls: type) -> None:
    optimizer = build_optimizer(parameters(), settings)
    assert isinstance(optimizer, cls)
    group = optimizer.param_groups[0]
    assert all(group[k] == (tuple(v) if isinstance(v, list) else v) for k, v in settings.items() if k != "name")


def test_bad_optimizer_settings_are_named() -> None:
    with pytest.raises(CnnlabError, match="optimizer.lr=-0.1 must be positive"):
        build_optimizer(parameters(), {"name": "sgd", "lr": -0.1})
    with pytest.raises(CnnlabError, match="optimizer=lion is not valid; use one of: sgd, adam, adamw"):
        build_optimizer(parameters(), {"name": "lion", "lr": 0.1})


def lrs(settings: dict, steps: int, epochs: int = 2) -> list[float]:
    optimizer = build_optimizer(parameters(), {"name": "sgd", "lr": 1.0})
    config = build_scheduler(optimizer, settings, max_epochs=epochs, steps_per_epoch=steps // epochs)
    values = []
    for _ in range(steps):
        values.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if config["interval"] == "step":
            config["scheduler"].step()
    return values


def test_cosine_warms_up_then_decays_to_min_lr() -> None:
    values = lrs({"name": "cosine", "warmup_epochs": 1, "min_lr": 0.1}, steps=20)
    assert values[0] == pytest.approx(0.1) and values[9] == pytest.approx(1.0)
    assert values[10] > values[15] > values[19] >= 0.1


def test_onecycle_peaks_at_lr() -> None:
    values = lrs({"name": "onecycle", "pct_start": 0.5}, steps=20)
    assert max(values) == pytest.approx(1.0, rel=0.05) and values[0] < 0.1 and values[-1] < 0.01


def test_step_and_none() -> None:
    optimizer = build_optimizer(parameters(), {"name": "sgd", "lr": 1.0})
    assert build_scheduler(optimizer, {"name": "none"}, max_epochs=1, steps_per_epoch=1) is None
    step = build_scheduler(optimizer, {"name": "step", "step_size": 2, "gamma": 0.5}, max_epochs=1, steps_per_epoch=1)
    assert step["interval"] == "epoch" and step["scheduler"].step_size == 2
