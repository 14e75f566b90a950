"""Split digests: the same data gives the same digest wherever it lies; a changed label, file, array or annotation
gives another; every kind of dataset a DataModule makes has a fingerprint."""

from __future__ import annotations

import inspect
import shutil
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from torch.utils.data import Dataset

import cnnlab.data
from cnnlab.data import fingerprints
from cnnlab.data.datasets import ImageArrayDataset, ImageFileDataset
from cnnlab.data.epochs import EpochIndexed, SeededSamples
from cnnlab.data.fingerprints import parts, split_digest
from cnnlab.data.segmentation import SegmentationDataset

LOADER_WRAPPERS = {SeededSamples, EpochIndexed}  # made per DataLoader from a split, never a split themselves


def image_files(root: Path, sizes: list[int]) -> list[Path]:
    paths = []
    for index, size in enumerate(sizes):
        path = root / f"class {index % 2}" / f"ü({index}).png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("L", (size, size)).save(path)
        paths.append(path)
    return paths


def test_image_files_keep_their_digest_when_the_folder_moves_and_change_with_a_file(tmp_path: Path) -> None:
    paths = image_files(tmp_path / "a", [4, 5, 6, 7])
    digest = split_digest(ImageFileDataset(paths, [0, 1, 0, 1], None, 1), {})
    shutil.copytree(tmp_path / "a", tmp_path / "b c")
    moved = [tmp_path / "b c" / p.relative_to(tmp_path / "a") for p in paths]
    assert split_digest(ImageFileDataset(moved, [0, 1, 0, 1], None, 1), {}) == digest
    assert split_digest(ImageFileDataset(moved, [0, 1, 1, 1], None, 1), {}) != digest  # a label
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (9, 9), dtype=np.uint8)).save(moved[2])
    assert split_digest(ImageFileDataset(moved, [0, 1, 0, 1], None, 1), {}) != digest  # a file


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2 * 3 * 3 - 1), st.integers(1, 255))
def test_any_changed_pixel_changes_an_array_digest(position: int, delta: int) -> None:
    images = np.zeros((2, 3, 3, 1), dtype=np.uint8)
    digest = split_digest(ImageArrayDataset(images, [0, 1], None), {})
    changed = images.copy()
    changed.reshape(-1)[position] = delta
    assert split_digest(ImageArrayDataset(changed, [0, 1], None), {}) != digest


def test_a_file_the_settings_name_is_part_of_the_digest(tmp_path: Path) -> None:
    """COCO splits are image ids of an annotations file: editing the file must change the digest."""
    annotations = tmp_path / "instances.json"
    annotations.write_text('{"annotations": []}')
    split = SegmentationDataset([1, 2, 3], None, None, 2, 255)
    digest = split_digest(split, {"annotations": str(annotations), "root": str(tmp_path)})
    annotations.write_text('{"annotations": [1]}')
    assert split_digest(split, {"annotations": str(annotations), "root": str(tmp_path)}) != digest


def test_every_dataset_class_of_the_data_package_has_a_fingerprint() -> None:
    import importlib
    import pkgutil

    classes = set()
    for module in pkgutil.walk_packages(cnnlab.data.__path__, "cnnlab.data."):
        for _, cls in inspect.getmembers(importlib.import_module(module.name), inspect.isclass):
            if issubclass(cls, Dataset) and cls.__module__.startswith("cnnlab.data"):
                classes.add(cls)
    assert len(classes) >= 7
    missing = [c.__name__ for c in classes - LOADER_WRAPPERS if parts.dispatch(c) is parts.dispatch(Dataset)]
    assert missing == [], f"register a fingerprint in {fingerprints.__name__} for {missing}"
