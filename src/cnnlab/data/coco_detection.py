"""data=coco: COCO instances JSON + image folder -> images with box (and mask) targets for torchvision detectors.

Category ids (COCO's are sparse, 1..90) map to contiguous labels 1..K; 0 is the detectors' background.
Crowd annotations come flagged (`iscrowd`): not training targets, but respected by evaluation.
Images without annotations stay, as negatives.
Boxes partly outside their image are clipped to it; a box with no area inside its image is an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from cnnlab.data.bad_samples import BadSamples
from cnnlab.data.base import SplitDataModule, Splits
from cnnlab.data.coco_schema import check_image_size, clipped_xyxy, load_instances
from cnnlab.data.coco_semantic import check_fractions, hold_out
from cnnlab.data.datasets import read_image
from cnnlab.data.transforms import build_detection_transforms
from cnnlab.setting_types import Fraction, NonNegativeInt, PositiveInt


def collate_detection(batch: Sequence[tuple[torch.Tensor, dict]]) -> tuple[list[torch.Tensor], list[dict]]:
    """Images may differ in size and hold different numbers of boxes: keep both as lists."""
    images, targets = zip(*batch, strict=True)
    return list(images), list(targets)


class CocoDetectionData(SplitDataModule):
    task = "detection"
    collate_fn = staticmethod(collate_detection)  # images differ in size: lists, not stacked tensors

    def __init__(
        self,
        *,
        annotations: str,
        images: str,
        normalize: Mapping[str, Sequence[float]],
        val_annotations: str | None = None,
        test_annotations: str | None = None,
        augment: Sequence[Mapping[str, Any]] | None = None,
        image_size: PositiveInt | None = None,
        with_masks: bool = False,
        val_fraction: Fraction = 0.1,
        test_fraction: Fraction = 0.1,
        split_seed: NonNegativeInt = 0,
        **loader: Any,  # batch_size and the DataLoader options of SplitDataModule
    ) -> None:
        super().__init__(**loader)
        self.annotations = Path(annotations)
        self.val_annotations = Path(val_annotations) if val_annotations else None
        self.test_annotations = Path(test_annotations) if test_annotations else None
        self.images = Path(images)
        self.with_masks = with_masks
        self.normalize = {"mean": list(normalize["mean"]), "std": list(normalize["std"])}
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.split_seed = split_seed
        if self.val_annotations is None and self.test_annotations is None:
            check_fractions(val_fraction, test_fraction)
        common = {"normalize": normalize, "image_size": image_size}
        self.train_transform = build_detection_transforms(augment=augment, train=True, seed=self.seed, **common)
        self.eval_transform = build_detection_transforms(augment=None, train=False, **common)

    def describe(self) -> str:
        return f"coco ({self.annotations})"

    def load_splits(self) -> Splits:
        train = self._load(self.annotations, "data.annotations")
        self.category_ids = sorted(train.getCatIds())
        labels = {cat: index + 1 for index, cat in enumerate(self.category_ids)}  # 0 is the detectors' background
        names = [train.cats[cat]["name"] for cat in self.category_ids]
        make = partial(CocoDetectionDataset, labels=labels, images=self.images, with_masks=self.with_masks)
        ids = sorted(train.getImgIds())
        if self.test_annotations is None:
            ids, test_ids = self._hold_out(ids, self.test_fraction, "test")
            test_set = make(train, test_ids, transform=self.eval_transform, source=self.annotations)
        else:
            test_coco = self._load(self.test_annotations, "data.test_annotations")
            test_set = make(test_coco, sorted(test_coco.getImgIds()), transform=self.eval_transform,
                            source=self.test_annotations)  # fmt: skip
        if self.val_annotations is None:
            fraction = self.val_fraction / (1 - (self.test_fraction if self.test_annotations is None else 0))
            ids, val_ids = self._hold_out(ids, fraction, "val")
            val_set = make(train, val_ids, transform=self.eval_transform, source=self.annotations)
        else:
            val_coco = self._load(self.val_annotations, "data.val_annotations")
            val_set = make(val_coco, sorted(val_coco.getImgIds()), transform=self.eval_transform,
                           source=self.val_annotations)  # fmt: skip
        train_set = make(train, ids, transform=self.train_transform, source=self.annotations)
        return Splits(train=train_set, val=val_set, test=test_set, class_names=names)

    def _hold_out(self, ids: list[int], fraction: float, split: str) -> tuple[list[int], list[int]]:
        value = getattr(self, f"{split}_fraction")
        return hold_out(ids, fraction, self.split_seed, split=split, value=value, where=self.describe())

    def _load(self, path: Path, setting: str):
        return load_checked(path, self.bad_samples, masks=self.with_masks, setting=setting)

    def facts(self) -> dict[str, Any]:
        self.setup()
        return {
            "num_classes": len(self.splits.class_names),
            "class_names": list(self.splits.class_names),
            "category_ids": list(self.category_ids),
            "normalize": self.normalize,
        }


def load_checked(path: Path, bad_samples: BadSamples, *, masks: bool = False, setting: str = "data.annotations"):
    """The COCO file, after checking its structure (coco_schema) and that every annotation points at a known image
    and category and has a box inside its image (and a usable mask with masks=True); a bad annotation or image
    fails the run or, under data.on_bad_sample=skip, is dropped and recorded."""
    return load_instances(path, bad_samples, boxes=True, masks=masks, setting=setting)


class CocoDetectionDataset(Dataset):
    def __init__(
        self, coco, image_ids, *, labels, images: Path, transform, with_masks: bool, source: Path | None = None
    ) -> None:
        self.coco = coco
        self.source = source or Path("the annotations")  # the JSON, named when an image disagrees with it
        self.image_ids = list(image_ids)
        self.labels = labels
        self.images = images
        self.transform = transform
        self.with_masks = with_masks

    def __len__(self) -> int:
        return len(self.image_ids)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict]:
        image_id = self.image_ids[index]
        info = self.coco.imgs[image_id]
        path = self.images / info["file_name"]
        image = read_image(path, "RGB")
        check_image_size(image, info, path, self.source)
        height, width = image.shape[:2]
        # Crowd regions come along flagged: training drops them, evaluation ignores detections inside them.
        annotations = self.coco.imgToAnns.get(image_id, [])
        boxes = [clipped_xyxy(a["bbox"], width, height) for a in annotations]
        labels = [self.labels[a["category_id"]] for a in annotations]
        extra = {"masks": [self.coco.annToMask(a) for a in annotations]} if self.with_masks else {}
        out = self.transform(image=image, bboxes=np.asarray(boxes, np.float32).reshape(-1, 4), labels=labels,
                             instance=list(range(len(labels))), **extra)  # fmt: skip
        crowd = [bool(annotations[int(i)].get("iscrowd")) for i in out["instance"]]
        target = {
            "boxes": torch.as_tensor(np.asarray(out["bboxes"], np.float32).reshape(-1, 4)),
            "labels": torch.as_tensor(out["labels"], dtype=torch.int64),
            "iscrowd": torch.as_tensor(crowd, dtype=torch.bool),
            "image_id": image_id,
        }
        if self.with_masks:  # keep the masks of the boxes that survived the augmentations, in their order
            kept = [np.asarray(out["masks"][int(i)]) for i in out["instance"]]
            size = out["image"].shape[1:]
            target["masks"] = torch.as_tensor(np.stack(kept) if kept else np.zeros((0, *size), np.uint8))
        return out["image"], target
