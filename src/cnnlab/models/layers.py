"""Small modules and shape helpers shared by the hand-written networks."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnlab.errors import CnnlabError


class ResizeInput(nn.Module):
    """Upsamples inputs smaller than a network's minimum size (e.g. 8x8 digits into 32x32 LeNet-5)."""

    def __init__(self, size: tuple[int, int]) -> None:
        super().__init__()
        self.size = tuple(size)

    def forward(self, x: Tensor) -> Tensor:
        return F.interpolate(x, size=self.size, mode="bilinear", align_corners=False)


def feature_size(features: nn.Module, in_channels: int, image_size: tuple[int, int], settings: str) -> int:
    """Number of features `features` yields for one image, found by running it once on zeros."""
    try:
        with torch.no_grad():
            out = features(torch.zeros(1, in_channels, *image_size))
    except RuntimeError as err:
        raise CnnlabError(
            f"{settings} shrink a {image_size[0]}x{image_size[1]} input to nothing; "
            "use fewer layers or a larger data.image_size"
        ) from err
    return out.numel()
