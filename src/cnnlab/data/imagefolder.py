"""A folder of class sub-folders (root/<class>/<image>), or train/ val/ test/ sub-roots holding them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

from cnnlab.data.base import Splits
from cnnlab.data.datasets import ImageFileDataset
from cnnlab.data.image_classification import ImageClassificationData
from cnnlab.data.splits import split_indices
from cnnlab.errors import CnnlabError


class ImageFolderData(ImageClassificationData):
    def __init__(
        self,
        *,
        root: str,
        channels: int = 3,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        split_seed: int = 0,
        **common,
    ) -> None:
        super().__init__(**common)
        if channels not in (1, 3):
            raise CnnlabError(f"data.channels={channels} is not valid; use 3 (RGB) or 1 (grayscale)")
        if not common.get("image_size"):
            raise CnnlabError("data.image_size must be set for data=imagefolder (its images may differ in size)")
        self.root = Path(root)
        self.channels = channels
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.split_seed = split_seed

    def describe(self) -> str:
        return f"imagefolder ({self.root})"

    def load_splits(self) -> Splits:
        if not self.root.is_dir():
            raise CnnlabError(f"data.root={self.root} is not a folder; point it at a folder of class sub-folders")
        has_subroots = (self.root / "train").is_dir()
        train_root = self.root / "train" if has_subroots else self.root
        classes, class_to_idx = _classes(train_root)
        samples = _samples(train_root, class_to_idx, allow_empty=False)
        labels = [label for _, label in samples]
        train_idx = np.arange(len(samples))
        val = _samples(self.root / "val", class_to_idx) if has_subroots and (self.root / "val").is_dir() else None
        test = _samples(self.root / "test", class_to_idx) if has_subroots and (self.root / "test").is_dir() else None
        if test is None:
            train_idx, held = split_indices(labels, self.test_fraction, self.split_seed)
            test = [samples[i] for i in held]
        if val is None:
            fraction = self.val_fraction * len(samples) / max(len(train_idx), 1)
            kept, held = split_indices([labels[i] for i in train_idx], fraction, self.split_seed)
            val = [samples[train_idx[i]] for i in held]
            train_idx = train_idx[kept]
        train = [samples[i] for i in train_idx]
        make = lambda items, tf: ImageFileDataset(  # noqa: E731
            [p for p, _ in items], [label for _, label in items], tf, self.channels
        )
        return Splits(
            train=make(train, self.train_transform),
            val=make(val, self.eval_transform),
            test=make(test, self.eval_transform),
            class_names=classes,
        )


def _classes(root: Path) -> tuple[list[str], dict[str, int]]:
    try:
        return find_classes(str(root))
    except FileNotFoundError as err:
        raise CnnlabError(
            f"data.root: {root} has no class sub-folders; lay images out as {root}/<class>/<image>"
        ) from err


def _samples(root: Path, class_to_idx: dict[str, int], allow_empty: bool = True) -> list[tuple[str, int]]:
    try:
        return make_dataset(str(root), class_to_idx, extensions=IMG_EXTENSIONS, allow_empty=allow_empty)
    except FileNotFoundError as err:
        raise CnnlabError(f"data.root: {err} (under {root}); every class folder needs at least one image") from err
