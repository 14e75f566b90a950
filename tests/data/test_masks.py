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


def all_pairs(data) -> list[tuple[Path, Path]]:
    return [pair for split in (data.splits.train, data.splits.val, data.splits.test) for pair in split.items]


def test_hidden_files_and_links_in_mask_folders(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = write_pairs(tmp_path / "data")
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(root / "images" / ".hidden.png")  # no mask: not data
    (root / "masks" / ".DS_Store").write_bytes(b"\0junk")
    (root / "images" / "again.png").symlink_to("img0.png")  # the same image twice: used once
    (root / "images" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    (root / "masks" / "img1.png").unlink()
    (root / "masks" / "img1.png").symlink_to("img0.png")  # one mask may stand for several images
    data = build_data({**MASKS, "root": str(root)})
    data.setup()
    assert sorted(image.name for image, _ in all_pairs(data)) == [f"img{i}.png" for i in range(8)]
    assert "skipped 1 broken link(s)" in caplog.text and "gone.png" in caplog.text
    assert "again.png (= " in caplog.text


def test_16_bit_index_mask_keeps_its_values(tmp_path: Path) -> None:
    indices = np.array([[0, 1, 2], [300, 2, 1]], np.uint16)
    Image.fromarray(indices).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode == "I;16"
    assert np.array_equal(read_mask(tmp_path / "deep.png"), indices)  # an index, not a brightness: never rescaled
    root = write_pairs(tmp_path / "data", count=4)
    for mask in (root / "masks").iterdir():
        Image.fromarray(np.asarray(Image.open(mask)).astype(np.uint16)).save(mask)
    data = build_data({**MASKS, "root": str(root), "val_fraction": 0.25, "test_fraction": 0.25})
    data.setup()
    _, mask = data.splits.train[0]
    assert set(mask[:40, :40].unique().tolist()) == {0, 1, 2}


def exif_turned(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation  # 6: shown turned 90 degrees clockwise
    return exif


def test_exif_rotated_image_meets_the_mask_drawn_on_it(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    stored = np.zeros((32, 64, 3), np.uint8)
    stored[:, :32] = 250  # left half bright as stored: the top half as shown
    shown = np.zeros((64, 32), np.uint8)
    shown[:32] = 1  # drawn on the image as a viewer shows it
    for i in range(4):
        Image.fromarray(stored).save(root / "images" / f"{i}.jpg", exif=exif_turned(6), quality=95)
        Image.fromarray(shown).save(root / "masks" / f"{i}.png")
    (root / "classes.txt").write_text("dark\nbright\n")
    data = build_data({**MASKS, "root": str(root)})
    data.setup()
    image, mask = data.splits.train[0]
    assert image.shape == (3, 64, 32) and mask.shape == (64, 32)
    assert image[:, mask == 1].mean() > 0.9 and image[:, mask == 0].mean() < 0.1


def test_mask_with_exif_orientation_is_turned_and_keeps_indices(tmp_path: Path) -> None:
    stored = np.array([[0, 1, 2, 3], [3, 3, 0, 0]], np.uint8)
    Image.fromarray(stored, mode="L").save(tmp_path / "turned.png", exif=exif_turned(6))
    assert np.array_equal(read_mask(tmp_path / "turned.png"), np.rot90(stored, k=-1))


def test_missing_test_is_carved_with_a_warning_or_taken_from_val(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_pairs(tmp_path / "train", count=8)
    write_pairs(tmp_path / "val", count=3)
    (tmp_path / "classes.txt").write_text("background\nsquare\nbar\n")
    data = build_data({**MASKS, "root": str(tmp_path)})
    data.setup()
    assert [len(data.splits.train), len(data.splits.val), len(data.splits.test)] == [6, 3, 2]
    assert "data.root has no test/: carved 2 test image/mask pairs from train/ (train 6, val 3, test 2)" in caplog.text
    data = build_data({**MASKS, "root": str(tmp_path), "test_from": "val"})
    data.setup()
    assert [len(data.splits.train), len(data.splits.val), len(data.splits.test)] == [6, 2, 3]
    assert all(image.parent.parent.name == "val" for image, _ in data.splits.test.items)


def test_awkward_names_and_uppercase_extensions(tmp_path: Path) -> None:
    root = write_pairs(tmp_path / "my data (v2)", count=4)
    for i, name in enumerate(["Photo (1)", "café ünï", "\ufeffbom", "a b c"]):
        (root / "images" / f"img{i}.png").rename(root / "images" / f"{name}.PNG")
        (root / "masks" / f"img{i}.png").rename(root / "masks" / f"{name}.PNG")
    data = build_data({**MASKS, "root": str(root), "val_fraction": 0.25, "test_fraction": 0.25})
    data.setup()
    assert len(all_pairs(data)) == 4 and all(image.stem == mask.stem for image, mask in all_pairs(data))
    assert data.splits.train[0][1].shape == (64, 64)


@pytest.mark.parametrize(
    ("setting", "value", "expected"),
    [("val_fraction", 1.0, "data.val_fraction=1.0 is not valid"), ("test_from", "both", "data.test_from=both"),
     ("channels", 4, "data.channels=4 is not valid"), ("split_seed", -1, "data.split_seed=-1 is not valid")],
)  # fmt: skip
def test_settings_are_range_checked(tmp_path: Path, setting: str, value, expected: str) -> None:
    with pytest.raises(CnnlabError, match=expected):
        build_data({**MASKS, "root": str(tmp_path), setting: value})
