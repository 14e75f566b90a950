"""Every detection architecture builds on a shared backbone, trains a step and predicts boxes."""

from __future__ import annotations

import pytest
import torch

from cnnlab.errors import CnnlabError
from cnnlab.models.detection import PaddedDetections, build_detector

CASES = [
    ("fasterrcnn", "resnet18"),
    ("maskrcnn", "resnet18"),
    ("retinanet", "resnet18"),
    ("fcos", "resnet18"),
    ("ssdlite", "mobilenet_v3_large"),
    ("fasterrcnn", "mobilenet_v3_large"),
]
SIZES = {"min_size": 64, "max_size": 64, "anchor_sizes": None, "score_thresh": 0.0, "detections_per_img": 10}


def targets(with_masks: bool) -> list[dict]:
    first = {"boxes": torch.tensor([[8.0, 8.0, 40.0, 36.0]]), "labels": torch.tensor([2])}
    empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}  # a negative image
    if with_masks:
        first["masks"] = torch.zeros(1, 64, 64, dtype=torch.uint8)
        first["masks"][0, 8:36, 8:40] = 1
        empty["masks"] = torch.zeros(0, 64, 64, dtype=torch.uint8)
    return [first, empty]


@pytest.mark.parametrize(("arch", "backbone"), CASES, ids=[f"{a}-{b}" for a, b in CASES])
def test_train_step_and_eval_step(arch: str, backbone: str) -> None:
    torch.manual_seed(0)
    model = build_detector({"name": backbone, "pretrained": False}, arch=arch, num_classes=3, **SIZES)
    images = [torch.rand(3, 64, 64), torch.rand(3, 64, 64)]
    model.train()
    losses = model(images, targets(arch == "maskrcnn"))
    loss = sum(losses.values())
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in model.parameters() if p.requires_grad)
    model.eval()
    with torch.no_grad():
        found = model(images)
    assert len(found) == 2 and {"boxes", "scores", "labels"} <= set(found[0])
    assert found[0]["boxes"].shape[-1] == 4 and (found[0]["labels"] <= 3).all()
    if arch == "maskrcnn":
        assert found[0]["masks"].shape[-2:] == (64, 64)


def test_padded_serving_output() -> None:
    model = build_detector({"name": "resnet18"}, arch="fcos", num_classes=2, **SIZES).eval()
    with torch.no_grad():
        out = PaddedDetections(model, 10)(torch.rand(2, 3, 64, 64))
    assert out.shape == (2, 10, 6)
    rows = out[out[..., 5] >= 0]
    assert ((rows[:, 4] >= 0) & (rows[:, 4] <= 1)).all() and ((rows[:, 5] >= 1) & (rows[:, 5] <= 2)).all()


def test_incompatible_pairs_are_one_line() -> None:
    with pytest.raises(CnnlabError, match="task.arch=ssdlite needs backbone=mobilenet_v3_large, not backbone=resnet18"):
        build_detector({"name": "resnet18"}, arch="ssdlite", num_classes=2, **SIZES)
    with pytest.raises(CnnlabError, match="backbone=simple_cnn cannot serve task=detection; valid backbones"):
        build_detector({"name": "simple_cnn"}, arch="fasterrcnn", num_classes=2, **SIZES)
    with pytest.raises(CnnlabError, match="task.arch=yolo is not valid; use one of: fasterrcnn, maskrcnn"):
        build_detector({"name": "resnet18"}, arch="yolo", num_classes=2, **SIZES)
    with pytest.raises(CnnlabError, match="task.anchor_sizes needs 5 sizes"):
        build_detector({"name": "resnet18"}, arch="fasterrcnn", num_classes=2, **{**SIZES, "anchor_sizes": [16, 32]})
