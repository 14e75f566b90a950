"""A fully connected baseline (flatten -> [linear -> ReLU -> dropout] per hidden width -> linear to the classes):
every pixel wired to every unit, no weight sharing, the network a CNN primer compares the CNN against."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from cnnlab.setting_types import NonEmpty, PositiveInt, Probability


class MLP(nn.Module):
    def __init__(
        self,
        *,
        in_channels: int,
        num_classes: int,
        image_size: tuple[int, int],
        hidden: NonEmpty[PositiveInt] = (256, 128),
        dropout: Probability = 0.0,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_channels * math.prod(image_size)
        for units in hidden:
            layers += [nn.Linear(width, units), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            width = units
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def mlp_parameters(inputs: int, hidden: Sequence[int], classes: int) -> int:
    """Weights and biases of the MLP for `inputs` input values: what backbone.hidden costs."""
    widths = [inputs, *hidden, classes]
    return sum((a + 1) * b for a, b in zip(widths, widths[1:], strict=False))
