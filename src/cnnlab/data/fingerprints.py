"""A digest of each split's contents: what `reproduce`, `evaluate` and a resumed run compare to say that the data
is not what the run trained on. One function per kind of dataset, registered below.

In-memory data (arrays, sentences) is hashed whole. Image files are hashed by name (relative to the split's
common folder, so a copied dataset keeps its digest), size and label: reading every file of a large set at
each start would cost minutes, and an edit that keeps a file's size byte for byte is rare.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from cnnlab.data.bad_samples import SkippingDataset
from cnnlab.data.coco_detection import CocoDetectionDataset
from cnnlab.data.datasets import ImageArrayDataset, ImageFileDataset
from cnnlab.data.relabel import RenumberedTargets
from cnnlab.data.segmentation import SegmentationDataset
from cnnlab.data.text.datamodule import SentenceDataset

DIGEST_CHARS = 16


class UnknownDataset(TypeError):
    """A dataset class with no fingerprint registered below."""


def split_digest(dataset: Dataset, settings: Mapping[str, Any]) -> str:
    """The split's contents, and the contents of the files its settings name (annotations, text files: what
    a split of image ids or sentences was read from)."""
    hasher = hashlib.blake2b(digest_size=DIGEST_CHARS // 2)
    for part in parts(dataset):
        hasher.update(part)
    for path in _named_files(settings):
        stat = path.stat()
        hasher.update(_file_digest(path.resolve(), stat.st_mtime_ns, stat.st_size))
    return hasher.hexdigest()


@functools.lru_cache(maxsize=64)
def _file_digest(path: Path, mtime_ns: int, size: int) -> bytes:
    """A named file's contents, read once per process while it is unchanged (the three splits of a COCO set
    share a JSON of hundreds of MB)."""
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "blake2b").digest()


def _named_files(settings: Mapping[str, Any]) -> list[Path]:
    values = [v for value in settings.values() for v in (value.values() if isinstance(value, Mapping) else [value])]
    return [Path(v) for v in values if isinstance(v, str) and v and Path(v).is_file()]


@functools.singledispatch
def parts(dataset: Dataset) -> Iterable[bytes]:
    raise UnknownDataset(f"no fingerprint for {type(dataset).__name__}; register one in {__name__}")


@parts.register
def _(dataset: ImageArrayDataset) -> Iterable[bytes]:
    yield repr((dataset.images.shape, str(dataset.images.dtype))).encode()
    yield np.ascontiguousarray(dataset.images).tobytes()
    yield dataset.labels.tobytes()


@parts.register
def _(dataset: ImageFileDataset) -> Iterable[bytes]:
    yield from _files(dataset.paths)
    yield dataset.labels.tobytes()


@parts.register
def _(dataset: SentenceDataset) -> Iterable[bytes]:
    yield json.dumps([[s.text, s.label] for s in dataset.sentences], ensure_ascii=False).encode()


@parts.register
def _(dataset: SegmentationDataset) -> Iterable[bytes]:
    # items: (image, mask) paths, or image ids of an annotations file (whose digest the DataModule adds)
    paths = [Path(p) for item in dataset.items for p in (item if isinstance(item, tuple | list) else [item])
             if isinstance(p, str | Path)]  # fmt: skip
    yield from _files(paths)
    yield repr([item for item in dataset.items if not isinstance(item, tuple | list | str | Path)]).encode()


@parts.register
def _(dataset: CocoDetectionDataset) -> Iterable[bytes]:
    coco = dataset.coco
    yield from _files([dataset.images / coco.imgs[i]["file_name"] for i in dataset.image_ids])
    annotations = [coco.imgToAnns.get(i, []) for i in dataset.image_ids]
    yield json.dumps(annotations, sort_keys=True, default=str).encode()


@parts.register
def _(dataset: RenumberedTargets) -> Iterable[bytes]:
    yield from parts(dataset.dataset)
    yield dataset.index.numpy().tobytes()


@parts.register
def _(dataset: SkippingDataset) -> Iterable[bytes]:
    return parts(dataset.dataset)


def _files(paths: list[Path]) -> Iterable[bytes]:
    """Each file's name below the files' common folder and its size (a missing file counts as -1 bytes)."""
    if not paths:
        return
    paths = [path.absolute() for path in paths]
    root = Path(os.path.commonpath([str(p.parent) for p in paths]))
    for path in paths:
        try:
            size = path.stat().st_size
        except OSError:
            size = -1
        yield f"{path.relative_to(root).as_posix()}\0{size}\n".encode()


def settings_digest(settings: dict[str, Any]) -> str:
    """For what no fingerprint covers: the settings that made the data."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=DIGEST_CHARS // 2).hexdigest()
