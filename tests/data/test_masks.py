"""data=masks: index and palette PNGs round-trip, image and mask stay aligned, bad masks are named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab.data import build_data
from cnnlab.data.segmentation import read_mask
from cnnlab.data.transforms import build_transforms
from cnnlab.errors import CnnlabError

MASKS = {
    "name": "masks", "batch_size": 2, "num_workers": 0, "channels": 3, "ignore_index": 255,
    "image_size": None, "crop_size": None, "val_fraction": 0.25, "test_fraction": 0.25, "split_seed": 0,
    "normalize": {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}, "augment": [],
}  # fmt: skip
VOC_PALETTE = [0, 0, 0, 128, 0, 0, 0, 128, 0] + [0] * (3 * 252) + [224, 224, 192]


def write_pairs(root: Path, count: int = 8, size: int = 40) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir(parents=True)
    for i in range(count):
        mask = np.zeros((size, size), np.uint8)
        mask[5:20, 5 + i : 25 + i] = 1
        mask[25:35, 10:30] = 2
        Image.fromarray(np.stack([mask * 100] * 3, axis=-1)).save(root / "images" / f"img{i}.png")
        Image.fromarray(mask).save(root / "masks" / f"img{i}.png")
    (root / "classes.txt").write_text("background\nsquare\nbar\n")
    return root


def test_index_and_palette_masks_round_trip(tmp_path: Path) -> None:
    indices = np.array([[0, 1, 2], [2, 1, 255]], np.uint8)
    Image.fromarray(indices, mode="L").save(tmp_path / "index.png")
    palette = Image.fromarray(indices, mode="P")
    palette.putpalette(VOC_PALETTE)
    palette.save(tmp_path / "palette.png")
    assert np.array_equal(read_mask(tmp_path / "index.png"), indices)
    assert np.array_equal(read_mask(tmp_path / "palette.png"), indices)  # VOC style: the palette index is the class


def test_rgb_masks_need_a_palette(tmp_path: Path) -> None:
    colours = np.array([[[0, 0, 0], [255, 0, 0]], [[0, 255, 0], [255, 0, 0]]], np.uint8)
    Image.fromarray(colours).save(tmp_path / "rgb.png")
    assert read_mask(tmp_path / "rgb.png", [[0, 0, 0], [255, 0, 0], [0, 255, 0]]).tolist() == [[0, 1], [2, 1]]
    with pytest.raises(CnnlabError, match=r"rgb.png: RGB mask; .* set data.palette"):
        read_mask(tmp_path / "rgb.png")
    with pytest.raises(CnnlabError, match=r"rgb.png: colour \(0, 255, 0\) at \(0, 1\) is not in data.palette"):
        read_mask(tmp_path / "rgb.png", [[0, 0, 0], [255, 0, 0]])


def test_folder_loads_pads_to_32_and_splits(tmp_path: Path) -> None:
    data = build_data({**MASKS, "root": str(write_pairs(tmp_path))})
    facts = data.facts()
    assert facts["class_names"] == ["background", "square", "bar"] and facts["ignore_index"] == 255
    assert [len(data.splits.train), len(data.splits.val), len(data.splits.test)] == [4, 2, 2]
    image, mask = data.splits.val[0]
    assert image.shape == (3, 64, 64) and mask.shape == (64, 64) and mask.dtype == torch.int64
    assert (mask[40:, :] == 255).all() and (mask[:, 40:] == 255).all()  # padding is ignored, not background
    assert set(mask[:40, :40].unique().tolist()) == {0, 1, 2}


def test_image_and_mask_stay_aligned_under_augmentation() -> None:
    """An asymmetric pattern whose class is written in the pixel value must survive every spatial transform."""
    mask = np.zeros((48, 40), np.uint8)
    mask[2:30, 3:9] = 1  # an L: tall bar ...
    mask[24:30, 3:25] = 2  # ... and a foot; no flip or rotation maps it onto itself
    image = np.stack([mask * 80] * 3, axis=-1).astype(np.uint8)
    augment = [
        {"HorizontalFlip": {"p": 0.5}}, {"VerticalFlip": {"p": 0.5}}, {"RandomRotate90": {"p": 0.5}},
        {"Transpose": {"p": 0.5}}, {"ColorJitter": {"brightness": 0.0, "contrast": 0.0, "saturation": 0.0, "p": 0.5}},
    ]  # fmt: skip
    pipeline = build_transforms(
        augment=augment, normalize={"mean": [0, 0, 0], "std": [1, 1, 1]}, image_size=None, train=True,
        seed=0, crop_size=32, size_multiple=32, mask_fill=255,
    )  # fmt: skip
    moved = 0
    for _ in range(20):
        out = pipeline(image=image, mask=mask)
        seen = out["mask"].numpy()
        decoded = np.rint(out["image"][0].numpy() * 255 / 80).astype(int)
        labelled = seen != 255
        assert np.array_equal(decoded[labelled], seen[labelled])
        moved += not np.array_equal(seen[:32, :32], mask[:32, :32])
    assert moved > 0


def test_missing_mask_is_named(tmp_path: Path) -> None:
    root = write_pairs(tmp_path)
    (root / "masks" / "img3.png").unlink()
    with pytest.raises(CnnlabError, match=r"masks/img3.png: missing mask for image .*images/img3.png"):
        build_data({**MASKS, "root": str(root)}).setup()


def test_wrong_size_mask_is_named(tmp_path: Path) -> None:
    root = write_pairs(tmp_path, count=4)
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(root / "masks" / "img0.png")
    splits = build_data({**MASKS, "root": str(root), "val_fraction": 0.0, "test_fraction": 0.0}).load_splits()
    index = [p[1].name for p in splits.train.items].index("img0.png")
    with pytest.raises(CnnlabError, match=r"img0.png: mask is 12x10 but its image is 40x40"):
        splits.train[index]


def test_mask_value_out_of_range_is_named(tmp_path: Path) -> None:
    root = write_pairs(tmp_path, count=4)
    bad = np.zeros((40, 40), np.uint8)
    bad[0, 0] = 7
    Image.fromarray(bad).save(root / "masks" / "img1.png")
    splits = build_data({**MASKS, "root": str(root), "val_fraction": 0.0, "test_fraction": 0.0}).load_splits()
    index = [p[1].name for p in splits.train.items].index("img1.png")
    with pytest.raises(CnnlabError, match=r"img1.png: mask value 7 is outside the 3 classes \(0..2, 255 = ignore\)"):
        splits.train[index]


def test_class_names_are_required(tmp_path: Path) -> None:
    root = write_pairs(tmp_path)
    (root / "classes.txt").unlink()
    with pytest.raises(CnnlabError, match="data.class_names is not set and .*classes.txt does not exist"):
        build_data({**MASKS, "root": str(root)}).setup()
    assert build_data({**MASKS, "root": str(root), "class_names": ["a", "b", "c"]}).facts()["num_classes"] == 3
