"""data=coco: COCO instances JSON + image folder -> images with box (and mask) targets for torchvision detectors.

Category ids (COCO's are sparse, 1..90) map to contiguous labels 1..K; 0 is the detectors' background.
Crowd annotations come flagged (`iscrowd`): not training targets, but respected by evaluation.
Images without annotations stay, as negatives.
Boxes partly outside their image are clipped to it; a box with no area inside its image is an error.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from cnnlab.data.bad_samples import BadSamples
from cnnlab.data.base import SplitDataModule, Splits
from cnnlab.data.coco_semantic import load_coco
from cnnlab.data.datasets import read_image
from cnnlab.data.splits import split_indices
from cnnlab.data.transforms import build_detection_transforms
from cnnlab.errors import CnnlabError


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
        image_size: int | None = None,
        with_masks: bool = False,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        split_seed: int = 0,
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
        common = {"normalize": normalize, "image_size": image_size}
        self.train_transform = build_detection_transforms(augment=augment, train=True, seed=self.seed, **common)
        self.eval_transform = build_detection_transforms(augment=None, train=False, **common)

    def describe(self) -> str:
        return f"coco ({self.annotations})"

    def load_splits(self) -> Splits:
        train = load_checked(self.annotations, self.bad_samples)
        category_ids = sorted(train.getCatIds())
        labels = {cat: index + 1 for index, cat in enumerate(category_ids)}
        self.category_ids = category_ids
        names = [train.cats[cat]["name"] for cat in category_ids]
        make = partial(CocoDetectionDataset, labels=labels, images=self.images, with_masks=self.with_masks)
        ids = sorted(train.getImgIds())
        if self.test_annotations is None:
            rest, test = split_indices([0] * len(ids), self.test_fraction, self.split_seed)
            test_set = make(train, [ids[i] for i in test], transform=self.eval_transform)
            ids = [ids[i] for i in rest]
        else:
            test_coco = load_checked(self.test_annotations, self.bad_samples)
            test_set = make(test_coco, sorted(test_coco.getImgIds()), transform=self.eval_transform)
        if self.val_annotations is None:
            fraction = self.val_fraction / max(1e-9, 1 - (self.test_fraction if self.test_annotations is None else 0))
            kept, val = split_indices([0] * len(ids), min(fraction, 0.9), self.split_seed)
            val_set = make(train, [ids[i] for i in val], transform=self.eval_transform)
            ids = [ids[i] for i in kept]
        else:
            val_coco = load_checked(self.val_annotations, self.bad_samples)
            val_set = make(val_coco, sorted(val_coco.getImgIds()), transform=self.eval_transform)
        return Splits(
            train=make(train, ids, transform=self.train_transform), val=val_set, test=test_set, class_names=names
        )

    def facts(self) -> dict[str, Any]:
        self.setup()
        return {
            "num_classes": len(self.splits.class_names),
            "class_names": list(self.splits.class_names),
            "category_ids": list(self.category_ids),
            "normalize": self.normalize,
        }


def load_checked(path: Path, bad_samples: BadSamples):
    """The COCO file, after checking that every annotation points at a known image and category and has a box
    inside its image; a bad annotation fails the run or, under data.on_bad_sample=skip, is dropped and recorded."""
    coco = load_coco(path)
    annotations = coco.dataset.get("annotations", [])
    kept = []
    for annotation in annotations:
        problem = annotation_problem(annotation, coco)
        if problem is None:
            kept.append(annotation)
        else:
            bad_samples.handle(CnnlabError(f"{path}: annotation {annotation.get('id')} {problem}"))
    if len(kept) < len(annotations):
        coco.dataset["annotations"] = kept
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
            coco.createIndex()
    return coco


def annotation_problem(annotation: dict, coco) -> str | None:
    """What is wrong with one COCO annotation, as the end of an error message; None when it is usable."""
    if annotation["image_id"] not in coco.imgs:
        return f"refers to image {annotation['image_id']}, which the file does not list"
    if annotation["category_id"] not in coco.cats:
        return f"has unknown category id {annotation['category_id']}; add it to categories"
    x, y, w, h = annotation["bbox"]
    info = coco.imgs[annotation["image_id"]]
    if w <= 0 or h <= 0:
        return f"has a box of size {w}x{h}; boxes need a positive width and height"
    if x >= info["width"] or y >= info["height"] or x + w <= 0 or y + h <= 0:
        return f"box {[x, y, w, h]} lies outside its {info['width']}x{info['height']} image"
    return None


class CocoDetectionDataset(Dataset):
    def __init__(self, coco, image_ids, *, labels, images: Path, transform, with_masks: bool) -> None:
        self.coco = coco
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
        image = read_image(self.images / info["file_name"], "RGB")
        height, width = image.shape[:2]
        # Crowd regions come along flagged: training drops them, evaluation ignores detections inside them.
        annotations = self.coco.imgToAnns.get(image_id, [])
        boxes = [_clipped_xyxy(a["bbox"], width, height) for a in annotations]
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


def _clipped_xyxy(box: Sequence[float], width: int, height: int) -> list[float]:
    x, y, w, h = box
    return [max(0.0, x), max(0.0, y), min(float(width), x + w), min(float(height), y + h)]
