"""The embedded digits data: fixed, disjoint, stratified splits of real scikit-learn digits."""

from __future__ import annotations

import numpy as np
import torch

from cnnlab.data import build_data

DIGITS = {
    "name": "digits", "batch_size": 32, "num_workers": 0, "image_size": None,
    "normalize": {"mean": [0.5], "std": [0.5]}, "augment": [],
}  # fmt: skip


def test_splits_are_disjoint_complete_and_fixed() -> None:
    first, second = build_data(DIGITS), build_data({**DIGITS, "batch_size": 8})
    first.setup(), second.setup()
    sizes = [len(first.splits.train), len(first.splits.val), len(first.splits.test)]
    assert sum(sizes) == 1797 and sizes == [1257, 270, 270]
    images = [np.stack([s[i][0].numpy() for i in range(len(s))]) for s in (first.splits.train, first.splits.test)]
    assert torch.equal(first.splits.test[5][0], second.splits.test[5][0])
    # No test image also sits in train (digits holds a handful of exact duplicates, so compare few).
    train_rows = {row.tobytes() for row in images[0]}
    assert sum(row.tobytes() in train_rows for row in images[1]) <= 3


def test_facts_describe_the_data() -> None:
    data = build_data(DIGITS)
    facts = data.facts()
    counts = facts.pop("class_counts")  # of the training split, per class: stratified: as even as the data
    assert sum(counts) == len(data.splits.train) and len(counts) == 10 and max(counts) - min(counts) <= 10
    assert facts == {
        "num_classes": 10, "class_names": [str(i) for i in range(10)], "in_channels": 1, "image_size": (8, 8),
        "normalize": {"mean": [0.5], "std": [0.5]},
    }  # fmt: skip


def test_every_class_is_in_every_split() -> None:
    data = build_data(DIGITS)
    data.setup()
    for split in (data.splits.train, data.splits.val, data.splits.test):
        assert set(split.labels.tolist()) == set(range(10))


def test_batches_are_normalised_tensors() -> None:
    data = build_data(DIGITS)
    data.setup()
    images, labels = next(iter(data.train_dataloader()))
    assert images.shape == (32, 1, 8, 8) and images.dtype == torch.float32
    assert images.min() >= -1.01 and images.max() <= 1.01
    assert labels.dtype == torch.int64
