"""LeNet-5 (LeCun et al., 1998): C1 6@5x5 -> S2 -> C3 16@5x5 -> S4 -> C5 120@5x5 -> F6 84 -> output."""

from __future__ import annotations

import torch
from torch import nn

from cnnlab.errors import pick
from cnnlab.models.layers import feature_size


class LeNet5(nn.Module):
    min_size = 32  # the paper's input; smaller images are upsampled by the registry

    def __init__(
        self,
        *,
        in_channels: int,
        num_classes: int,
        image_size: tuple[int, int],
        activation: str = "tanh",
        pool: str = "avg",
    ) -> None:
        super().__init__()
        act = pick("backbone.activation", activation, {"tanh": nn.Tanh, "relu": nn.ReLU})
        pool_layer = pick("backbone.pool", pool, {"avg": nn.AvgPool2d, "max": nn.MaxPool2d})
        size = (max(image_size[0], self.min_size), max(image_size[1], self.min_size))
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5), act(), pool_layer(2),
            nn.Conv2d(6, 16, 5), act(), pool_layer(2),
            nn.Conv2d(16, 120, 5), act(),
        )  # fmt: skip
        flat = feature_size(self.features, in_channels, size, "backbone=lenet5")
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(flat, 84), act(), nn.Linear(84, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
