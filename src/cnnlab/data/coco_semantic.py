"""data=coco_semantic: a COCO instances JSON rasterised to class-index masks (0 = background, crowd = ignore)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np

from cnnlab.data.base import Splits
from cnnlab.data.datasets import read_image
from cnnlab.data.segmentation import SegmentationData, SegmentationDataset
from cnnlab.data.splits import split_indices
from cnnlab.errors import CnnlabError


class CocoSemanticData(SegmentationData):
    def __init__(
        self,
        *,
        annotations: str,
        images: str,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        split_seed: int = 0,
        **common,
    ) -> None:
        super().__init__(**common)
        self.annotations = Path(annotations)
        self.images = Path(images)
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.split_seed = split_seed

    def describe(self) -> str:
        return f"coco_semantic ({self.annotations})"

    def load_splits(self) -> Splits:
        coco = load_coco(self.annotations)
        category_ids = sorted(coco.getCatIds())
        labels = {cat: index + 1 for index, cat in enumerate(category_ids)}  # COCO's ids are sparse (1..90)
        names = ["background"] + [coco.cats[cat]["name"] for cat in category_ids]
        image_ids = sorted(coco.getImgIds())
        rest, test = split_indices([0] * len(image_ids), self.test_fraction, self.split_seed)
        fraction = self.val_fraction / max(1e-9, 1 - self.test_fraction)
        train, val = split_indices([0] * len(rest), fraction, self.split_seed)
        mode = {3: "RGB", 1: "L"}[self.channels]

        def load(image_id: int) -> tuple[np.ndarray, np.ndarray, str]:
            info = coco.imgs[image_id]
            image = read_image(self.images / info["file_name"], mode)
            return image, rasterise(coco, image_id, labels, self.ignore_index), f"{self.annotations} (image {image_id})"

        def make(indices, transform):
            ids = [image_ids[i] for i in indices]
            return SegmentationDataset(ids, load, transform, len(names), self.ignore_index)

        return Splits(
            train=make(rest[train], self.train_transform),
            val=make(rest[val], self.eval_transform),
            test=make(test, self.eval_transform),
            class_names=names,
        )


def load_coco(path: Path):
    from pycocotools.coco import COCO  # only COCO data pays for pycocotools

    if not path.is_file():
        raise CnnlabError(f"data.annotations={path} does not exist; give a COCO instances JSON")
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
            return COCO(str(path))
    except (ValueError, KeyError, TypeError) as err:
        raise CnnlabError(f"{path}: not a COCO instances file ({type(err).__name__}: {err})") from err


def rasterise(coco, image_id: int, labels: dict[int, int], ignore_index: int) -> np.ndarray:
    """Class-index mask: crowd regions become ignore_index, then objects paint over them, larger first."""
    info = coco.imgs[image_id]
    mask = np.zeros((info["height"], info["width"]), np.int64)
    annotations = coco.loadAnns(coco.getAnnIds(imgIds=image_id))
    annotations.sort(key=lambda a: (not a.get("iscrowd"), -a["area"]))
    for annotation in annotations:
        region = coco.annToMask(annotation).astype(bool)
        mask[region] = ignore_index if annotation.get("iscrowd") else labels[annotation["category_id"]]
    return mask
