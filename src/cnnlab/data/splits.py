"""Seeded, stratified train/val/test splits: of index ranges, and of sub-root layouts (train/ val/ test/) where a
missing split is carved from train/."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
from sklearn.model_selection import train_test_split

from cnnlab.data.files import FileLister, shown
from cnnlab.errors import CnnlabError

log = logging.getLogger(__name__)
SUB_ROOTS = ("train", "val", "test")
Item = TypeVar("Item")


def split_indices(labels: Sequence[int], fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held_out) indices with `fraction` of the samples held out, stratified by label when possible."""
    indices = np.arange(len(labels))
    if fraction <= 0:
        return indices, indices[:0]
    labels = np.asarray(labels)
    _, counts = np.unique(labels, return_counts=True)
    held = math.ceil(round(fraction * len(labels), 9))
    # Stratification needs every class twice and room for each class on both sides; tiny sets are shuffled plainly.
    stratify = labels if counts.min() >= 2 and min(held, len(labels) - held) >= len(counts) else None
    kept, held = train_test_split(indices, test_size=fraction, random_state=seed, stratify=stratify)
    return np.sort(kept), np.sort(held)


def three_way_split(
    labels: Sequence[int], val_fraction: float, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """train/val/test indices; fractions are of the whole set."""
    if val_fraction + test_fraction >= 1:
        raise CnnlabError(
            f"data.val_fraction={val_fraction} and data.test_fraction={test_fraction} leave nothing to train on; "
            "their sum must be below 1"
        )
    rest, test = split_indices(labels, test_fraction, seed)
    val_of_rest = val_fraction / (1 - test_fraction) if test_fraction < 1 else 0.0
    train, val = split_indices(np.asarray(labels)[rest], val_of_rest, seed)
    return rest[train], rest[val], test


def sub_roots(root: Path, lister: FileLister) -> dict[str, Path]:
    """{"train": root/train, ...} for the sub-roots present; {} when root holds the data itself (no train/)."""
    folders = {folder.name: folder for folder in lister.folders(root)}
    if "train" not in folders:
        if "val" in folders or "test" in folders:
            raise CnnlabError(
                f"data.root: {root} has val/ or test/ but no train/; put the training data in {root}/train"
            )
        return {}
    others = sorted(set(folders) - set(SUB_ROOTS))
    if others:
        log.warning("data.root: %s has train/; its other folders are not read: %s", root, shown(others))
    return {split: folders[split] for split in SUB_ROOTS if split in folders}


def plan_splits(
    listed: dict[str, list[Item]],
    labels: Callable[[list[Item]], Sequence[int]],
    *,
    val_fraction: float,
    test_fraction: float,
    test_from: str,
    seed: int,
    noun: str,
) -> tuple[list[Item], list[Item], list[Item]]:
    """train, val and test items: sub-roots (listed["val"], listed["test"]) as given, a missing one carved from
    listed["train"] by its fraction of train/ (test_from=val: val/ is the test split, validation is carved)."""
    train, val, test = listed["train"], listed.get("val"), listed.get("test")
    if test is None and test_from == "val":
        if val is None:
            raise CnnlabError("data.test_from=val but data.root has no val/; add val/ or set data.test_from=train")
        test, val = val, None
    if test is None and val is None and val_fraction + test_fraction >= 1:
        raise CnnlabError(
            f"data.val_fraction={val_fraction} + data.test_fraction={test_fraction} leaves nothing to train on; "
            "lower one of them (together below 1)"
        )
    total, warn_carved = len(train), test is None and val is not None  # the common train/ + val/ layout: say so
    if test is None:
        train, test = _carve(train, labels, _count(test_fraction, total), seed, f"data.test_fraction={test_fraction}")
    if val is None:
        train, val = _carve(train, labels, _count(val_fraction, total), seed, f"data.val_fraction={val_fraction}")
    if warn_carved:
        log.warning(
            "data.root has no test/: carved %d test %s from train/ (train %d, val %d, test %d); set data.test_from=val "
            "to test on val/", len(test), noun, len(train), len(val), len(test),
        )  # fmt: skip
    return train, val, test


def _count(fraction: float, total: int) -> int:
    return math.ceil(round(fraction * total, 9))  # as sklearn counts a fraction, less float noise (0.1 * 30)


def _carve(
    items: list[Item], labels: Callable[[list[Item]], Sequence[int]], count: int, seed: int, setting: str
) -> tuple[list[Item], list[Item]]:
    """(kept, held out): `count` items held out, stratified by label when the classes allow it."""
    if count == 0:
        return items, []
    if count >= len(items):
        raise CnnlabError(
            f"{setting} takes all {len(items)} remaining training sample(s) of data.root, leaving none to train on; "
            "add data or lower the fraction"
        )
    fraction = (count - 0.25) / len(items)  # sklearn holds out ceil(fraction * n): exactly `count`
    kept, held = split_indices(labels(items), fraction, seed)
    return [items[i] for i in kept], [items[i] for i in held]
