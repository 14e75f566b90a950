"""data=masks: images/ and masks/ folders (same file stem), or train/ val/ test/ sub-roots that each hold them."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Literal

from cnnlab.data.base import Splits
from cnnlab.data.datasets import warn_of_odd_images
from cnnlab.data.files import FileLister
from cnnlab.data.segmentation import SegmentationData, SegmentationDataset, read_pair
from cnnlab.data.splits import plan_splits, sub_roots
from cnnlab.errors import CnnlabError
from cnnlab.setting_types import Fraction, NonNegativeInt

log = logging.getLogger(__name__)
CLASSES_FILE = "classes.txt"  # optional, one class name per line, index order
Pair = tuple[Path, Path]


class MaskFolderData(SegmentationData):
    def __init__(
        self,
        *,
        root: str,
        class_names: Sequence[str] | None = None,
        palette: Sequence[Sequence[int]] | None = None,
        val_fraction: Fraction = 0.1,
        test_fraction: Fraction = 0.1,
        test_from: Literal["train", "val"] = "train",
        split_seed: NonNegativeInt = 0,
        **common,
    ) -> None:
        super().__init__(**common)
        self.root = Path(root)
        self.class_names = list(class_names) if class_names else None
        self.palette = palette
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.test_from = test_from
        self.split_seed = split_seed

    def describe(self) -> str:
        return f"masks ({self.root})"

    def load_splits(self) -> Splits:
        if not self.root.is_dir():
            raise CnnlabError(f"data.root={self.root} is not a folder; it should hold images/ and masks/")
        names = self._class_names()
        # One image lister for all splits: an image linked into two splits is used once. Masks may repeat (one blank
        # mask linked for many images), so theirs keeps every path.
        images, masks = FileLister(), FileLister((".png",), unique=False)
        roots = sub_roots(self.root, images) or {"train": self.root}
        listed = {split: _pairs(folder, images, masks) for split, folder in roots.items()}
        train, val, test = plan_splits(
            listed, lambda items: [0] * len(items), val_fraction=self.val_fraction, test_fraction=self.test_fraction,
            test_from=self.test_from, seed=self.split_seed, noun="image/mask pairs",
        )  # fmt: skip
        pairs = {"train": train, "val": val, "test": test}
        for line in images.warnings("data.root") + masks.warnings("data.root"):
            log.warning(line)
        warn_of_odd_images([image for split in pairs.values() for image, _ in split], "data.root")
        load = partial(read_pair, mode={3: "RGB", 1: "L"}[self.channels], palette=self.palette)
        make = lambda split, tf: SegmentationDataset(pairs[split], load, tf, len(names), self.ignore_index)  # noqa: E731
        return Splits(
            train=make("train", self.train_transform),
            val=make("val", self.eval_transform),
            test=make("test", self.eval_transform),
            class_names=names,
        )

    def _class_names(self) -> list[str]:
        if self.class_names:
            return self.class_names
        listed = self.root / CLASSES_FILE
        if listed.is_file():
            return [line.strip() for line in listed.read_text().splitlines() if line.strip()]
        raise CnnlabError(
            f"data.class_names is not set and {listed} does not exist; list the classes in index order in either"
        )


def _pairs(folder: Path, images: FileLister, masks: FileLister) -> list[Pair]:
    """(image, mask) for each image directly in folder/images; its mask is folder/masks/<stem>.png (any case)."""
    image_dir, mask_dir = folder / "images", folder / "masks"
    if not image_dir.is_dir() or not mask_dir.is_dir():
        raise CnnlabError(f"{folder} needs images/ and masks/ sub-folders (a mask per image, same file stem)")
    mask_of = {mask.stem: mask for mask in masks.files(mask_dir, recursive=False)}
    pairs, image_of = [], {}
    for image in images.files(image_dir, recursive=False):
        if image.stem in image_of:  # 0.png and 0.jpg would share masks/0.png, drawn for one of them
            raise CnnlabError(
                f"{image} and {image_of[image.stem]} share the stem '{image.stem}', so one mask would serve both; "
                "rename one (with its mask)"
            )
        image_of[image.stem] = image
        if image.stem not in mask_of:
            missing = mask_dir / f"{image.stem}.png"
            raise CnnlabError(f"{missing}: missing mask for image {image}; every image needs a PNG mask with its stem")
        pairs.append((image, mask_of[image.stem]))
    return pairs
