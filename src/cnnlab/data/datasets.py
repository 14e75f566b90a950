"""torch Datasets over labelled images held in memory or on disk, returning (CHW tensor, label)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from cnnlab.errors import CnnlabError

Transform = Callable[..., dict]


class ImageArrayDataset(Dataset):
    """Images as one uint8 array of shape (N, H, W, C)."""

    def __init__(self, images: np.ndarray, labels: Sequence[int], transform: Transform) -> None:
        self.images = images
        self.labels = np.asarray(labels, dtype=np.int64)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.transform(image=self.images[index])["image"], int(self.labels[index])


class ImageFileDataset(Dataset):
    """Image files read with PIL as RGB (channels=3, grayscale converted) or grayscale (channels=1)."""

    def __init__(self, paths: Sequence[str | Path], labels: Sequence[int], transform: Transform, channels: int) -> None:
        self.paths = [Path(p) for p in paths]
        self.labels = np.asarray(labels, dtype=np.int64)
        self.transform = transform
        self.mode = {3: "RGB", 1: "L"}[channels]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.transform(image=read_image(self.paths[index], self.mode))["image"], int(self.labels[index])


def read_image(path: Path, mode: str) -> np.ndarray:
    """An (H, W, C) uint8 array; a file PIL cannot decode raises a CnnlabError naming it."""
    try:
        with Image.open(path) as image:
            array = np.asarray(image.convert(mode))
    except (OSError, UnidentifiedImageError) as err:
        raise CnnlabError(f"{path}: cannot read image ({err}); remove or replace the file") from err
    return array[..., None] if array.ndim == 2 else array
