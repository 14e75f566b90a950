"""torchvision's CIFAR-10, MNIST and Fashion-MNIST, downloaded into `root` on first use."""

from __future__ import annotations

from pathlib import Path
from urllib.error import URLError

import numpy as np
import torchvision

from cnnlab.data.base import Splits
from cnnlab.data.datasets import ImageArrayDataset
from cnnlab.data.image_classification import ImageClassificationData
from cnnlab.data.splits import split_indices
from cnnlab.errors import CnnlabError
from cnnlab.setting_types import Fraction

DATASET_CLASSES = {
    "cifar10": torchvision.datasets.CIFAR10,
    "mnist": torchvision.datasets.MNIST,
    "fashion_mnist": torchvision.datasets.FashionMNIST,
}


class TorchvisionImageData(ImageClassificationData):
    dataset = "cifar10"  # set by each registered subclass

    def __init__(
        self, *, root: str = "outputs/datasets", download: bool = True, val_fraction: Fraction = 0.1,
        split_seed: int = 0, **common,
    ) -> None:  # fmt: skip
        super().__init__(**common)
        self.root = Path(root)
        self.download = download
        self.val_fraction = val_fraction
        self.split_seed = split_seed

    def describe(self) -> str:
        return self.dataset

    def prepare_data(self) -> None:
        self._load(train=True)
        self._load(train=False)

    def load_splits(self) -> Splits:
        train_set, test_set = self._load(train=True), self._load(train=False)
        images, labels = _arrays(train_set)
        test_images, test_labels = _arrays(test_set)
        train, val = split_indices(labels, self.val_fraction, self.split_seed)
        return Splits(
            train=ImageArrayDataset(images[train], labels[train], self.train_transform, self.train_is_fixed),
            val=ImageArrayDataset(images[val], labels[val], self.eval_transform, fixed=True),
            test=ImageArrayDataset(test_images, test_labels, self.eval_transform, fixed=True),
            class_names=list(train_set.classes),
        )

    def _load(self, train: bool):
        cls = DATASET_CLASSES[self.dataset]
        try:
            return cls(str(self.root), train=train, download=self.download)
        except (RuntimeError, OSError, URLError) as err:
            hint = "check the network" if self.download else "set data.download=true"
            raise CnnlabError(
                f"data={self.dataset}: not found under data.root={self.root} and not downloadable ({err}); "
                f"{hint}, or copy the dataset there from a machine with network"
            ) from err


def _arrays(dataset) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W, C) uint8 images and int64 labels from a torchvision dataset's in-memory tensors."""
    images = np.asarray(dataset.data)
    if images.ndim == 3:  # MNIST-style (N, H, W)
        images = images[..., None]
    return images.astype(np.uint8), np.asarray(dataset.targets, dtype=np.int64)


class Cifar10Data(TorchvisionImageData):
    dataset = "cifar10"


class MnistData(TorchvisionImageData):
    dataset = "mnist"


class FashionMnistData(TorchvisionImageData):
    dataset = "fashion_mnist"
