"""Class-activation maps by the grad-cam library (jacobgil/pytorch-grad-cam): the method by name, the layer by
name (default: the network's last convolution), overlays on the input as the network saw it."""

from __future__ import annotations

import difflib
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.errors import CnnlabError

METHODS = {
    "gradcam": "GradCAM", "gradcam++": "GradCAMPlusPlus", "hirescam": "HiResCAM", "xgradcam": "XGradCAM",
    "layercam": "LayerCAM", "eigencam": "EigenCAM", "eigengradcam": "EigenGradCAM", "scorecam": "ScoreCAM",
    "ablationcam": "AblationCAM",
}  # fmt: skip


def cam_class(method: str) -> type:
    import pytorch_grad_cam

    if method not in METHODS:
        raise CnnlabError(f"--method {method} is not a CAM method; use one of: {', '.join(METHODS)}")
    return getattr(pytorch_grad_cam, METHODS[method])


def target_layer(network: nn.Module, name: str | None, kinds: tuple[type, ...] = (nn.Conv2d,)) -> tuple[str, nn.Module]:
    """The layer named `name`, or the last layer of `kinds` (a network's last convolution sees the most)."""
    layers = dict(network.named_modules())
    if name is None:
        found = [(n, m) for n, m in layers.items() if isinstance(m, kinds)]
        if not found:
            raise CnnlabError("this network has no convolution to explain; name a layer with --layer")
        return found[-1]
    if name not in layers or not name:
        convolutions = [n for n, m in layers.items() if isinstance(m, nn.Conv2d)]
        close = difflib.get_close_matches(name, list(layers), n=3) or convolutions[-3:]
        raise CnnlabError(f"--layer {name}: the network has no such layer; e.g. {', '.join(close)}")
    return name, layers[name]


def heat_map(
    network: nn.Module,
    layer: nn.Module,
    method: str,
    image: torch.Tensor,
    targets: Sequence[Callable] | None,
    reshape_transform: Callable | None = None,
) -> np.ndarray:
    """(H, W) in [0, 1] at the input's size, for a batch of one."""
    with cam_class(method)(model=network, target_layers=[layer], reshape_transform=reshape_transform) as cam:
        return cam(input_tensor=image, targets=list(targets) if targets else None)[0]


def overlay(rgb: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """The heat map in the jet colours over an (H, W, 3) uint8 image, resized to it where sizes differ."""
    from pytorch_grad_cam.utils.image import show_cam_on_image

    if heat.shape != rgb.shape[:2]:
        heat = F.interpolate(torch.from_numpy(heat)[None, None], size=rgb.shape[:2], mode="bilinear")[0, 0].numpy()
    return show_cam_on_image(rgb.astype(np.float32) / 255.0, np.clip(heat, 0, 1), use_rgb=True)


def pyramid_maps(levels: OrderedDict | torch.Tensor) -> torch.Tensor:
    """A detector's feature pyramid as one tensor for the CAM: every level's magnitude at the coarsest level's
    size, stacked along channels (a tensor passes through)."""
    if isinstance(levels, torch.Tensor):
        return levels
    maps = list(levels.values())
    size = maps[-1].shape[-2:]
    return torch.cat([F.interpolate(m.abs(), size=size, mode="bilinear") for m in maps], dim=1)
