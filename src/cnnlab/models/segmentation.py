"""Segmentation models: an smp architecture (task.arch) on the smp encoder that a backbone name maps to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.models.backbones import require_backbone


def segmentation_architectures() -> list[str]:
    import segmentation_models_pytorch as smp

    return sorted(cls.__name__ for cls in smp.MODEL_ARCHITECTURES_MAPPING.values())


def build_segmenter(
    backbone: Mapping[str, Any], *, arch: str, in_channels: int, num_classes: int, **arch_options: Any
) -> nn.Module:
    """smp.create_model(arch, encoder of `backbone`), with ImageNet encoder weights when backbone.pretrained."""
    import segmentation_models_pytorch as smp  # heavy; only segmentation pays for it

    entry = require_backbone(backbone["name"], "segmentation")
    architectures = {name.lower(): name for name in segmentation_architectures()}
    if arch.lower() not in architectures:
        raise CnnlabError(f"task.arch={arch} is not an smp architecture; valid: {', '.join(architectures.values())}")
    encoder = entry.builder("segmentation")
    encoder = encoder(backbone) if callable(encoder) else encoder
    pretrained = bool(backbone.get("pretrained"))
    try:
        return smp.create_model(
            architectures[arch.lower()], encoder_name=encoder, encoder_weights="imagenet" if pretrained else None,
            in_channels=in_channels, classes=num_classes, **arch_options,
        )  # fmt: skip
    except TypeError as err:
        raise CnnlabError(f"task.arch_options: {err}") from err
    except ValueError as err:  # smp's word on an encoder the architecture cannot take
        raise CnnlabError(f"task.arch={arch} with backbone={backbone['name']}: {err}") from err
    except (OSError, RuntimeError) as err:
        if not pretrained:
            raise
        raise CnnlabError(
            f"backbone.pretrained=true could not fetch ImageNet weights for smp encoder {encoder} ({err}); "
            "offline, set backbone.pretrained=false"
        ) from err
