"""data=coco_semantic on the real COCO128 annotations: polygons and crowd RLE rasterise correctly."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnlab.data import build_data
from cnnlab.data.coco_semantic import load_coco, rasterise
from cnnlab.errors import CnnlabError

COCO128 = Path(__file__).resolve().parents[3] / "shared" / "data" / "coco128"
needs_coco128 = pytest.mark.skipif(not (COCO128 / "instances.json").is_file(), reason="../shared/data/coco128 absent")


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
