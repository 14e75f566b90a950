"""Segmentation overlays: input | ground truth | prediction, one row per image."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402


def class_colours(num_classes: int) -> np.ndarray:
    """RGB in 0..1 per class; class 0 (background) transparent-ish dark."""
    colours = plt.get_cmap("tab20" if num_classes > 10 else "tab10")(np.arange(num_classes) % 20)[:, :3]
    colours[0] = 0.0
    return colours


def segmentation_overlay_figure(
    images: np.ndarray,
    targets: np.ndarray,
    predictions: np.ndarray,
    class_names: Sequence[str],
    ignore_index: int,
    title: str = "",
) -> Figure:
    """images (N, H, W, 3) in 0..1; targets and predictions (N, H, W) class indices."""
    n = len(images)
    colours = class_colours(len(class_names))
    cmap = ListedColormap(colours)
    figure, axes = plt.subplots(n, 3, figsize=(7.5, 2.5 * n + 0.6), squeeze=False)
    for row, (image, target, prediction) in enumerate(zip(images, targets, predictions, strict=True)):
        for col, (mask, name) in enumerate(((None, "input"), (target, "ground truth"), (prediction, "prediction"))):
            axis = axes[row, col]
            axis.imshow(image)
            if mask is not None:
                shown = np.ma.masked_where((mask == 0) | (mask == ignore_index), mask)
                axis.imshow(shown, cmap=cmap, vmin=0, vmax=len(class_names) - 1, alpha=0.6, interpolation="nearest")
            axis.set_axis_off()
            if row == 0:
                axis.set_title(name)
    handles = [Patch(color=colours[i], label=name) for i, name in enumerate(class_names) if i > 0][:20]
    figure.legend(handles=handles, loc="lower center", ncol=min(len(handles), 5), fontsize="small")
    if title:
        figure.suptitle(title)
    figure.tight_layout(rect=(0, 0.05, 1, 0.97))
    return figure
