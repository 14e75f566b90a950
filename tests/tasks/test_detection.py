"""DetectionTask's evaluation agrees with pycocotools' own COCOeval on the same predictions."""

from __future__ import annotations

import contextlib
import io

import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from cnnlab.tasks import DetectionTask, build_task

TARGETS = [
    {"boxes": [[10, 10, 50, 50], [60, 60, 90, 95]], "labels": [1, 2], "iscrowd": [False, False]},
    {"boxes": [[5, 5, 30, 40], [40, 40, 95, 95]], "labels": [2, 1], "iscrowd": [False, True]},
    {"boxes": [[20, 30, 70, 60]], "labels": [1], "iscrowd": [False]},
]
PREDICTIONS = [
    {"boxes": [[12, 11, 49, 52], [61, 58, 88, 96], [0, 0, 20, 20]], "scores": [0.9, 0.8, 0.3], "labels": [1, 2, 1]},
    {"boxes": [[6, 4, 33, 38], [45, 45, 90, 90]], "scores": [0.7, 0.95], "labels": [2, 1]},
    {"boxes": [[25, 35, 65, 58], [20, 30, 70, 60]], "scores": [0.6, 0.4], "labels": [1, 2]},
]


class FixedDetector(torch.nn.Module):
    """Stands in for the network: the same known predictions whatever the images."""

    def forward(self, images: list[torch.Tensor]) -> list[dict]:
        return [as_tensors(p) for p in PREDICTIONS[: len(images)]]


def as_tensors(item: dict) -> dict:
    dtypes = {"boxes": torch.float32, "scores": torch.float32, "labels": torch.int64, "iscrowd": torch.bool}
    return {k: torch.tensor(v, dtype=dtypes[k]) for k, v in item.items()}


def cocoeval_stats() -> list[float]:
    def xywh(b):
        return [b[0], b[1], b[2] - b[0], b[3] - b[1]]

    images = [{"id": i + 1, "width": 100, "height": 100} for i in range(len(TARGETS))]
    annotations, detections = [], []
    for i, (target, prediction) in enumerate(zip(TARGETS, PREDICTIONS, strict=True)):
        for box, label, crowd in zip(target["boxes"], target["labels"], target["iscrowd"], strict=True):
            w, h = xywh(box)[2:]
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": label,
                                "bbox": xywh(box), "area": w * h, "iscrowd": int(crowd)})  # fmt: skip
        for box, score, label in zip(prediction["boxes"], prediction["scores"], prediction["labels"], strict=True):
            detections.append({"image_id": i + 1, "category_id": label, "bbox": xywh(box), "score": score})
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = {"images": images, "annotations": annotations, "categories": [{"id": 1}, {"id": 2}]}
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(detections), "bbox")
        evaluation.evaluate(), evaluation.accumulate(), evaluation.summarize()
    return list(evaluation.stats)


def test_map_matches_cocoeval() -> None:
    task = build_task(
        {"name": "detection", "arch": "fcos", "anchor_sizes": None},
        backbone={"name": "resnet18"}, optimizer={"name": "adamw", "lr": 1e-3}, scheduler={"name": "none"},
        data_facts={"num_classes": 2, "class_names": ["a", "b"], "category_ids": [1, 2],
                    "normalize": {"mean": [0.0] * 3, "std": [1.0] * 3}},
    )  # fmt: skip
    assert isinstance(task, DetectionTask)
    task.net = FixedDetector()
    images = [torch.zeros(3, 100, 100)] * len(TARGETS)
    targets = [{**as_tensors(t), "image_id": i + 1} for i, t in enumerate(TARGETS)]
    task.eval()
    task.update_map(task.val_map, task.step((images, targets)))
    result = task.val_map.compute()
    stats = cocoeval_stats()
    assert float(result["map"]) == pytest.approx(stats[0], abs=1e-6)
    assert float(result["map_50"]) == pytest.approx(stats[1], abs=1e-6)
    assert float(result["map_75"]) == pytest.approx(stats[2], abs=1e-6)
    assert 0.0 < stats[0] < 1.0  # a non-trivial case: some hits, some misses
