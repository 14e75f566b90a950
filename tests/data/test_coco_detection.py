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
from tests.data.coco_files import COCO128, needs_coco128, write_coco

NORMALIZE = {"mean": [0.0] * 3, "std": [1.0] * 3}


def coco_data(annotations: Path, images: Path, **extra):
    settings = {
        "name": "coco", "annotations": str(annotations), "images": str(images), "batch_size": 2, "num_workers": 0,
        "normalize": NORMALIZE, "augment": [], **extra,
    }  # fmt: skip
    return build_data(settings)


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


def write_json(tmp_path: Path, content) -> Path:
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(content))
    return path


def with_entries(tmp_path: Path, **changes) -> Path:
    """A valid two-image file (as write_coco writes it) with some of its lists replaced."""
    content = json.loads(write_coco(tmp_path, [box(1, [1, 1, 5, 5])]).read_text())
    return write_json(tmp_path, {**content, **changes})


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        (box(16, "1,2,3,4"), r"annotation 16 has bbox '1,2,3,4'; give the box as \[x, y, width, height\], 4 numbers"),
        (box(17, [1, 2, 3]), r"annotation 17 has bbox \[1, 2, 3\]; give the box as \[x, y, width, height\]"),
        ({k: v for k, v in box(18, [1, 1, 2, 2]).items() if k != "bbox"}, r"annotation 18 has no 'bbox'"),
        (box(19, [1, 1, 2, 2], image_id="1"), r"annotation 19 refers to image '1', which the file does not list"),
        (box(20, [1, 1, 2, 2], iscrowd=2), r"annotation 20 has iscrowd=2; use 0 or 1"),
        ({"image_id": 1, "category_id": 7, "bbox": [1, 1, 2, 2]}, r"annotation #1 \(no id\) has no integer 'id'"),
        ("oops", r"annotation #1 \(no id\) is a string"),
    ],
)
def test_malformed_annotations_are_named(tmp_path: Path, annotation, message: str) -> None:
    path = write_coco(tmp_path, [box(1, [1, 1, 5, 5]), annotation])
    with pytest.raises(CnnlabError, match=rf"instances.json: {message}.*data.on_bad_sample=skip"):
        load_checked(path, BadSamples())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ([], r"not a COCO instances file \(the top level is a list\)"),
        ({"images": [], "categories": []}, r"not a COCO instances file \('annotations' is missing\)"),
        ({"images": {}, "annotations": [], "categories": []}, r"not a COCO instances file \('images' is an object\)"),
    ],
)
def test_a_file_that_is_not_coco_is_one_error(tmp_path: Path, content, message: str) -> None:
    with pytest.raises(CnnlabError, match=rf"instances.json: {message}") as caught:
        load_checked(write_json(tmp_path, content), BadSamples(policy="skip"))  # not a sample problem: no skip
    assert "on_bad_sample" not in str(caught.value)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"categories": [{"id": 7, "name": "cat"}, {"id": 7, "name": "dog"}]}, r"category id 7 appears twice"),
        ({"categories": [{"id": 7, "name": "cat"}, {"id": 8, "name": "cat"}]},
         r"categories 7 and 8 are both named 'cat'; class names must be unique"),
        ({"categories": [{"id": 7}]}, r"category 7 has no 'name'"),
        ({"categories": [{"id": "7", "name": "cat"}]}, r"category #0 has no integer 'id'"),
        ({"categories": []}, r"'categories' is empty"),
        ({"images": [{"id": 1, "file_name": "1.png", "width": 40, "height": 30}] * 2}, r"image id 1 appears twice"),
        ({"annotations": [box(3, [1, 1, 5, 5]), box(3, [2, 2, 5, 5])]}, r"annotation id 3 appears twice"),
    ],
)  # fmt: skip
def test_duplicate_ids_and_names_are_file_errors(tmp_path: Path, changes: dict, message: str) -> None:
    with pytest.raises(CnnlabError, match=rf"instances.json: {message}") as caught:
        load_checked(with_entries(tmp_path, **changes), BadSamples(policy="skip"))
    assert "on_bad_sample" not in str(caught.value)


def test_skip_drops_a_broken_image_with_its_annotations_and_bad_annotations(tmp_path: Path, caplog) -> None:
    images = [{"id": 1, "file_name": "1.png", "width": 40, "height": 30},
              {"id": 2, "file_name": "2.png", "width": "40", "height": 30}]  # fmt: skip
    annotations = [box(1, [1, 1, 5, 5]), box(2, [1, 1, 5, 5], image_id=2), box(3, "bad")]
    coco = load_checked(with_entries(tmp_path, images=images, annotations=annotations), BadSamples(policy="skip"))
    assert sorted(coco.imgs) == [1] and sorted(coco.anns) == [1]
    skipped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("skipped:")]
    assert len(skipped) == 2  # the image once (its annotation leaves with it), the bad box once
    assert "image 2 has width='40'" in skipped[0] and "annotation 3 has bbox 'bad'" in skipped[1]


def test_image_whose_file_disagrees_with_the_json_size(tmp_path: Path, caplog) -> None:
    path = write_coco(tmp_path, [box(i, [1, 1, 5, 5], image_id=i) for i in range(1, 7)], images=6)
    Image.fromarray(np.zeros((20, 50, 3), np.uint8)).save(tmp_path / "images" / "2.png")
    settings = {"val_fraction": 1 / 3, "test_fraction": 1 / 3}  # two images per split: one stays readable
    data = coco_data(path, tmp_path / "images", **settings)
    data.setup()
    everything = [(split, i) for split in (data.splits.train, data.splits.val, data.splits.test)
                  for i in range(len(split))]  # fmt: skip
    split, index = next((s, i) for s, i in everything if s.image_ids[i] == 2)
    message = r"images/2.png: the image is 50x20, but .*instances.json gives image 2 as 40x30; fix width/height"
    with pytest.raises(CnnlabError, match=message):
        split[index]
    skipping = coco_data(path, tmp_path / "images", on_bad_sample="skip", **settings)
    skipping.setup()
    read = [s[i][1]["image_id"] for s in (skipping.splits.train, skipping.splits.val, skipping.splits.test)
            for i in range(len(s))]  # fmt: skip
    assert 2 not in read and "skipped:" in caplog.text and "2.png: the image is 50x20" in caplog.text


def test_categories_by_name_in_facts(tmp_path: Path) -> None:
    path = write_coco(tmp_path, [box(i, [1, 1, 5, 5], image_id=i, category=(7, 42)[i % 2]) for i in range(1, 6)],
                      images=5)  # fmt: skip
    facts = coco_data(path, tmp_path / "images", val_fraction=0.2, test_fraction=0.2).facts()
    assert facts["category_ids"] == [7, 42] and facts["class_names"] == ["cat", "dog"] and facts["num_classes"] == 2


def test_splits_that_cannot_be_made_are_one_error(tmp_path: Path) -> None:
    path = write_coco(tmp_path, [box(1, [1, 1, 5, 5])], images=2)
    with pytest.raises(CnnlabError, match=r"data.val_fraction=0.5 \+ data.test_fraction=0.5 leaves nothing"):
        coco_data(path, tmp_path / "images", val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(CnnlabError, match=r"2 image\(s\) are too few to hold out data.test_fraction=0.6"):
        coco_data(path, tmp_path / "images", val_fraction=0.0, test_fraction=0.6).setup()
    with pytest.raises(CnnlabError, match=r"data.val_fraction=1.5 is not valid"):
        coco_data(path, tmp_path / "images", val_fraction=1.5)
