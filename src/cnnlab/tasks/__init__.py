"""Tasks: the registry of LightningModules users pick with `task=`, and the builder that sizes one to its data."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cnnlab.errors import CnnlabError
from cnnlab.registry import Registry, check_settings
from cnnlab.tasks.base import BaseTask
from cnnlab.tasks.classification import ClassificationTask
from cnnlab.tasks.detection import DetectionTask
from cnnlab.tasks.segmentation import SegmentationTask
from cnnlab.tasks.text import TextClassificationTask

TASKS: Registry[type[BaseTask]] = Registry("task")
TASKS.add("classification", ClassificationTask)
TASKS.add("segmentation", SegmentationTask)
TASKS.add("detection", DetectionTask)
TASKS.add("text", TextClassificationTask)


def build_task(
    settings: Mapping[str, Any],
    *,
    backbone: Mapping[str, Any],
    optimizer: Mapping[str, Any],
    scheduler: Mapping[str, Any],
    data_facts: Mapping[str, Any],
) -> BaseTask:
    """The task named by settings["name"], given the backbone/optimizer configs and the facts its data reports."""
    cls = TASKS.get(settings["name"])
    classes = data_facts.get("class_names", [])
    if len(classes) < cls.min_classes:
        raise CnnlabError(
            f"the data has {len(classes)} class(es) ({', '.join(map(str, classes))}); task={settings['name']} needs at "
            f"least {cls.min_classes}: add data of another class"
        )
    provided = ("backbone", "optimizer", "scheduler", *data_facts)
    kwargs = check_settings(cls, dict(settings), "task", provided=provided)
    return cls(backbone=dict(backbone), optimizer=dict(optimizer), scheduler=dict(scheduler), **data_facts, **kwargs)


def restore_task(name: str, checkpoint: str | Path) -> BaseTask:
    """The task `name` with the weights and settings of `checkpoint` (a Lightning .ckpt), on the CPU."""
    return TASKS.get(name).restore(checkpoint)


__all__ = [
    "TASKS",
    "BaseTask",
    "ClassificationTask",
    "DetectionTask",
    "SegmentationTask",
    "TextClassificationTask",
    "build_task",
    "restore_task",
]
