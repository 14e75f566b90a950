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


def test_any_torch_optimizer_by_name() -> None:
    optimizer = build_optimizer(parameters(), {"name": "rmsprop", "lr": 0.01, "alpha": 0.9})
    assert isinstance(optimizer, torch.optim.RMSprop) and optimizer.param_groups[0]["alpha"] == 0.9
    assert isinstance(build_optimizer(parameters(), {"name": "Adamax", "lr": 0.01}), torch.optim.Adamax)


def test_bad_optimizer_settings_are_named() -> None:
    with pytest.raises(CnnlabError, match="optimizer.lr=-0.1 must be positive"):
        build_optimizer(parameters(), {"name": "sgd", "lr": -0.1})
    with pytest.raises(CnnlabError, match="optimizer.name=lion is not a torch.optim optimizer; use one of: .*rmsprop"):
        build_optimizer(parameters(), {"name": "lion", "lr": 0.1})
    with pytest.raises(CnnlabError, match="optimizer.alpha is not a setting of optimizer=sgd"):
        build_optimizer(parameters(), {"name": "sgd", "lr": 0.1, "alpha": 0.9})
    with pytest.raises(CnnlabError, match="sparse gradients"):
        build_optimizer(parameters(), {"name": "sparseadam", "lr": 0.1})


def lrs(settings: dict, steps: int, epochs: int = 2) -> list[float]:
    """The rate before each of `steps` batches, stepping as Lightning does (per step; plateau per epoch, on a
    metric that never improves)."""
    optimizer = build_optimizer(parameters(), {"name": "sgd", "lr": 1.0})
    per_epoch = steps // epochs
    configs = build_scheduler(
        optimizer, settings, max_epochs=epochs, steps_per_epoch=per_epoch, monitor="val/acc", monitor_mode="max"
    )
    assert all(config["name"] == "train/lr" for config in configs)
    values = []
    for index in range(steps):
        values.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        for config in configs:
            if config["interval"] == "step":
                config["scheduler"].step()
            elif (index + 1) % per_epoch == 0:
                config["scheduler"].step(0.5)
    return values


def test_cosine_warms_up_then_decays_to_min_lr() -> None:
    values = lrs({"name": "cosine", "warmup_epochs": 1, "min_lr": 0.1}, steps=20)
    assert values[:10] == pytest.approx([(step + 1) / 10 for step in range(10)])  # lr / 10, rising to lr
    assert values[10] == pytest.approx(1.0)  # the cosine starts after the warm-up
    assert values[10] > values[15] > values[19] >= 0.1


def test_onecycle_peaks_at_lr() -> None:
    values = lrs({"name": "onecycle", "pct_start": 0.5}, steps=20)
    assert max(values) == pytest.approx(1.0, rel=0.05) and values[0] < 0.1 and values[-1] < 0.01


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"name": "none"}, [1.0] * 8),
        ({"name": "step", "step_size": 2, "gamma": 0.5}, [1.0] * 4 + [0.5] * 4),
        ({"name": "multistep", "milestones": [1, 3], "gamma": 0.5}, [1.0] * 2 + [0.5] * 4 + [0.25] * 2),
        ({"name": "exponential", "gamma": 0.5}, [1.0] * 2 + [0.5] * 2 + [0.25] * 2 + [0.125] * 2),
        # the first epoch's score is the best so far; each later one, not better, halves the rate
        ({"name": "plateau", "patience": 0, "factor": 0.5}, [1.0] * 4 + [0.5] * 2 + [0.25] * 2),
    ],
)
def test_epoch_schedules_change_the_rate_at_epoch_boundaries(settings: dict, expected: list[float]) -> None:
    assert lrs(settings, steps=8, epochs=4) == pytest.approx(expected)


@pytest.mark.parametrize("name", ["none", "step", "multistep", "exponential", "plateau", "cosine"])
def test_a_warm_up_goes_in_front_of_any_schedule(name: str) -> None:
    values = lrs({"name": name, "warmup_epochs": 1, "warmup_start_factor": 0.1}, steps=8, epochs=4)
    assert values[0] == pytest.approx(0.1) and values[0] < values[1] < 1.0
    assert max(values) <= 1.0 + 1e-9


def test_bad_schedule_settings_are_named() -> None:
    optimizer = build_optimizer(parameters(), {"name": "sgd", "lr": 1.0})
    with pytest.raises(CnnlabError, match="scheduler=linear is not valid; use one of: none, cosine"):
        build_scheduler(optimizer, {"name": "linear"}, max_epochs=1, steps_per_epoch=1, monitor="m", monitor_mode="max")
    with pytest.raises(CnnlabError, match="scheduler.warmup_epochs=-1 is not valid"):
        build_scheduler(
            optimizer, {"name": "none", "warmup_epochs": -1}, max_epochs=1, steps_per_epoch=1, monitor="m",
            monitor_mode="max",
        )  # fmt: skip
    with pytest.raises(CnnlabError, match="scheduler=onecycle warms up by itself"):
        build_scheduler(
            optimizer, {"name": "onecycle", "warmup_epochs": 1}, max_epochs=1, steps_per_epoch=1, monitor="m",
            monitor_mode="max",
        )  # fmt: skip
    with pytest.raises(CnnlabError, match="scheduler.factor=1.5 is not valid"):
        build_scheduler(
            optimizer, {"name": "plateau", "factor": 1.5}, max_epochs=1, steps_per_epoch=1, monitor="m",
            monitor_mode="max",
        )  # fmt: skip
