"""data=coco_semantic: polygons and crowd RLE rasterise correctly (COCO128), and broken polygons, RLEs, categories
and image sizes are one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from cnnlab.data import build_data
from cnnlab.data.bad_samples import BadSamples
from cnnlab.data.coco_schema import load_instances, rle_string_counts
from cnnlab.data.coco_semantic import rasterise
from cnnlab.errors import CnnlabError
from tests.data.coco_files import COCO128, needs_coco128, write_coco


def load_coco(path: Path):
    return load_instances(path, BadSamples(), boxes=False, masks=True)


@pytest.fixture(scope="module")
def coco():
    return load_coco(COCO128 / "instances.json")


def labels_of(coco) -> dict[int, int]:
    return {cat: i + 1 for i, cat in enumerate(sorted(coco.getCatIds()))}


@needs_coco128
def test_polygons_rasterise_to_their_area_and_label(coco) -> None:
    labels = labels_of(coco)
    checked = 0
    for image_id in sorted(coco.getImgIds())[:40]:
        annotations = coco.loadAnns(coco.getAnnIds(imgIds=image_id))
        regions = [coco.annToMask(a).astype(bool) for a in annotations]
        mask = rasterise(coco, image_id, labels, 255)
        for index, (annotation, region) in enumerate(zip(annotations, regions, strict=True)):
            others = [r for i, r in enumerate(regions) if i != index]
            if annotation["iscrowd"] or annotation["area"] < 500 or any((region & r).any() for r in others):
                continue  # only free-standing objects have a known painted area
            assert (mask[region] == labels[annotation["category_id"]]).all()
            assert region.sum() == pytest.approx(annotation["area"], rel=0.1)
            checked += 1
    assert checked >= 5


@needs_coco128
def test_crowd_regions_are_ignored(coco) -> None:
    crowd = coco.loadAnns(coco.getAnnIds(iscrowd=True))
    assert crowd and isinstance(crowd[0]["segmentation"], dict)  # RLE
    annotation = crowd[0]
    mask = rasterise(coco, annotation["image_id"], labels_of(coco), 255)
    region = coco.annToMask(annotation).astype(bool)
    assert (mask[region] == 255).mean() > 0.5  # objects in front of the crowd keep their class
    assert (mask == 255).sum() > 0


@needs_coco128
def test_data_module_maps_sparse_ids_to_contiguous_labels() -> None:
    data = build_data({
        "name": "coco_semantic", "annotations": str(COCO128 / "instances.json"), "images": str(COCO128 / "images"),
        "image_size": 96, "batch_size": 2, "num_workers": 0, "normalize": {"mean": [0.5] * 3, "std": [0.25] * 3},
        "augment": [],
    })  # fmt: skip
    facts = data.facts()
    assert facts["num_classes"] == 81 and facts["class_names"][0] == "background"
    assert facts["class_names"][1] == "person"
    image, mask = data.splits.train[0]
    assert image.shape == (3, 96, 96) and mask.shape == (96, 96)
    assert int(mask[mask != 255].max()) < 81


def test_not_json_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "instances.json"
    bad.write_text("this is not json")
    with pytest.raises(CnnlabError, match=r"instances.json: not a COCO instances file"):
        load_coco(bad)
    missing = tmp_path / "nope.json"
    with pytest.raises(CnnlabError, match="data.annotations=.*nope.json does not exist"):
        load_coco(missing)


SQUARE = [[2, 2, 12, 2, 12, 12, 2, 12]]  # a 10x10 square


def polygon(ann_id: int, segmentation, image_id: int = 1, category: int = 7, **extra) -> dict:
    return {"id": ann_id, "image_id": image_id, "category_id": category, "segmentation": segmentation,
            "bbox": [2, 2, 10, 10], "area": 100.0, "iscrowd": 0, **extra}  # fmt: skip


def write_semantic(tmp_path: Path, annotations: list[dict], images: int = 5, size: tuple[int, int] = (32, 64)) -> Path:
    return write_coco(tmp_path, annotations, images=images, size=size)


def semantic_data(path: Path, **extra):
    return build_data({
        "name": "coco_semantic", "annotations": str(path), "images": str(path.parent / "images"), "image_size": None,
        "batch_size": 1, "num_workers": 0, "normalize": {"mean": [0.0] * 3, "std": [1.0] * 3}, "augment": [],
        "val_fraction": 0.2, "test_fraction": 0.2, **extra,
    })  # fmt: skip


def every_mask(data) -> dict[int, np.ndarray]:
    """{image id: mask} over the three splits."""
    return {split.items[i]: split[i][1].numpy() for split in (data.splits.train, data.splits.val, data.splits.test)
            for i in range(len(split))}  # fmt: skip


@pytest.mark.parametrize(
    ("segmentation", "message"),
    [
        ([[2, 2, 12, 2]], r"has polygon 0 with 4 coordinates; a polygon needs at least 3 x,y points"),
        ([[2, 2, 12, 2, 12, 12, 2]], r"has polygon 0 with 7 coordinates"),
        ([], r"has an empty polygon list"),
        ([["a", 1, 2, 3, 4, 5]], r"has polygon 0 that is not a list of numbers"),
        ([[2, 2, 1e9, 2, 12, 12]], r"has polygon 0 with points far outside its 32x64 image"),
        (None, r"has no 'segmentation'"),
        ({"size": [32, 64], "counts": [2048]},
         r"has an RLE of size \[32, 64\] for a 32x64 image; an RLE's size is \[height, width\]"),
        ({"size": [64, 32], "counts": [700]}, r"has RLE counts that do not cover its 32x64 image exactly"),
        ({"size": [64, 32], "counts": "not valid {"}, r"has RLE counts that do not cover")
    ],
)  # fmt: skip
def test_broken_segmentations_are_named(tmp_path: Path, segmentation, message: str) -> None:
    path = write_semantic(tmp_path, [polygon(1, SQUARE), polygon(9, segmentation, image_id=2)])
    with pytest.raises(CnnlabError, match=rf"instances.json: annotation 9 {message}.*data.on_bad_sample=skip"):
        semantic_data(path).setup()


def test_unknown_category_is_named_and_skip_drops_only_that_annotation(tmp_path: Path, caplog) -> None:
    annotations = [polygon(1, SQUARE), polygon(2, SQUARE, image_id=2, category=99), polygon(3, [[2, 2, 12, 2]])]
    path = write_semantic(tmp_path, annotations)
    with pytest.raises(CnnlabError, match=r"instances.json: annotation 2 has unknown category id 99; add it"):
        semantic_data(path).setup()
    data = semantic_data(path, on_bad_sample="skip")
    data.setup()
    masks = every_mask(data)
    assert (masks[1] == 1).sum() == 100 and masks[1].max() == 1  # the square, in class 1 (category 7)
    assert (masks[2] == 0).all()  # its only annotation was dropped
    assert caplog.text.count("skipped:") == 2 and "annotation 3 has polygon 0 with 4 coordinates" in caplog.text


def test_image_whose_file_disagrees_with_the_json_size(tmp_path: Path) -> None:
    path = write_semantic(tmp_path, [polygon(1, SQUARE)])
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(tmp_path / "images" / "1.png")
    data = semantic_data(path)
    data.setup()
    message = r"images/1.png: the image is 10x10, but .*instances.json gives image 1 as 32x64; fix width/height"
    with pytest.raises(CnnlabError, match=message):
        every_mask(data)


def test_crowd_rle_in_both_forms_is_ignored_and_categories_are_named(tmp_path: Path) -> None:
    region = np.zeros((64, 32), np.uint8, order="F")
    region[0:4, 0:8] = 1
    compressed = mask_utils.encode(region)
    compressed["counts"] = compressed["counts"].decode()
    runs = rle_string_counts(compressed["counts"])
    assert sum(runs) == 64 * 32 and runs[:3] == [0, 4, 60]  # column-major: 4 pixels of the first column, 60 off
    crowd = [polygon(2, compressed, iscrowd=1), polygon(3, {"size": [64, 32], "counts": runs}, image_id=2, iscrowd=1)]
    data = semantic_data(write_semantic(tmp_path, [polygon(1, SQUARE, category=42), *crowd]))
    facts = data.facts()
    assert facts["class_names"] == ["background", "cat", "dog"] and data.category_ids == [7, 42]
    masks = every_mask(data)
    assert (masks[1] == 2).sum() == 100 and (masks[1] == 255).sum() == 32 - 12  # the square paints over crowd
    assert (masks[2] == 255).sum() == 32
