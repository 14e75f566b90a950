"""A scoped fix for scripting torchvision's detectors: scripted, their resize computes its scale in float32 (eager
Python uses double), so some image sizes come out 1 px smaller than in eager (300x200 -> 95x63, not 96x64) and the
boxes differ. Inside `eager_resize_scale()` torch.jit.script compiles a resize that computes the scale as eager
does; the saved TorchScript file holds the compiled code, so nothing is patched where it is loaded."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Dict, Optional, Tuple  # noqa: UP035 (TorchScript reads typing's generics)

import torch
import torchvision
from torch import Tensor
from torchvision.models.detection import transform


def _resize_like_eager(
    image: Tensor,
    self_min_size: int,
    self_max_size: int,
    target: Optional[Dict[str, Tensor]] = None,  # noqa: UP006, UP045
    fixed_size: Optional[Tuple[int, int]] = None,  # noqa: UP006, UP045
) -> Tuple[Tensor, Optional[Dict[str, Tensor]]]:  # noqa: UP006, UP045
    if target is not None or fixed_size is not None or torchvision._is_tracing():
        return _original(image, self_min_size, self_max_size, target, fixed_size)
    height, width = image.shape[-2], image.shape[-1]
    scale = min(float(self_min_size) / float(min(height, width)), float(self_max_size) / float(max(height, width)))
    resized = torch.nn.functional.interpolate(
        image[None], size=None, scale_factor=scale, mode="bilinear", recompute_scale_factor=True, align_corners=False
    )[0]
    return resized, target


_original = transform._resize_image_and_masks


@contextmanager
def eager_resize_scale() -> Iterator[None]:
    transform._resize_image_and_masks = _resize_like_eager
    try:
        yield
    finally:
        transform._resize_image_and_masks = _original
