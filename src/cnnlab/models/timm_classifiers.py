"""Any timm model by name (backbone=timm backbone.model=NAME); timm itself adapts channels and classes."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from cnnlab.errors import CnnlabError


def build_timm_classifier(
    *,
    model: str,
    in_channels: int,
    num_classes: int,
    image_size: tuple[int, int],
    pretrained: bool = False,
    weights_path: str | None = None,
) -> nn.Module:
    import timm  # heavy; only runs that ask for timm pay for it

    if not timm.is_model(model):
        raise CnnlabError(f"backbone.model={model} is not a timm model; see timm.list_models() for the names")
    kwargs = {"num_classes": num_classes, "in_chans": in_channels}
    if pretrained and weights_path:
        if not Path(weights_path).is_file():
            raise CnnlabError(f"backbone.weights_path={weights_path} does not exist; give a timm checkpoint file")
        kwargs["pretrained_cfg_overlay"] = {"file": str(weights_path)}
    try:
        return timm.create_model(model, pretrained=pretrained, **kwargs)
    except (OSError, RuntimeError, ValueError) as err:
        if not pretrained:
            raise
        raise CnnlabError(
            f"backbone.pretrained=true could not fetch timm weights for {model} ({type(err).__name__}: {err}); "
            "offline, set backbone.weights_path=FILE or backbone.pretrained=false"
        ) from err
