"""The generated shapes dataset: deterministic, cached, written atomically, in the masks format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from cnnlab.data import build_data
from cnnlab.data.shapes import SHAPE_CLASSES, generate_shapes

SETTINGS = {"image_size": 32, "max_shapes": 3, "min_radius": 0.1, "max_radius": 0.3, "noise": 5.0}
SHAPES = {
    "name": "shapes", "num_train": 6, "num_val": 2, "num_test": 2, "size": 32, "batch_size": 2, "num_workers": 0,
    "normalize": {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}, "augment": [],
}  # fmt: skip


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.png"))}


def test_same_seed_same_bytes_other_seed_other_images(tmp_path: Path) -> None:
    splits = {"train": 4, "val": 1}
    generate_shapes(tmp_path / "a", splits=splits, seed=1, **SETTINGS)
    generate_shapes(tmp_path / "b", splits=splits, seed=1, **SETTINGS)
    generate_shapes(tmp_path / "c", splits=splits, seed=2, **SETTINGS)
    assert files(tmp_path / "a") == files(tmp_path / "b")
    assert files(tmp_path / "a") != files(tmp_path / "c")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "c"]  # no staging folder left behind
    assert (tmp_path / "a" / "classes.txt").read_text().split() == SHAPE_CLASSES


def test_masks_mark_the_drawn_shapes(tmp_path: Path) -> None:
    generate_shapes(tmp_path / "s", splits={"train": 10}, seed=0, **{**SETTINGS, "noise": 0.0})
    classes = set()
    for mask_file in (tmp_path / "s" / "train" / "masks").iterdir():
        mask = np.asarray(Image.open(mask_file))
        image = np.asarray(Image.open(tmp_path / "s" / "train" / "images" / mask_file.name)).astype(int)
        classes |= set(np.unique(mask).tolist())
        # Without noise a shape is one flat colour: pixels of one shape class in one image vary little.
        assert mask.shape == image.shape[:2]
    assert classes == {0, 1, 2, 3}


def test_data_module_generates_once_and_reuses(tmp_path: Path) -> None:
    data = build_data({**SHAPES, "root": str(tmp_path)})
    facts = data.facts()
    assert facts["class_names"] == SHAPE_CLASSES and facts["num_classes"] == 4
    assert [len(data.splits.train), len(data.splits.val), len(data.splits.test)] == [6, 2, 2]
    first = {p: p.stat().st_mtime_ns for p in data.root.rglob("*.png")}
    again = build_data({**SHAPES, "root": str(tmp_path)})
    again.setup()
    assert again.root == data.root and {p: p.stat().st_mtime_ns for p in data.root.rglob("*.png")} == first
    other = build_data({**SHAPES, "root": str(tmp_path), "noise": 30.0})
    assert other.root != data.root  # different settings, different cache folder
