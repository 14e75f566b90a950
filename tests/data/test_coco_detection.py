"""data=coco: real COCO128 annotations, boxes through augmentation, and one-line errors for bad annotations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab.data import build_data
from cnnlab.data.bad_samples import BadSamples
from cnnlab.data.coco_detection import load_checked
from cnnlab.errors import CnnlabError
from tests.data.test_coco_semantic import COCO128, needs_coco128

NORMALIZE = {"mean": [0.0] * 3, "std": [1.0] * 3}


def coco_data(annotations: Path, images: Path, **extra):
    settings = {
        "name": "coco", "annotations": str(annotations), "images": str(images), "batch_size": 2, "num_workers": 0,
        "normalize": NORMALIZE, "augment": [], **extra,
    }  # fmt: skip
    return build_data(settings)


def write_coco(tmp_path: Path, annotations: list[dict], images: int = 2, size: tuple[int, int] = (40, 30)) -> Path:
    folder = tmp_path / "images"
    folder.mkdir(exist_ok=True)
    listed = []
    for i in range(1, images + 1):
        Image.fromarray(np.zeros((size[1], size[0], 3), np.uint8)).save(folder / f"{i}.png")
        listed.append({"id": i, "file_name": f"{i}.png", "width": size[0], "height": size[1]})
    categories = [{"id": 7, "name": "cat"}, {"id": 42, "name": "dog"}]
    path = tmp_path / "instances.json"
    path.write_text(json.dumps({"images": listed, "annotations": annotations, "categories": categories}))
    return path


def box(ann_id: int, bbox: list[float], image_id: int = 1, category: int = 7, **extra) -> dict:
    return {"id": ann_id, "image_id": image_id, "category_id": category, "bbox": bbox, "area": 1.0, "iscrowd": 0,
            **extra}  # fmt: skip


def test_flip_moves_the_box_in_the_train_split(tmp_path: Path) -> None:
    path = write_coco(tmp_path, [box(i, [4, 6, 10, 8], image_id=i) for i in (1, 2, 3, 4)], images=4)
    data = coco_data(path, tmp_path / "images", augment=[{"HorizontalFlip": {"p": 1.0}}],
                     val_fraction=0.25, test_fraction=0.25)  # fmt: skip
    data.setup()
    image, target = data.splits.train[0]
    assert image.shape == (3, 30, 40)
    assert target["boxes"].tolist() == [[26.0, 6.0, 36.0, 14.0]]
    _, evaluated = data.splits.val[0]
    assert evaluated["boxes"].tolist() == [[4.0, 6.0, 14.0, 14.0]]  # no augmentation outside training


def test_partly_outside_box_is_clipped(tmp_path: Path) -> None:
    path = write_coco(tmp_path, [box(1, [30, 20, 20, 20])], images=1)
    dataset = coco_data(path, tmp_path / "images", val_fraction=0.0, test_fraction=0.0).load_splits().train
    assert dataset[0][1]["boxes"].tolist() == [[30.0, 20.0, 40.0, 30.0]]


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        (box(11, [50, 40, 5, 5]), r"annotation 11 box \[50, 40, 5, 5\] lies outside its 40x30 image"),
        (box(12, [5, 5, 0, 4]), r"annotation 12 has a box of size 0x4"),
        (box(13, [5, 5, -3, 4]), r"annotation 13 has a box of size -3x4"),
        (box(14, [5, 5, 3, 4], category=99), r"annotation 14 has unknown category id 99"),
        (box(15, [5, 5, 3, 4], image_id=77), r"annotation 15 refers to image 77, which the file does not list"),
    ],
)
def test_bad_annotations_are_named(tmp_path: Path, annotation: dict, message: str) -> None:
    path = write_coco(tmp_path, [box(1, [1, 1, 5, 5]), annotation])
    with pytest.raises(CnnlabError, match=rf"instances.json: {message}"):
        load_checked(path, BadSamples())


def test_unreadable_json_is_named(tmp_path: Path) -> None:
    (tmp_path / "instances.json").write_text('{"images": [')
    with pytest.raises(CnnlabError, match=r"instances.json: not a COCO instances file"):
        load_checked(tmp_path / "instances.json", BadSamples())


@needs_coco128
def test_coco128_labels_crowd_and_negatives() -> None:
    data = coco_data(COCO128 / "instances.json", COCO128 / "images", image_size=160, with_masks=True)
    facts = data.facts()
    assert facts["num_classes"] == 80 and facts["category_ids"][:3] == [1, 2, 3] and facts["category_ids"][-1] == 90
    assert facts["class_names"][0] == "person"
    everything = [s for split in (data.splits.train, data.splits.val, data.splits.test) for s in [split]]
    total = sum(len(s) for s in everything)
    assert total == 128  # images without annotations are kept as negatives
    coco = data.splits.train.coco
    crowd_image = coco.loadAnns(coco.getAnnIds(iscrowd=True))[0]["image_id"]
    split = next(s for s in everything if crowd_image in s.image_ids)
    image, target = split[split.image_ids.index(crowd_image)]
    assert target["iscrowd"].any() and (target["labels"] >= 1).all() and (target["labels"] <= 80).all()
    assert target["masks"].shape == (len(target["boxes"]), *image.shape[1:])
    empty = [i for i in coco.getImgIds() if not coco.getAnnIds(imgIds=i)]
    if empty:
        split = next(s for s in everything if empty[0] in s.image_ids)
        assert split[split.image_ids.index(empty[0])][1]["boxes"].shape == (0, 4)
    assert torch.is_tensor(image)
