"""Shared pieces of semantic-segmentation data: joint image/mask transforms, mask checks, facts for the model."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset

from cnnlab.data.base import SplitDataModule
from cnnlab.data.datasets import UNREADABLE, read_image
from cnnlab.data.transforms import build_transforms
from cnnlab.errors import CnnlabError

SIZE_MULTIPLE = 32  # smp encoders downsample five times


class SegmentationData(SplitDataModule):
    task = "segmentation"

    def __init__(
        self,
        *,
        normalize: Mapping[str, Sequence[float]],
        augment: Sequence[Mapping[str, Any]] | None = None,
        image_size: int | None = None,
        crop_size: int | None = None,
        channels: Literal[1, 3] = 3,
        ignore_index: int = 255,
        **loader: Any,  # batch_size and the DataLoader options of SplitDataModule
    ) -> None:
        super().__init__(**loader)
        for name, size in (("image_size", image_size), ("crop_size", crop_size)):
            if size and size % SIZE_MULTIPLE:
                raise CnnlabError(f"data.{name}={size} must be a multiple of {SIZE_MULTIPLE} (the encoders' stride)")
        self.channels = channels
        self.ignore_index = ignore_index
        self.normalize = {"mean": list(normalize["mean"]), "std": list(normalize["std"])}
        common = {"normalize": normalize, "image_size": image_size, "size_multiple": SIZE_MULTIPLE}
        self.train_transform = build_transforms(
            augment=augment, train=True, seed=self.seed, crop_size=crop_size, mask_fill=ignore_index, **common
        )
        self.eval_transform = build_transforms(augment=None, train=False, mask_fill=ignore_index, **common)

    def facts(self) -> dict[str, Any]:
        self.setup()
        return {
            "num_classes": len(self.splits.class_names),
            "class_names": list(self.splits.class_names),
            "in_channels": self.channels,
            "ignore_index": self.ignore_index,
            "normalize": self.normalize,
        }


class SegmentationDataset(Dataset):
    """(image, mask) pairs from a loader function, checked, then transformed together."""

    def __init__(
        self,
        items: Sequence[Any],
        load: Callable[[Any], tuple[np.ndarray, np.ndarray, str]],
        transform: Callable[..., dict],
        num_classes: int,
        ignore_index: int,
    ) -> None:
        self.items = list(items)
        self.load = load  # item -> (image HWC uint8, mask HW int, name of the mask's source for errors)
        self.transform = transform
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask, source = self.load(self.items[index])
        check_mask(mask, image, source, self.num_classes, self.ignore_index)
        out = self.transform(image=image, mask=mask)
        return out["image"], torch.as_tensor(out["mask"]).long()


def check_mask(mask: np.ndarray, image: np.ndarray, source: str, num_classes: int, ignore_index: int) -> None:
    if mask.shape[:2] != image.shape[:2]:
        raise CnnlabError(
            f"{source}: mask is {mask.shape[1]}x{mask.shape[0]} but its image is {image.shape[1]}x{image.shape[0]}; "
            "a mask must have its image's size"
        )
    values = np.unique(mask)
    bad = values[(values >= num_classes) & (values != ignore_index)]
    if bad.size:
        raise CnnlabError(
            f"{source}: mask value {int(bad[0])} is outside the {num_classes} classes (0..{num_classes - 1}, "
            f"{ignore_index} = ignore); fix the mask or data.class_names"
        )


def read_mask(path: Path, palette: Sequence[Sequence[int]] | None = None) -> np.ndarray:
    """Class indices from an index/palette PNG (the value is the class, 8- or 16-bit, never rescaled), or an RGB mask
    through `palette`. Like images, a mask is read as a viewer shows it (EXIF orientation applied): turning only
    moves pixels, so the indices stay, and the mask stays on the image it was drawn over."""
    try:
        with Image.open(path) as mask:
            ImageOps.exif_transpose(mask, in_place=True)
            mode = mask.mode
            if mode in ("LA", "PA"):  # an alpha band beside the indices says nothing about the class
                mask = mask.getchannel(0)
            array = np.asarray(mask.convert("RGB") if mode in ("RGB", "RGBA") else mask)
    except (*UNREADABLE, Image.DecompressionBombError) as err:
        reason = " ".join(str(err).split())
        raise CnnlabError(f"{path}: cannot read mask ({reason}); replace the file") from err
    if mode not in ("RGB", "RGBA"):
        return array.astype(np.int64)
    if palette is None:
        raise CnnlabError(f"{path}: RGB mask; save masks as index or palette PNGs, or set data.palette to the colours")
    return _colours_to_indices(array, palette, path)


def _colours_to_indices(array: np.ndarray, palette: Sequence[Sequence[int]], path: Path) -> np.ndarray:
    indices = np.full(array.shape[:2], -1, np.int64)
    for index, colour in enumerate(palette):
        indices[(array == np.asarray(colour, np.uint8)).all(axis=-1)] = index
    if (indices < 0).any():
        y, x = np.argwhere(indices < 0)[0]
        raise CnnlabError(f"{path}: colour {tuple(int(c) for c in array[y, x])} at ({x}, {y}) is not in data.palette")
    return indices


def read_pair(item: tuple[Path, Path], mode: str, palette: Sequence[Sequence[int]] | None) -> tuple:
    image_path, mask_path = item
    return read_image(image_path, mode), read_mask(mask_path, palette), str(mask_path)
