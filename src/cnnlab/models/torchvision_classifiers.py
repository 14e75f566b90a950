"""torchvision classifiers (AlexNet, VGG, ResNet, and any other by name) adapted to the data's channels and classes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.error import URLError

import torch
import torchvision
from torch import nn

from cnnlab.errors import CnnlabError


def torchvision_classifier(arch: str) -> Callable[..., nn.Module]:
    """A builder for one fixed torchvision architecture (the entries `alexnet`, `vgg16`, `resnet18`, ...)."""

    def build(
        *,
        in_channels: int,
        num_classes: int,
        image_size: tuple[int, int],
        pretrained: bool = False,
        weights_path: str | None = None,
    ) -> nn.Module:
        return build_torchvision_classifier(
            model=arch, in_channels=in_channels, num_classes=num_classes, image_size=image_size,
            pretrained=pretrained, weights_path=weights_path,
        )  # fmt: skip

    build.__name__ = f"build_{arch}"
    return build


def build_torchvision_classifier(
    *,
    model: str,
    in_channels: int,
    num_classes: int,
    image_size: tuple[int, int],
    pretrained: bool = False,
    weights_path: str | None = None,
) -> nn.Module:
    """Any classification model of torchvision.models by name (backbone=torchvision backbone.model=NAME)."""
    known = torchvision.models.list_models(module=torchvision.models)
    if model not in known:
        raise CnnlabError(f"backbone.model={model} is not a torchvision classifier; valid: {', '.join(known)}")
    if not pretrained:
        net = torchvision.models.get_model(model, weights=None, num_classes=num_classes)
    else:
        net = torchvision.models.get_model(model, weights=None)
        net.load_state_dict(_pretrained_state_dict(model, weights_path))
        _replace_output_layer(net, num_classes, model)
    if in_channels != 3:
        _adapt_first_conv(net, in_channels)
    return net


def _pretrained_state_dict(model: str, weights_path: str | None) -> dict[str, torch.Tensor]:
    if weights_path:
        path = Path(weights_path)
        if not path.is_file():
            raise CnnlabError(
                f"backbone.weights_path={weights_path} does not exist; give a torchvision .pth state dict"
            )
        return torch.load(path, map_location="cpu", weights_only=True)
    weights = torchvision.models.get_model_weights(model).DEFAULT
    try:
        return weights.get_state_dict(progress=False)
    except (URLError, OSError, RuntimeError) as err:
        cache = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
        raise CnnlabError(
            f"backbone.pretrained=true could not download {model} weights from {weights.url} ({err}); "
            f"offline, copy that file to {cache} or set backbone.weights_path=FILE, or set backbone.pretrained=false"
        ) from err


def _replace_output_layer(net: nn.Module, num_classes: int, model: str) -> None:
    """Swaps the last Linear (the ImageNet output layer in torchvision classifiers) for one sized to the data."""
    linears = [(name, m) for name, m in net.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise CnnlabError(f"backbone.model={model} has no Linear output layer to resize; pick another model")
    name, old = linears[-1]
    _set_submodule(net, name, nn.Linear(old.in_features, num_classes))


def _adapt_first_conv(net: nn.Module, in_channels: int) -> None:
    """Gives the first convolution `in_channels` inputs, keeping pretrained filters as their channel mean."""
    name, old = next((n, m) for n, m in net.named_modules() if isinstance(m, nn.Conv2d))
    new = nn.Conv2d(
        in_channels, old.out_channels, old.kernel_size, old.stride, old.padding, old.dilation, old.groups,
        bias=old.bias is not None,
    )  # fmt: skip
    with torch.no_grad():
        # The mean keeps the pretrained response to a gray image of the same intensity.
        new.weight.copy_(old.weight.mean(dim=1, keepdim=True).expand_as(new.weight) * 3 / in_channels)
        if old.bias is not None:
            new.bias.copy_(old.bias)
    _set_submodule(net, name, new)


def _set_submodule(net: nn.Module, dotted: str, module: nn.Module) -> None:
    parent_name, _, child = dotted.rpartition(".")
    setattr(net.get_submodule(parent_name) if parent_name else net, child, module)
