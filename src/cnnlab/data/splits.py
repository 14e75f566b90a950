"""Seeded, stratified train/val/test splits of index ranges."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import train_test_split

from cnnlab.errors import CnnlabError


def split_indices(labels: Sequence[int], fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held_out) indices with `fraction` of the samples held out, stratified by label when possible."""
    indices = np.arange(len(labels))
    if fraction <= 0:
        return indices, indices[:0]
    labels = np.asarray(labels)
    _, counts = np.unique(labels, return_counts=True)
    # Stratification needs two samples per class on each side; tiny folders fall back to a plain shuffle.
    stratify = labels if counts.min() >= 2 and round(fraction * len(labels)) >= len(counts) else None
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
