"""A past run's trained task beside its data, ready to evaluate: what `evaluate` and `export` start from."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cnnlab.data import build_data
from cnnlab.data.base import SplitDataModule
from cnnlab.data.relabel import align_classes
from cnnlab.tasks import BaseTask, restore_task


def restored_with_data(config: Mapping[str, Any], checkpoint: str | Path) -> tuple[BaseTask, SplitDataModule]:
    """The task of `checkpoint` (on the CPU) and the data `config` names, set up: its labels renumbered into the
    model's class order by name, text encoded with the model's own vocabulary (not one built anew from the data)."""
    task = restore_task(config["task"]["name"], checkpoint)
    data = build_data(dict(config["data"]))
    if task.encodes_with_vocabulary:
        data.use_vocabulary(task.vocabulary)
    data.setup()
    align_classes(data, task.class_names)
    return task, data
