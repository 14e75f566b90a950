"""Data: the dataset registry (name -> LightningDataModule class) and the builder that reads a `data` config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl

from cnnlab.data.coco_detection import CocoDetectionData
from cnnlab.data.coco_semantic import CocoSemanticData
from cnnlab.data.digits import DigitsData
from cnnlab.data.imagefolder import ImageFolderData
from cnnlab.data.masks import MaskFolderData
from cnnlab.data.shapes import ShapesData
from cnnlab.data.shapes_detection import ShapesDetectionData
from cnnlab.data.text import PyDocsData, TextLinesData, TextPrefixedData, TextTableData
from cnnlab.data.torchvision_sets import Cifar10Data, FashionMnistData, MnistData
from cnnlab.errors import CnnlabError
from cnnlab.registry import Registry, check_settings

DATASETS: Registry[type[pl.LightningDataModule]] = Registry("data")
DATASETS.add("digits", DigitsData)
DATASETS.add("imagefolder", ImageFolderData)
DATASETS.add("cifar10", Cifar10Data)
DATASETS.add("mnist", MnistData)
DATASETS.add("fashion_mnist", FashionMnistData)
DATASETS.add("masks", MaskFolderData)
DATASETS.add("shapes", ShapesData)
DATASETS.add("coco_semantic", CocoSemanticData)
DATASETS.add("coco", CocoDetectionData)
DATASETS.add("shapes_detection", ShapesDetectionData)
DATASETS.add("pydocs", PyDocsData)
DATASETS.add("text_prefixed", TextPrefixedData)
DATASETS.add("text_lines", TextLinesData)
DATASETS.add("text_csv", TextTableData)


def datasets_for(task: str) -> list[str]:
    return [name for name in DATASETS if DATASETS.get(name).task == task]


def check_data(settings: Mapping[str, Any], task: str) -> None:
    """Fails in one line if the data is unknown, has no targets for `task`, or has a setting of the wrong type."""
    cls = DATASETS.get(settings["name"])
    if cls.task != task:
        valid = ", ".join(datasets_for(task))
        raise CnnlabError(f"data={settings['name']} has no targets for task={task}; valid data for {task}: {valid}")
    check_settings(cls, dict(settings), "data")
    held_out = settings.get("val_fraction", 0) + settings.get("test_fraction", 0)
    if held_out >= 1:
        raise CnnlabError(
            f"data.val_fraction={settings.get('val_fraction')} and data.test_fraction={settings.get('test_fraction')} "
            "leave nothing to train on; their sum must be below 1"
        )


def build_data(settings: Mapping[str, Any]) -> pl.LightningDataModule:
    """The DataModule named by settings["name"], constructed from the other keys."""
    cls = DATASETS.get(settings["name"])
    return cls(**check_settings(cls, dict(settings), "data"))


__all__ = ["DATASETS", "build_data", "check_data", "datasets_for"]
