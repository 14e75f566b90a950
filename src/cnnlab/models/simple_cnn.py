"""The seed's simple CNN: [conv -> (BN) -> ReLU -> pool] x len(filters) -> FC -> ReLU -> (dropout) -> FC."""

from __future__ import annotations

import torch
from torch import nn

from cnnlab.errors import pick
from cnnlab.models.layers import feature_size
from cnnlab.setting_types import NonEmpty, PositiveInt, Probability


class SimpleCNN(nn.Module):
    def __init__(
        self,
        *,
        in_channels: int,
        num_classes: int,
        image_size: tuple[int, int],
        filters: NonEmpty[PositiveInt] = (32, 64),
        kernel_size: PositiveInt = 3,
        stride: PositiveInt = 1,
        padding: str | int = "same",
        pool: str = "max",
        fc_width: PositiveInt = 128,
        dropout: Probability = 0.0,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        # "same" as an explicit size so it also works with stride > 1 (PyTorch refuses padding="same" there).
        pad = {"same": kernel_size // 2, "valid": 0}.get(padding, padding)
        pool_layer = pick("backbone.pool", pool, {"max": nn.MaxPool2d, "avg": nn.AvgPool2d})
        layers: list[nn.Module] = []
        channels = in_channels
        for width in filters:
            layers.append(nn.Conv2d(channels, width, kernel_size, stride=stride, padding=pad, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers += [nn.ReLU(inplace=True), pool_layer(2)]
            channels = width
        self.features = nn.Sequential(*layers)
        flat = feature_size(self.features, in_channels, image_size, "backbone.filters / kernel_size / stride")
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, fc_width),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(fc_width, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
