"""Class-activation maps by the grad-cam library (jacobgil/pytorch-grad-cam): the method by name, the layer by
name (default: the network's last convolution), overlays on the input as the network saw it."""

from __future__ import annotations

import contextlib
import difflib
import io
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence

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
PROGRESS_BAR_METHODS = ("scorecam", "ablationcam")


def cam_class(method: str) -> type:
    import pytorch_grad_cam

    if method not in METHODS:
        raise CnnlabError(f"--method {method} is not a CAM method; use one of: {', '.join(METHODS)}")
    return getattr(pytorch_grad_cam, METHODS[method])


def target_layer(network: nn.Module, name: str | None, kinds: tuple[type, ...] = (nn.Conv2d,)) -> tuple[str, nn.Module]:
    """The layer named `name`, or the last layer of `kinds` (a network's last convolution sees the most)."""
    layers = {n: m for n, m in network.named_modules() if n}  # "" is the whole network, not a layer
    if name is None:
        found = [(n, m) for n, m in layers.items() if isinstance(m, kinds)]
        if not found:
            raise CnnlabError("this network has no convolution to explain; name a layer with --layer")
        return found[-1]
    if not name:
        raise CnnlabError(f"--layer is empty; name a layer, e.g. {', '.join(last_convolutions(network))}")
    if name not in layers:
        close = difflib.get_close_matches(name, list(layers), n=3) or last_convolutions(network)
        raise CnnlabError(f"--layer {name}: the network has no such layer; e.g. {', '.join(close)}")
    return name, layers[name]


def last_convolutions(network: nn.Module, count: int = 3) -> list[str]:
    return [n for n, m in network.named_modules() if isinstance(m, nn.Conv2d)][-count:]


class _Seen(Exception):
    """Stops the forward pass once the layer's output is seen."""


def require_feature_maps(
    network: nn.Module, name: str, layer: nn.Module, example: torch.Tensor, pyramid: bool = False
) -> None:
    """A CAM weighs the channels of an N×C×H×W output (a detector's: also a pyramid of them); any other layer
    (a linear one, a flatten) fails deep inside grad-cam, so it is refused here, on a blank input."""
    seen: list = []

    def record(_module, _inputs, output) -> None:
        seen.append(output)
        raise _Seen

    handle = layer.register_forward_hook(record)
    try:
        with torch.no_grad():
            network.eval()(example)
    except _Seen:
        pass
    except Exception:  # noqa: BLE001 - a network the blank input does not suit: its real inputs will tell
        return
    finally:
        handle.remove()
    output = seen[0] if seen else None
    levels = list(output.values()) if pyramid and isinstance(output, Mapping) else [output]
    if not all(isinstance(level, torch.Tensor) and level.ndim == 4 for level in levels):
        raise CnnlabError(f"--layer {name} ({type(layer).__name__}) does not output feature maps (N×C×H×W), "
                          f"which a CAM needs; name a convolution stage, e.g. {', '.join(last_convolutions(network))}")


def heat_map(
    network: nn.Module,
    layer: nn.Module,
    method: str,
    image: torch.Tensor,
    targets: Sequence[Callable] | None,
    reshape_transform: Callable | None = None,
) -> np.ndarray:
    """(H, W) in [0, 1] at the input's size, for a batch of one."""
    # Score-CAM and Ablation-CAM draw a tqdm bar per image that grad-cam offers no switch for: one explanation is
    # not a loop a user waits on, and the bar would interleave with the command's own lines.
    quiet = contextlib.redirect_stderr(io.StringIO()) if method in PROGRESS_BAR_METHODS else contextlib.nullcontext()
    with quiet, cam_class(method)(model=network, target_layers=[layer], reshape_transform=reshape_transform) as cam:
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
