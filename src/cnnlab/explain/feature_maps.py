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
DEFAULT_CHANNELS = 8  # feature maps shown per stage
MAX_CHANNELS = 128  # a figure 128 maps wide is already ~15,000 pixels; matplotlib refuses 2**23
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


def feature_map_figure(stages: list[Stage], channels: int | None = None) -> Figure:
    """One row per stage: its first `channels` maps side by side, each scaled to its own range (one image per row:
    a grid of axes per map took a second a figure); no wider than the widest stage."""
    stages = shown_stages(stages)
    channels = min(channels or DEFAULT_CHANNELS, max((len(stage.maps) for stage in stages), default=1))
    figure, axes = plt.subplots(len(stages), 1, figsize=(1.1 * channels + 2.8, 1.15 * len(stages)), squeeze=False)
    for (axis,), stage in zip(axes, stages, strict=True):
        axis.imshow(_strip(stage.maps[:channels], channels), cmap="viridis", interpolation="nearest")
        axis.set_xticks([])
        axis.set_yticks([])
        axis.set_ylabel(stage.label(), rotation=0, ha="right", va="center", fontsize=7)
    figure.tight_layout()
    return figure


def _scaled(image: np.ndarray) -> np.ndarray:
    low, high = float(image.min()), float(image.max())
    return (image - low) / (high - low) if high > low else np.zeros_like(image)


def _strip(maps: np.ndarray, slots: int) -> np.ndarray:
    """Maps (n, h, w) side by side with a 1-pixel gap (NaN: drawn blank), `slots` places wide."""
    height, width = maps.shape[1:]
    strip = np.full((height, slots * (width + 1) - 1), np.nan, dtype=np.float32)
    for index, image in enumerate(maps):
        strip[:, index * (width + 1) : index * (width + 1) + width] = _scaled(image)
    return strip


def first_convolution(network: nn.Module) -> tuple[str, nn.Conv2d] | None:
    for name, module in network.named_modules():
        if isinstance(module, nn.Conv2d):
            return name, module
    return None


def filter_figure(network: nn.Module, limit: int = 64) -> Figure | None:
    """The first convolution's learned filters on one grid, 8 a row: RGB where it reads three channels, else the
    first channel in grey (0 = mid-grey)."""
    found = first_convolution(network)
    if found is None:
        return None
    name, conv = found
    weights = conv.weight.detach().float().cpu().numpy()[:limit]  # (out, in, kh, kw)
    colour = weights.shape[1] == 3
    columns = min(8, len(weights))
    rows = -(-len(weights) // columns)
    height, width = weights.shape[2:]
    grid = np.full(((height + 1) * rows - 1, (width + 1) * columns - 1, 3), 0.15, dtype=np.float32)  # dark gaps
    for index, kernel in enumerate(weights):
        span = float(np.abs(kernel).max()) or 1.0
        tile = np.transpose(kernel, (1, 2, 0)) if colour else np.repeat(kernel[0][..., None], 3, axis=-1)
        row, column = divmod(index, columns)
        grid[row * (height + 1) : row * (height + 1) + height, column * (width + 1) : column * (width + 1) + width] = (
            tile / (2 * span) + 0.5
        )
    figure, axis = plt.subplots(figsize=(0.5 * columns + 0.6, 0.5 * rows + 0.7))
    axis.imshow(grid, interpolation="nearest")
    axis.set_xticks([])
    axis.set_yticks([])
    axis.set_title(f"{name}: {len(weights)} of {conv.out_channels} filters, {conv.kernel_size[0]}×"
                   f"{conv.kernel_size[1]}×{conv.in_channels}", fontsize=8)  # fmt: skip
    figure.tight_layout()
    return figure
