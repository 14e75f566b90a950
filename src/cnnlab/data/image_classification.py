"""The shared DataModule for labelled images: subclasses say where the splits come from, this does the rest."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from cnnlab.data.transforms import build_transforms, seed_worker_transform
from cnnlab.errors import CnnlabError


@dataclass
class ClassificationSplits:
    """Three datasets built by a subclass with the transforms it is handed, and the facts about them."""

    train: Dataset
    val: Dataset
    test: Dataset
    class_names: list[str]
    channels: int


class ImageClassificationData(pl.LightningDataModule):
    def __init__(
        self,
        *,
        batch_size: int,
        num_workers: int,
        image_size: int | None,
        normalize: Mapping[str, Sequence[float]],
        augment: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise CnnlabError(f"data.batch_size={batch_size} must be at least 1")
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.image_size = image_size
        # Seeded from torch's seed, which seed_everything(cfg.seed) has set by the time data is built.
        seed = torch.initial_seed() % 2**32
        self.train_transform = build_transforms(
            augment=augment, normalize=normalize, image_size=image_size, train=True, seed=seed
        )
        self.eval_transform = build_transforms(augment=None, normalize=normalize, image_size=image_size, train=False)
        self.splits: ClassificationSplits | None = None

    @abstractmethod
    def load_splits(self) -> ClassificationSplits:
        """Reads the data and returns train/val/test datasets using self.train_transform / self.eval_transform."""

    def setup(self, stage: str | None = None) -> None:
        if self.splits is None:
            self.splits = self.load_splits()
            for split in ("train", "val", "test"):
                if len(getattr(self.splits, split)) == 0:
                    raise CnnlabError(
                        f"data={self.describe()}: the {split} split is empty; add data or change the split fractions"
                    )

    def describe(self) -> str:
        return type(self).__name__

    def facts(self) -> dict[str, Any]:
        """What models need to know about this data: classes, channels, input size."""
        self.setup()
        image, _ = self.splits.train[0]
        return {
            "num_classes": len(self.splits.class_names),
            "class_names": list(self.splits.class_names),
            "in_channels": int(image.shape[0]),
            "image_size": (int(image.shape[1]), int(image.shape[2])),
        }

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.splits.train, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.splits.val, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.splits.test, shuffle=False)

    def _loader(self, dataset: Dataset, shuffle: bool) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
            worker_init_fn=seed_worker_transform if self.num_workers > 0 else None,
        )
