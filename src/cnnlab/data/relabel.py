"""Labels travel by class name: when a trained model meets data whose classes are listed in another order (or are
a subset of its own), each target is renumbered into the model's order; a class the model does not know is an
error, never a silent match by position."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import Dataset

from cnnlab.errors import CnnlabError

SPLITS = ("train", "val", "test")


def align_classes(data: Any, model_classes: Sequence[str]) -> None:
    """Renumbers the targets of every split of `data` (set up) into `model_classes`' order, by name."""
    data_classes = list(data.splits.class_names)
    model_classes = list(model_classes)
    unknown = [name for name in data_classes if name not in model_classes]
    if unknown:
        raise CnnlabError(
            f"data={data.describe()} has classes the model was not trained on: {', '.join(map(str, unknown))} "
            f"(the model's classes: {', '.join(model_classes)}); evaluate on data with the model's classes"
        )
    if data_classes == model_classes:
        return
    index = [model_classes.index(name) for name in data_classes]
    for split in SPLITS:
        setattr(data.splits, split, RenumberedTargets(getattr(data.splits, split), index))
    data.splits.class_names = model_classes


class RenumberedTargets(Dataset):
    """`dataset` with each target's class indices replaced: index[data class] = model class.

    Targets are a class index (classification, text), a mask of indices (segmentation: values outside the classes,
    such as the ignore index, stay), or a detection target whose "labels" count from 1 (0 is background).
    """

    def __init__(self, dataset: Dataset, index: Sequence[int]) -> None:
        self.dataset = dataset
        self.index = torch.as_tensor(index, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name: str):  # transform, sentences, ...: what callers read from the wrapped dataset
        if name in ("dataset", "index"):
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __getitem__(self, item):
        sample, target = self.dataset[item]
        return sample, self.renumber(target)

    def renumber(self, target: Any) -> Any:
        if isinstance(target, dict):
            return {**target, "labels": self.index[target["labels"] - 1] + 1}
        if isinstance(target, torch.Tensor) and target.ndim > 0:
            inside = (target >= 0) & (target < len(self.index))
            renumbered = target.clone()
            renumbered[inside] = self.index[target[inside]]
            return renumbered
        return type(target)(self.index[int(target)]) if isinstance(target, int) else self.index[int(target)]
