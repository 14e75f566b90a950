"""The image, mask and folder readers: examples for each kind of file that used to be read wrong, then property-based
fuzzing (hypothesis) whose only allowed outcomes are a correct dataset or a one-line CnnlabError naming the file or
setting at fault."""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from PIL import Image

from cnnlab.data import build_data
from cnnlab.data.bad_samples import BadSamples, SkippingDataset
from cnnlab.data.datasets import ImageFileDataset, read_image
from cnnlab.errors import CnnlabError

# Few examples keep the suite fast; CNNLAB_FUZZ_EXAMPLES=1000 searches harder. No example database: nothing is
# written into the work tree, and each run is independent.
FUZZ = settings(max_examples=int(os.environ.get("CNNLAB_FUZZ_EXAMPLES", "25")), deadline=None, database=None)


@dataclass(frozen=True)
class Spec:
    """A uniform image: its PIL mode, its pixel value in that mode, its size and file extension."""

    mode: str
    value: object
    width: int = 3
    height: int = 2
    ext: str = ".png"

    def image(self) -> Image.Image:
        if self.mode == "P":
            (r, g, b), transparent = self.value
            image = Image.new("P", (self.width, self.height), 1)
            image.putpalette([0, 0, 0, r, g, b] + [0] * 762)
            if transparent:
                image.info["transparency"] = 1
            return image
        dtype = {"I;16": np.uint16, "I": np.int32, "F": np.float32}.get(self.mode)
        if dtype is not None:
            return Image.fromarray(np.full((self.height, self.width), self.value, dtype))
        return Image.new(self.mode, (self.width, self.height), self.value)

    def save(self, path: Path) -> Path:
        image = self.image()
        image.save(path, **({"transparency": 1} if "transparency" in image.info else {}))
        return path

    def expected_rgb(self) -> tuple[int, int, int] | None:
        """What a viewer shows on a white page; None where the file must be refused (pixels out of range)."""
        mode, value = self.mode, self.value
        if mode in ("I;16", "I"):
            return (round(value / 257),) * 3 if 0 <= value <= 65535 else None
        if mode == "F":
            return (round(value * 255),) * 3 if 0 <= value <= 1 else None
        if mode in ("RGBA", "LA"):
            *colour, alpha = value if mode == "RGBA" else (value[0],) * 3 + (value[1],)
            return tuple(round(c * alpha / 255 + 255 * (1 - alpha / 255)) for c in colour)
        if mode == "P":
            return (255, 255, 255) if value[1] else value[0]
        return Image.new(mode, (1, 1), value).convert("RGB").getpixel((0, 0))

    def tolerance(self) -> int:
        return 6 if self.ext.lower() in (".jpg", ".jpeg") else 1


def luma(rgb: tuple[int, int, int]) -> int:
    return round((rgb[0] * 299 + rgb[1] * 587 + rgb[2] * 114) / 1000)  # PIL's RGB -> L


def assert_one_line_naming(err: CnnlabError, *names: object) -> None:
    message = str(err)
    assert "\n" not in message and any(str(name) in message for name in names), message


# -- examples, one per kind of file that was read wrong --------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "gray"),
    [(Spec("I;16", 5140), 20), (Spec("I;16", 65535), 255), (Spec("I", 5140, ext=".tif"), 20),
     (Spec("F", 0.2, ext=".tif"), 51), (Spec("F", 1.0, ext=".tiff"), 255)],
)  # fmt: skip
def test_deep_pixels_are_scaled_not_saturated(tmp_path: Path, spec: Spec, gray: int) -> None:
    path = spec.save(tmp_path / f"dark{spec.ext}")
    assert (read_image(path, "RGB") == gray).all() and (read_image(path, "L") == gray).all()


def test_big_endian_16_bit_is_scaled(tmp_path: Path) -> None:
    image = Image.frombytes("I;16B", (3, 2), np.full((2, 3), 5140, ">u2").tobytes())
    image.save(tmp_path / "big.tif")
    assert Image.open(tmp_path / "big.tif").mode == "I;16B" and (read_image(tmp_path / "big.tif", "L") == 20).all()


@pytest.mark.parametrize(
    ("spec", "expected"),
    [(Spec("I", 70000, ext=".tif"), "pixel values run from 70000 to 70000, outside 16 bits"),
     (Spec("I", -3, ext=".tif"), "outside 16 bits"), (Spec("F", 3.5, ext=".tif"), "float pixels run from 3.5"),
     (Spec("F", float("nan"), ext=".tif"), "outside 0..1")],
)  # fmt: skip
def test_pixels_out_of_range_are_refused_naming_the_file(tmp_path: Path, spec: Spec, expected: str) -> None:
    path = spec.save(tmp_path / f"odd{spec.ext}")
    with pytest.raises(CnnlabError, match=expected) as caught:
        read_image(path, "RGB")
    assert_one_line_naming(caught.value, path)


@pytest.mark.parametrize(
    "spec",
    [Spec("P", ((10, 20, 30), True)), Spec("P", ((10, 20, 30), False)), Spec("LA", (100, 0)), Spec("LA", (100, 255)),
     Spec("RGBA", (0, 0, 0, 128)), Spec("CMYK", (0, 0, 0, 200), ext=".tif"), Spec("1", 1), Spec("1", 0, ext=".bmp")],
)  # fmt: skip
def test_other_modes_read_as_a_viewer_shows_them(tmp_path: Path, spec: Spec) -> None:
    path = spec.save(tmp_path / f"image{spec.ext}")
    rgb, gray = read_image(path, "RGB"), read_image(path, "L")
    assert rgb.shape == (2, 3, 3) and gray.shape == (2, 3, 1)
    assert np.abs(rgb.astype(int) - spec.expected_rgb()).max() <= 1
    assert np.abs(gray.astype(int) - luma(spec.expected_rgb())).max() <= 1


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    stored = np.zeros((10, 20, 3), np.uint8)
    stored[:, 10:] = 250  # right half bright as stored; shown turned 90 degrees clockwise: the bottom half
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    shown = read_image(tmp_path / "phone.jpg", "L")[..., 0]
    assert shown.shape == (20, 10) and shown[:8].mean() < 10 and shown[12:].mean() > 240


def test_decompression_bomb_is_a_skippable_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # PIL refuses images over twice this: 200 pixels
    Image.new("L", (16, 16)).save(tmp_path / "huge.png")
    Image.new("L", (8, 8), 90).save(tmp_path / "small.png")
    with pytest.raises(CnnlabError, match=r"huge.png: cannot read image: .* downscale the file or remove it") as caught:
        read_image(tmp_path / "huge.png", "RGB")
    assert_one_line_naming(caught.value, tmp_path / "huge.png")
    untransformed = lambda image: {"image": image}  # noqa: E731
    dataset = ImageFileDataset([tmp_path / "huge.png", tmp_path / "small.png"], [0, 1], untransformed, channels=1)
    image, label = SkippingDataset(dataset, BadSamples("skip"))[0]
    assert label == 1 and (image == 90).all()


# -- fuzzing ---------------------------------------------------------------------------------------------------------

AWKWARD = ["cat", "Dog (2)", "café ünï", "\ufeffbom", "a b", "UPPER"]
SIDES = st.integers(1, 4)
EXTENSIONS = {"L": [".png", ".PNG", ".bmp", ".gif", ".pgm", ".jpg"], "RGB": [".png", ".ppm", ".TIFF", ".JPG"],
              "RGBA": [".png"], "LA": [".png"], "P": [".png", ".gif"], "1": [".png", ".bmp"],
              "I;16": [".png", ".tif"], "I": [".tif"], "F": [".tif", ".TIF"], "CMYK": [".tif"]}  # fmt: skip
BYTE = st.integers(0, 255)
VALUES = {"L": BYTE, "RGB": st.tuples(BYTE, BYTE, BYTE), "RGBA": st.tuples(BYTE, BYTE, BYTE, BYTE),
          "LA": st.tuples(BYTE, BYTE), "P": st.tuples(st.tuples(BYTE, BYTE, BYTE), st.booleans()),
          "1": st.integers(0, 1), "I;16": st.integers(0, 65535), "I": st.integers(-10, 70000),
          "F": st.floats(-0.25, 1.25, width=32), "CMYK": st.tuples(BYTE, BYTE, BYTE, BYTE)}  # fmt: skip


@st.composite
def specs(draw: st.DrawFn, modes: tuple[str, ...] = tuple(VALUES)) -> Spec:
    mode = draw(st.sampled_from(modes))
    return Spec(mode, draw(VALUES[mode]), draw(SIDES), draw(SIDES), draw(st.sampled_from(EXTENSIONS[mode])))


def check_pixels(pixels: np.ndarray, spec: Spec, channels: int) -> None:
    rgb = spec.expected_rgb()
    expected = rgb if channels == 3 else (luma(rgb),)
    assert pixels.shape[-1] == channels and np.abs(pixels.astype(int) - expected).max() <= spec.tolerance(), spec


@FUZZ
@given(spec=specs())
def test_read_image_scales_or_refuses(spec: Spec) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = spec.save(Path(folder) / f"x (1) ünï{spec.ext}")
        for mode, channels in (("RGB", 3), ("L", 1)):
            if spec.expected_rgb() is None:
                with pytest.raises(CnnlabError) as caught:
                    read_image(path, mode)
                assert_one_line_naming(caught.value, path)
            else:
                pixels = read_image(path, mode)
                assert pixels.shape[:2] == (spec.height, spec.width) and pixels.dtype == np.uint8
                check_pixels(pixels, spec, channels)


FOLDER = {"name": "imagefolder", "image_size": 4, "batch_size": 1, "num_workers": 0, "val_fraction": 0.25,
          "test_fraction": 0.25, "augment": []}  # fmt: skip
EXTRAS = ("hidden", "junk", "fake_image", "loop", "broken_link", "repeat_link", "cross_link", "extra_class",
          "empty_class")  # fmt: skip


@dataclass
class Tree:
    """An image folder to write: split -> class -> images (one split, "train", for a flat folder), and extras."""

    splits: dict[str, dict[str, list[Spec]]]
    flat: bool
    extras: frozenset[str]
    channels: int
    test_from: str


@st.composite
def trees(draw: st.DrawFn) -> Tree:
    classes = draw(st.lists(st.sampled_from(AWKWARD), min_size=1, max_size=3, unique=True))
    flat = draw(st.booleans())
    present = ["train"] + ([] if flat else draw(st.lists(st.sampled_from(["val", "test"]), unique=True)))
    images = specs(("L", "RGB", "I;16", "F", "RGBA", "P"))
    splits = {"train": {name: draw(st.lists(images, min_size=1, max_size=3)) for name in classes}}
    for split in present[1:]:
        subset = draw(st.lists(st.sampled_from(classes), min_size=1, unique=True))
        splits[split] = {name: draw(st.lists(images, min_size=1, max_size=2)) for name in subset}
    extras = frozenset(draw(st.lists(st.sampled_from(EXTRAS), max_size=3)))
    test_from = draw(st.sampled_from(["train", "train", "val"]))  # val needs val/: mostly the default
    return Tree(splits, flat, extras, draw(st.sampled_from([1, 3])), test_from)


def write_tree(root: Path, tree: Tree) -> tuple[dict[Path, tuple[str, Spec | None]], bool]:
    """Writes the folder; returns {real image file: (its class, its spec; None: not an image)} and whether an image
    is linked into a second class (which must be refused)."""
    real: dict[Path, tuple[str, Spec | None]] = {}
    for split, classes in tree.splits.items():
        for name, images in classes.items():
            folder = root / ("" if tree.flat else split) / name
            folder.mkdir(parents=True)
            for i, spec in enumerate(images):
                real[spec.save(folder / f"{AWKWARD[i % len(AWKWARD)]} ({i}){spec.ext}").resolve()] = (name, spec)
    train = root if tree.flat else root / "train"
    first = next(iter(tree.splits["train"]))
    write_extras(train / first, tree.extras, root)
    if "fake_image" in tree.extras:
        real[(train / first / "fake.png").resolve()] = (first, None)
    target = next((path for path, (name, _) in real.items() if name == first), None)
    if "repeat_link" in tree.extras and target is not None:
        split = [s for s, classes in tree.splits.items() if first in classes][-1]  # another split where it can be
        (root / ("" if tree.flat else split) / first / "again.png").symlink_to(target)
    crossed = "cross_link" in tree.extras and target is not None and len(tree.splits["train"]) > 1
    if crossed:
        (train / list(tree.splits["train"])[1] / "cross.png").symlink_to(target)
    if "empty_class" in tree.extras:
        (train / "zz empty").mkdir()
    if "extra_class" in tree.extras and len(tree.splits) > 1:
        (root / list(tree.splits)[1] / "stranger").mkdir()
        Spec("L", 9).save(root / list(tree.splits)[1] / "stranger" / "x.png")
    return real, crossed


def write_extras(folder: Path, extras: frozenset[str], root: Path) -> None:
    """What is not data, in and beside a class folder: hidden things, junk, links round a loop or to nowhere."""
    if "hidden" in extras:
        (folder.parent / ".ipynb_checkpoints").mkdir()
        Spec("L", 9).save(folder.parent / ".ipynb_checkpoints" / "x.png")
        Spec("L", 9).save(folder / ".hidden.png")
    if "junk" in extras:
        (folder / "notes.txt").write_text("not data")
        (folder / "Thumbs.db").write_bytes(b"\0\1")
    if "fake_image" in extras:
        (folder / "fake.png").write_bytes(b"these are notes, not pixels")
    if "loop" in extras:
        (folder / "loop").symlink_to(".")
    if "broken_link" in extras:
        (folder / "gone.png").symlink_to(root / "nowhere.png")


def expect_setup_error(tree: Tree, real: dict[Path, tuple[str, Spec | None]], crossed: bool, root: Path) -> bool:
    """Whether this tree must be refused before any image is read (the rules users are told, as an oracle)."""
    split_of = {path: path.relative_to(root.resolve()).parts[0] for path in real}
    counts = {s: sum(1 for p in real if tree.flat or split_of[p] == s) for s in ("train", "val", "test")}
    if crossed or "empty_class" in tree.extras:
        return True  # an image in two classes, or a class folder without images
    if "extra_class" in tree.extras and len(tree.splits) > 1:
        return True
    given = [s for s in ("val", "test") if s in tree.splits]
    if any(counts[s] == 0 for s in given):
        return True
    if "test" not in given and tree.test_from == "val" and "val" not in given:
        return True
    carved = 2 - len(given) if tree.test_from == "train" or "test" in given else 1  # test_from=val: val/ is tested
    left = counts["train"]
    for _ in range(carved):
        count = math.ceil(0.25 * counts["train"])
        if count >= left:
            return True
        left -= count
    return False


def check_sample(dataset, index: int, path: Path, spec: Spec | None, channels: int) -> None:
    if spec is None or spec.expected_rgb() is None:
        with pytest.raises(CnnlabError) as caught:
            dataset[index]
        assert_one_line_naming(caught.value, path)
        return
    image = dataset[index][0]
    assert image.shape == (channels, 4, 4)
    check_pixels((image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), spec, channels)


@FUZZ
@given(tree=trees())
def test_image_folders_read_right_or_refuse_in_one_line(tree: Tree) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "data (1)"
        real, crossed = write_tree(root, tree)
        normalize = {"mean": [0.0] * tree.channels, "std": [1.0] * tree.channels}
        data = build_data({**FOLDER, "root": str(root), "channels": tree.channels, "test_from": tree.test_from,
                           "normalize": normalize})  # fmt: skip
        must_fail = expect_setup_error(tree, real, crossed, root)
        try:
            data.setup()
        except CnnlabError as err:
            assert must_fail, err
            assert_one_line_naming(err, root, "data.")
            event("refused: " + " ".join(w for w in str(err).split() if "/" not in w)[:60])  # the kind, less paths
            return
        assert not must_fail
        event("read")
        splits = data.splits
        assert splits.class_names == sorted(tree.splits["train"])
        listed = [(p, label, split) for split in (splits.train, splits.val, splits.test)
                  for p, label in zip(split.paths, split.labels, strict=True)]  # fmt: skip
        assert sorted(p.resolve() for p, _, _ in listed) == sorted(real)  # every real image, exactly once
        for path, label, split in listed:
            name, spec = real[path.resolve()]
            assert splits.class_names[label] == name
            check_sample(split, split.paths.index(path), path, spec, tree.channels)


MASKS = {"name": "masks", "class_names": ["background", "road", "car"], "batch_size": 1, "num_workers": 0,
         "image_size": None, "crop_size": None, "val_fraction": 0.25, "test_fraction": 0.25, "augment": []}  # fmt: skip
MASK_EXTRAS = ("hidden", "junk", "repeat_link", "broken_link", "missing_mask", "shared_mask")


@dataclass
class Pair:
    image: Spec
    mask: np.ndarray  # class indices, the image's height x width
    mask_mode: str  # how the mask PNG stores them: L, P or I;16


@st.composite
def pairs(draw: st.DrawFn) -> Pair:
    image = draw(specs(("L", "RGB", "I;16", "F", "RGBA")))
    values = st.integers(0, 2) | st.just(7)  # 7: outside the three classes, refused when read
    mask = np.array(draw(st.lists(values, min_size=image.width * image.height, max_size=image.width * image.height)))
    return Pair(image, mask.reshape(image.height, image.width), draw(st.sampled_from(["L", "P", "I;16"])))


def write_pair(folder: Path, stem: str, pair: Pair) -> None:
    pair.image.save(folder / "images" / f"{stem}{pair.image.ext}")
    dtype = np.uint16 if pair.mask_mode == "I;16" else np.uint8
    mask = Image.fromarray(pair.mask.astype(dtype))
    if pair.mask_mode == "P":
        mask = mask.convert("P")
        mask.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [9] * 759)
    mask.save(folder / "masks" / f"{stem}{'.PNG' if pair.image.ext.isupper() else '.png'}")


@FUZZ
@given(flat=st.booleans(), train=st.lists(pairs(), min_size=3, max_size=5),
       others=st.lists(st.lists(pairs(), min_size=1, max_size=2), max_size=2),
       extras=st.lists(st.sampled_from(MASK_EXTRAS), max_size=3), channels=st.sampled_from([1, 3]))  # fmt: skip
def test_mask_folders_read_right_or_refuse_in_one_line(flat: bool, train, others, extras, channels: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "masks (1)"
        written: dict[Path, Pair] = {}
        for split, items in zip(["train"] if flat else ["train", "val", "test"], [train, *others], strict=False):
            where = root / ("" if flat else split)
            (where / "images").mkdir(parents=True)
            (where / "masks").mkdir()
            for i, pair in enumerate(items):
                write_pair(where, f"{AWKWARD[i % len(AWKWARD)]} ({i})", pair)
                written[(where / "images" / f"{AWKWARD[i % len(AWKWARD)]} ({i}){pair.image.ext}").resolve()] = pair
        train, first = root if flat else root / "train", next(iter(written))
        if "hidden" in extras:
            Spec("L", 9).save(train / "images" / ".hidden.png")  # no mask: must not be looked for
        if "junk" in extras:
            (train / "masks" / ".DS_Store").write_bytes(b"\0")
            (train / "images" / "notes.txt").write_text("not data")
        if "repeat_link" in extras:
            (train / "images" / f"again{first.suffix}").symlink_to(first)
        if "broken_link" in extras:
            (train / "images" / "gone.png").symlink_to(root / "nowhere.png")
        if "shared_mask" in extras:
            written[first].image.save(train / "images" / f"shared{first.suffix}")  # one mask linked for two
            (train / "masks" / "shared.png").symlink_to(next((train / "masks").glob(f"{AWKWARD[0]} (0).*")))
            written[(train / "images" / f"shared{first.suffix}").resolve()] = written[first]
        if "missing_mask" in extras:
            next((train / "masks").glob(f"{AWKWARD[0]} (0).*")).unlink()
        data = build_data({**MASKS, "root": str(root), "channels": channels,
                           "normalize": {"mean": [0.0] * channels, "std": [1.0] * channels}})  # fmt: skip
        try:
            data.setup()
        except CnnlabError as err:
            assert_one_line_naming(err, root, "data.")
            event("refused: " + " ".join(w for w in str(err).split() if "/" not in w)[:60])  # the kind, less paths
            return
        assert "missing_mask" not in extras
        event("read")
        found = [(split, i, image) for split in (data.splits.train, data.splits.val, data.splits.test)
                 for i, (image, _) in enumerate(split.items)]  # fmt: skip
        assert sorted(image.resolve() for _, _, image in found) == sorted(written)  # every image, exactly once
        for split, i, image in found:
            check_pair(split, i, image, written[image.resolve()], channels)


def check_pair(dataset, index: int, image_path: Path, pair: Pair, channels: int) -> None:
    """Mask values kept as stored (padding: 255), image scaled; or a one-line error naming the image or mask."""
    if pair.image.expected_rgb() is None or (pair.mask == 7).any():
        with pytest.raises(CnnlabError) as caught:
            dataset[index]
        assert_one_line_naming(caught.value, image_path, dataset.items[index][1])
        return
    image, mask = dataset[index]
    height, width = pair.mask.shape
    assert np.array_equal(mask[:height, :width].numpy(), pair.mask) and (mask[height:] == 255).all()
    pixels = (image[:, :height, :width].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    check_pixels(pixels, pair.image, channels)
