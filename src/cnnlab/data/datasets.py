"""torch Datasets over labelled images held in memory or on disk, returning (CHW tensor, label), and the one image
reader they (and segmentation, detection and prediction) share."""

from __future__ import annotations

import logging
import struct
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset

from cnnlab.data.files import shown
from cnnlab.errors import CnnlabError

log = logging.getLogger(__name__)
Transform = Callable[..., dict]
# PIL raises any of these for a broken, truncated or mislabelled file; each means "this file cannot be read".
UNREADABLE = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)
BACKGROUND = (255, 255, 255, 255)  # what transparent pixels become: white, as a viewer on a white page shows them
PLACEHOLDER_SIDE = 2  # an image at most this many pixels wide or high is a placeholder, not a photo


class ImageArrayDataset(Dataset):
    """Images as one uint8 array of shape (N, H, W, C).

    fixed: the transform draws nothing at random (no per-sample augmentation), so every image is transformed once
    and kept as a tensor (when that fits in CACHE_BYTES): an epoch then costs no pipeline call per sample.
    """

    CACHE_BYTES = 1 << 30

    def __init__(self, images: np.ndarray, labels: Sequence[int], transform: Transform, fixed: bool = False) -> None:
        self.images = images
        self.labels = np.asarray(labels, dtype=np.int64)
        self.transform = transform
        self.fixed = fixed and images.size * 4 <= self.CACHE_BYTES
        self._tensors: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if self.fixed:
            if self._tensors is None:
                self._tensors = torch.stack([self.transform(image=image)["image"] for image in self.images])
            return self._tensors[index], int(self.labels[index])
        return self.transform(image=self.images[index])["image"], int(self.labels[index])


class ImageFileDataset(Dataset):
    """Image files read by `read_image` as RGB (channels=3) or grayscale (channels=1)."""

    def __init__(self, paths: Sequence[str | Path], labels: Sequence[int], transform: Transform, channels: int) -> None:
        self.paths = [Path(p) for p in paths]
        self.labels = np.asarray(labels, dtype=np.int64)
        self.transform = transform
        self.mode = {3: "RGB", 1: "L"}[channels]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.transform(image=read_image(self.paths[index], self.mode))["image"], int(self.labels[index])


def read_image(path: Path | BinaryIO, mode: str, name: str | None = None) -> np.ndarray:
    """An (H, W, C) uint8 array of the file as a viewer shows it, in `mode` ("RGB" or "L"): EXIF orientation
    applied, 16-bit and float pixels scaled to 0..255 (never clipped), transparent pixels over white. A file that
    cannot be read (broken, too large, pixels out of range) raises a CnnlabError naming it, so that
    data.on_bad_sample=skip can skip it like any other bad sample. `path` may be an open binary stream (bytes that
    came over HTTP); `name` then says what to call it in messages."""
    label = name or path
    try:
        with Image.open(path) as image:
            ImageOps.exif_transpose(image, in_place=True)  # decodes; turns only when the file says so (no copy)
            array = _pixels(image, mode, label)
    except Image.DecompressionBombError as err:
        raise CnnlabError(
            f"{label}: cannot read image: it has more than twice PIL's limit of {Image.MAX_IMAGE_PIXELS} pixels "
            "(a guard against decompression bombs); downscale the file or remove it"
        ) from err
    except UNREADABLE as err:
        reason = " ".join(str(err).split())
        raise CnnlabError(f"{label}: cannot read image ({reason}); remove or replace the file") from err
    return array[..., None] if array.ndim == 2 else array


def _pixels(image: Image.Image, mode: str, path: Path | str) -> np.ndarray:
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        gray = scaled_to_8_bits(np.asarray(image), path)
        return gray if mode == "L" else np.repeat(gray[..., None], 3, axis=-1)
    if image.has_transparency_data:  # RGBA, LA, P or L with a transparent colour: what is under it is arbitrary
        image = Image.alpha_composite(Image.new("RGBA", image.size, BACKGROUND), image.convert("RGBA"))
    return np.asarray(image.convert(mode))


def scaled_to_8_bits(values: np.ndarray, path: Path | str) -> np.ndarray:
    """uint8 pixels from high-depth ones, by the range of their type, never clipped: integers are 16-bit (0..65535,
    as PNG and TIFF store them, also in PIL's 32-bit mode I), floats are 0..1. Values outside refuse in one line:
    guessing their range would make some images brighter or darker than others."""
    low, high = float(values.min()), float(values.max())
    if values.dtype.kind == "f":
        if not (np.isfinite(values).all() and low >= 0 and high <= 1):
            raise CnnlabError(
                f"{path}: float pixels run from {low:g} to {high:g}, outside 0..1; save the image scaled to 0..1, "
                "or as 8- or 16-bit"
            )
        return np.rint(values * 255).astype(np.uint8)
    if low < 0 or high > 65535:
        raise CnnlabError(
            f"{path}: pixel values run from {low:g} to {high:g}, outside 16 bits (0..65535); save the image as 8- or "
            "16-bit"
        )
    return np.rint(values / 257).astype(np.uint8)  # 65535 / 255 = 257: 0 -> 0, 65535 -> 255


def warn_of_odd_images(paths: Sequence[Path], where: str) -> None:
    """One warning naming the animated images (only their first frame is used) and tiny placeholders among `paths`."""
    odd = [f"{path} ({kind})" for path in paths if (kind := _oddity(path))]
    if odd:
        log.warning(
            "%s: %d image(s) are animated or tiny placeholders; the first frame is used, remove them if they are "
            "not data: %s", where, len(odd), shown(odd),
        )  # fmt: skip


def _oddity(path: Path) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a first look only: reading the sample reports what is wrong with the file
        try:
            with Image.open(path) as image:
                animated, (width, height) = getattr(image, "is_animated", False), image.size
        except (*UNREADABLE, Image.DecompressionBombError):
            return ""  # reported when the sample is read, where data.on_bad_sample applies
    if animated:
        return "animated"
    return f"{width}x{height}" if min(width, height) <= PLACEHOLDER_SIDE else ""
