"""data=coco_semantic: a COCO instances JSON rasterised to class-index masks (0 = background, crowd = ignore)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from cnnlab.data.base import Splits
from cnnlab.data.coco_schema import check_image_size, load_instances
from cnnlab.data.datasets import read_image
from cnnlab.data.segmentation import SegmentationData, SegmentationDataset
from cnnlab.data.splits import split_indices
from cnnlab.errors import CnnlabError
from cnnlab.setting_types import Fraction, NonNegativeInt


class CocoSemanticData(SegmentationData):
    def __init__(
        self,
        *,
        annotations: str,
        images: str,
        val_fraction: Fraction = 0.1,
        test_fraction: Fraction = 0.1,
        split_seed: NonNegativeInt = 0,
        **common,
    ) -> None:
        super().__init__(**common)
        check_fractions(val_fraction, test_fraction)
        self.annotations = Path(annotations)
        self.images = Path(images)
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.split_seed = split_seed

    def describe(self) -> str:
        return f"coco_semantic ({self.annotations})"

    def load_splits(self) -> Splits:
        coco = load_instances(self.annotations, self.bad_samples, boxes=False, masks=True)
        self.category_ids = sorted(coco.getCatIds())  # class i + 1 is category_ids[i]
        labels = {cat: index + 1 for index, cat in enumerate(self.category_ids)}  # COCO's ids are sparse (1..90)
        names = ["background"] + [coco.cats[cat]["name"] for cat in self.category_ids]
        where = self.describe()
        rest, test = hold_out(sorted(coco.getImgIds()), self.test_fraction, self.split_seed, split="test",
                              value=self.test_fraction, where=where)  # fmt: skip
        train, val = hold_out(rest, self.val_fraction / (1 - self.test_fraction), self.split_seed, split="val",
                              value=self.val_fraction, where=where)  # fmt: skip
        mode = {3: "RGB", 1: "L"}[self.channels]

        def load(image_id: int) -> tuple[np.ndarray, np.ndarray, str]:
            info = coco.imgs[image_id]
            path = self.images / info["file_name"]
            image = read_image(path, mode)
            check_image_size(image, info, path, self.annotations)  # before rasterising at the JSON's size
            return image, rasterise(coco, image_id, labels, self.ignore_index), f"{self.annotations} (image {image_id})"

        def make(ids, transform):
            return SegmentationDataset(ids, load, transform, len(names), self.ignore_index)

        return Splits(
            train=make(train, self.train_transform),
            val=make(val, self.eval_transform),
            test=make(test, self.eval_transform),
            class_names=names,
        )


def check_fractions(val_fraction: float, test_fraction: float) -> None:
    """Both held out of one file: together they must leave some of it to train on."""
    if val_fraction + test_fraction >= 1:
        raise CnnlabError(
            f"data.val_fraction={val_fraction} + data.test_fraction={test_fraction} leaves nothing to train on; "
            "lower one of them (together below 1)"
        )


def hold_out(ids: list[int], fraction: float, seed: int, *, split: str, value: float, where: str) -> tuple[list, list]:
    """(kept, held-out) image ids, `fraction` of them held out; too few images to do so is a one-line error.

    value: the data.<split>_fraction setting `fraction` derives from, named in the error."""
    if fraction > 0 and math.ceil(fraction * len(ids)) >= len(ids):  # scikit-learn's rounding of the held-out count
        raise CnnlabError(
            f"data={where}: {len(ids)} image(s) are too few to hold out data.{split}_fraction={value} of them and "
            "keep some; add images or lower the fraction"
        )
    kept, held = split_indices([0] * len(ids), fraction, seed)
    return [ids[i] for i in kept], [ids[i] for i in held]


def rasterise(coco, image_id: int, labels: dict[int, int], ignore_index: int) -> np.ndarray:
    """Class-index mask: crowd regions become ignore_index, then objects paint over them, larger first."""
    info = coco.imgs[image_id]
    mask = np.zeros((info["height"], info["width"]), np.int64)
    annotations = coco.loadAnns(coco.getAnnIds(imgIds=image_id))
    regions = [coco.annToMask(annotation).astype(bool) for annotation in annotations]
    # painted by their pixel count, not the JSON's optional 'area'
    order = sorted(range(len(annotations)), key=lambda i: (not annotations[i].get("iscrowd"), -int(regions[i].sum())))
    for i in order:
        mask[regions[i]] = ignore_index if annotations[i].get("iscrowd") else labels[annotations[i]["category_id"]]
    return mask
