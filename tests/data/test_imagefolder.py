"""data=imagefolder on generated PNG folders: flat class folders, train/val/test sub-roots, bad layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnlab.data import build_data
from cnnlab.errors import CnnlabError
from tests.conftest import write_image_folder

FOLDER = {
    "name": "imagefolder", "channels": 3, "image_size": 16, "batch_size": 4, "num_workers": 0,
    "val_fraction": 0.2, "test_fraction": 0.2, "split_seed": 0,
    "normalize": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}, "augment": [{"HorizontalFlip": {"p": 0.5}}],
}  # fmt: skip


def test_flat_folder_is_split_by_seed(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "pets", {"cat": 10, "dog": 10})
    data = build_data({**FOLDER, "root": str(root)})
    facts = data.facts()
    assert facts["num_classes"] == 2 and facts["class_names"] == ["cat", "dog"]
    assert facts["in_channels"] == 3 and facts["image_size"] == (16, 16)
    sizes = [len(data.splits.train), len(data.splits.val), len(data.splits.test)]
    assert sizes == [12, 4, 4]
    paths = [set(s.paths) for s in (data.splits.train, data.splits.val, data.splits.test)]
    assert not (paths[0] & paths[1] or paths[0] & paths[2] or paths[1] & paths[2])
    images, labels = next(iter(data.train_dataloader()))
    assert images.shape == (4, 3, 16, 16)


def test_sub_roots_are_used_as_given(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "train", {"a": 4, "b": 4})
    write_image_folder(tmp_path / "val", {"a": 2, "b": 1})
    write_image_folder(tmp_path / "test", {"b": 3})  # a split may lack a class
    data = build_data({**FOLDER, "root": str(tmp_path)})
    data.setup()
    assert [len(data.splits.train), len(data.splits.val), len(data.splits.test)] == [8, 3, 3]
    assert data.splits.test.labels.tolist() == [1, 1, 1]


def test_grayscale_files_are_converted_to_rgb(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path, {"a": 5, "b": 5})
    Image.fromarray(np.full((20, 20), 128, np.uint8), mode="L").save(root / "a" / "gray.png")
    data = build_data({**FOLDER, "root": str(root), "test_fraction": 0.0, "val_fraction": 0.0})
    with pytest.raises(CnnlabError, match="the val split is empty"):
        data.setup()
    data = build_data({**FOLDER, "root": str(root)})
    data.setup()
    everything = [*data.splits.train.paths, *data.splits.val.paths, *data.splits.test.paths]
    gray = [s for s in (data.splits.train, data.splits.val, data.splits.test) if root / "a" / "gray.png" in s.paths][0]
    image, _ = gray[gray.paths.index(root / "a" / "gray.png")]
    assert len(everything) == 11 and image.shape == (3, 16, 16)


def test_missing_root_and_empty_class_are_named(tmp_path: Path) -> None:
    with pytest.raises(CnnlabError, match="data.root=.*nowhere is not a folder"):
        build_data({**FOLDER, "root": str(tmp_path / "nowhere")}).setup()
    write_image_folder(tmp_path / "x", {"a": 3})
    (tmp_path / "x" / "empty").mkdir()
    with pytest.raises(CnnlabError, match="empty"):
        build_data({**FOLDER, "root": str(tmp_path / "x")}).setup()


def test_unreadable_image_is_named(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path, {"a": 4, "b": 4})
    (root / "a" / "broken.png").write_bytes(b"not a png")
    data = build_data({**FOLDER, "root": str(root), "augment": []})
    data.setup()
    split = next(
        s for s in (data.splits.train, data.splits.val, data.splits.test) if root / "a" / "broken.png" in s.paths
    )
    with pytest.raises(CnnlabError, match=r"broken.png: cannot read image"):
        split[split.paths.index(root / "a" / "broken.png")]
