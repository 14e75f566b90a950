"""Feature maps of each convolution and pooling stage for one input, and the first convolution's filters, as
labelled image grids (the stage's name and its output H×W×C, as a CNN primer draws them)."""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from torch import nn  # noqa: E402

STAGES = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)
MAX_ROWS = 12  # deeper networks show this many stages, the first and the last among them


@dataclass(frozen=True)
class Stage:
    name: str
    kind: str
    maps: np.ndarray  # (channels, height, width) of one input

    def label(self) -> str:
        channels, height, width = self.maps.shape
        return f"{self.name} ({self.kind}) {height}×{width}×{channels}"


def stage_outputs(network: nn.Module, image: torch.Tensor, part: nn.Module | None = None) -> list[Stage]:
    """Each convolution and pooling layer's output for `image` (a batch of one), in running order; only those of
    `part` (a detector's backbone) when given, the whole network running as it does on its inputs."""
    names = {module: name for name, module in network.named_modules()}
    stages: list[Stage] = []

    def record(module: nn.Module, _inputs, output) -> None:
        if isinstance(output, torch.Tensor) and output.ndim == 4:
            # a copy: an in-place ReLU after a convolution would otherwise change the maps recorded for it
            stages.append(Stage(names[module], type(module).__name__, output[0].detach().float().cpu().clone().numpy()))

    handles = [m.register_forward_hook(record) for m in (part or network).modules() if isinstance(m, STAGES)]
    try:
        with torch.no_grad():
            network(image)
    finally:
        for handle in handles:
            handle.remove()
    return stages


def shown_stages(stages: list[Stage], rows: int = MAX_ROWS) -> list[Stage]:
    if len(stages) <= rows:
        return stages
    picks = np.linspace(0, len(stages) - 1, rows).round().astype(int)
    return [stages[i] for i in sorted(set(picks.tolist()))]


def feature_map_figure(stages: list[Stage], channels: int) -> Figure:
    """One row per stage: its first `channels` maps, each scaled to its own range."""
    stages = shown_stages(stages)
    figure, axes = plt.subplots(len(stages), channels, figsize=(1.2 * channels + 2.5, 1.3 * len(stages)),
                                squeeze=False)  # fmt: skip
    for row, stage in zip(axes, stages, strict=True):
        for column, axis in enumerate(row):
            axis.set_xticks([])
            axis.set_yticks([])
            if column < len(stage.maps):
                axis.imshow(stage.maps[column], cmap="viridis")
            else:
                axis.axis("off")
        row[0].set_ylabel(stage.label(), rotation=0, ha="right", va="center", fontsize=7)
    figure.tight_layout()
    return figure


def first_convolution(network: nn.Module) -> tuple[str, nn.Conv2d] | None:
    for name, module in network.named_modules():
        if isinstance(module, nn.Conv2d):
            return name, module
    return None


def filter_figure(network: nn.Module, limit: int = 64) -> Figure | None:
    """The first convolution's learned filters: RGB where it reads three channels, else one channel each."""
    found = first_convolution(network)
    if found is None:
        return None
    name, conv = found
    weights = conv.weight.detach().float().cpu().numpy()[:limit]  # (out, in, kh, kw)
    columns = min(8, len(weights))
    rows = -(-len(weights) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(1.1 * columns, 1.1 * rows + 0.4), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.set_xticks([])
        axis.set_yticks([])
        if index >= len(weights):
            axis.axis("off")
            continue
        kernel = weights[index]
        span = np.abs(kernel).max() or 1.0
        if kernel.shape[0] == 3:
            axis.imshow(np.transpose(kernel / (2 * span) + 0.5, (1, 2, 0)))
        else:
            axis.imshow(kernel[0], cmap="gray", vmin=-span, vmax=span)
    figure.suptitle(f"{name}: {len(weights)} of {conv.out_channels} filters, {conv.kernel_size[0]}×"
                    f"{conv.kernel_size[1]}×{conv.in_channels}", fontsize=8)  # fmt: skip
    figure.tight_layout()
    return figure
