"""Detectors: a torchvision detection architecture (task.arch) on the feature pyramid a backbone name maps to."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.error import URLError

import torch
from torch import nn

from cnnlab.errors import CnnlabError, pick
from cnnlab.models.backbones import require_backbone

ARCHITECTURES = ("fasterrcnn", "maskrcnn", "retinanet", "fcos", "ssdlite")


def fpn_backbone(name: str, *, pretrained: bool, single_stage: bool) -> nn.Module:
    """torchvision's FPN over a ResNet or MobileNetV3; single-stage heads (RetinaNet, FCOS) take P3-P7."""
    from torchvision.models import get_model_weights
    from torchvision.models.detection.backbone_utils import mobilenet_backbone, resnet_fpn_backbone
    from torchvision.ops.feature_pyramid_network import LastLevelP6P7

    weights = get_model_weights(name).DEFAULT if pretrained else None
    try:
        if name.startswith("mobilenet"):
            return mobilenet_backbone(backbone_name=name, weights=weights, fpn=True, trainable_layers=6)
        extra = {"returned_layers": [2, 3, 4], "extra_blocks": LastLevelP6P7(256, 256)} if single_stage else {}
        return resnet_fpn_backbone(backbone_name=name, weights=weights, trainable_layers=5, **extra)
    except (URLError, OSError, RuntimeError) as err:
        if not pretrained:
            raise
        raise CnnlabError(
            f"backbone.pretrained=true could not download {name} weights ({err}); "
            "offline, set backbone.pretrained=false"
        ) from err


def build_detector(
    backbone: Mapping[str, Any],
    *,
    arch: str,
    num_classes: int,
    min_size: int,
    max_size: int,
    anchor_sizes: Sequence[int] | None,
    score_thresh: float,
    detections_per_img: int,
    **arch_options: Any,
) -> nn.Module:
    """A torchvision detector for `num_classes` object classes (+1 background), normalisation left to the data."""
    from torchvision.models import detection

    pick("task.arch", arch, dict.fromkeys(ARCHITECTURES))
    name = backbone["name"]
    entry = require_backbone(name, "detection")
    pretrained = bool(backbone.get("pretrained"))
    classes = num_classes + 1  # torchvision's convention for every detector: label 0 is background
    # The data pipeline already normalises; the detector's own transform must not do it twice.
    common = {"image_mean": [0.0, 0.0, 0.0], "image_std": [1.0, 1.0, 1.0], **arch_options}
    if arch == "ssdlite":
        if name != "mobilenet_v3_large":
            raise CnnlabError(f"task.arch=ssdlite needs backbone=mobilenet_v3_large, not backbone={name}")
        return detection.ssdlite320_mobilenet_v3_large(
            weights=None, weights_backbone="DEFAULT" if pretrained else None, num_classes=classes,
            score_thresh=score_thresh, detections_per_img=detections_per_img, **common,
        )  # fmt: skip
    trunk = entry.builder("detection")
    features = fpn_backbone(trunk, pretrained=pretrained, single_stage=arch in ("retinanet", "fcos"))
    anchors = _anchor_generator(features, anchor_sizes, arch)
    sizes = {"min_size": min_size, "max_size": max_size, **common}
    if arch in ("fasterrcnn", "maskrcnn"):
        cls = detection.FasterRCNN if arch == "fasterrcnn" else detection.MaskRCNN
        return cls(
            features, num_classes=classes, rpn_anchor_generator=anchors, box_score_thresh=score_thresh,
            box_detections_per_img=detections_per_img, **sizes,
        )  # fmt: skip
    cls = detection.RetinaNet if arch == "retinanet" else detection.FCOS
    return cls(
        features, num_classes=classes, anchor_generator=anchors, score_thresh=score_thresh,
        detections_per_img=detections_per_img, **sizes,
    )  # fmt: skip


def _anchor_generator(features: nn.Module, anchor_sizes: Sequence[int] | None, arch: str):
    """One anchor size per pyramid level (FCOS: one point per location); None: the architecture's default."""
    from torchvision.models.detection.anchor_utils import AnchorGenerator

    with torch.no_grad():
        levels = len(features(torch.zeros(1, 3, 64, 64)))
    if anchor_sizes is None:
        if levels == 5:
            return None  # torchvision's defaults fit a five-level pyramid
        # A shallower pyramid (MobileNet's three levels) gets every default size on every level, as torchvision does.
        return AnchorGenerator(sizes=((32, 64, 128, 256, 512),) * levels, aspect_ratios=((0.5, 1.0, 2.0),) * levels)
    if len(anchor_sizes) != levels:
        raise CnnlabError(f"task.anchor_sizes needs {levels} sizes (one per feature level), got {list(anchor_sizes)}")
    if arch == "fcos":
        return AnchorGenerator(sizes=tuple((s,) for s in anchor_sizes), aspect_ratios=((1.0,),) * levels)
    if arch == "retinanet":  # RetinaNet's three scales per level
        scales = tuple(tuple(s * 2 ** (k / 3) for k in range(3)) for s in anchor_sizes)
        return AnchorGenerator(sizes=scales, aspect_ratios=((0.5, 1.0, 2.0),) * levels)
    return AnchorGenerator(sizes=tuple((s,) for s in anchor_sizes), aspect_ratios=((0.5, 1.0, 2.0),) * levels)


def without_background(outputs: list[dict[str, torch.Tensor]]) -> list[dict[str, torch.Tensor]]:
    """Drops label-0 detections: single-stage heads (RetinaNet, FCOS, SSD) score background like any class."""
    return [{k: v[found["labels"] > 0] for k, v in found.items()} for found in outputs]


class PaddedDetections(nn.Module):
    """Serving form of a detector: a (N, 3, H, W) batch in, one (N, max_detections, 6) tensor out.

    Each row is x0, y0, x1, y1, score, label; rows past an image's detections are -1. A fixed shape is what an
    MLflow signature can describe; the detector's own output is a list of dicts of varying length.
    """

    def __init__(self, detector: nn.Module, max_detections: int) -> None:
        super().__init__()
        self.detector = detector
        self.max_detections = max_detections

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        outputs = without_background(self.detector(list(images)))
        result = images.new_full((len(outputs), self.max_detections, 6), -1.0)
        for index, found in enumerate(outputs):
            n = min(len(found["boxes"]), self.max_detections)
            rows = [found["boxes"][:n], found["scores"][:n, None], found["labels"][:n, None].to(images.dtype)]
            result[index, :n] = torch.cat(rows, dim=1)
        return result
