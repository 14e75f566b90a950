"""Detection overlays: ground-truth and predicted boxes (and masks) on the image, one panel pair per image."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from cnnlab.plots.overlay import class_colours  # noqa: E402


def detection_overlay_figure(
    images: Sequence[np.ndarray],
    targets: Sequence[dict],
    predictions: Sequence[dict],
    class_names: Sequence[str],
    title: str = "",
) -> Figure:
    """images (H, W, 3) in 0..1; targets/predictions with numpy "boxes" (x0, y0, x1, y1), "labels" (1..K),
    predictions also "scores", either optionally "masks" (N, H, W)."""
    colours = class_colours(len(class_names) + 1)
    figure, axes = plt.subplots(len(images), 2, figsize=(6, 3 * len(images) + 0.5), squeeze=False)
    for row, (image, target, prediction) in enumerate(zip(images, targets, predictions, strict=True)):
        for col, (found, name) in enumerate(((target, "ground truth"), (prediction, "prediction"))):
            axis = axes[row, col]
            shown = image.copy()
            for mask, label in zip(found.get("masks", []), found["labels"], strict=False):
                shown[mask > 0.5] = 0.5 * shown[mask > 0.5] + 0.5 * colours[label]
            axis.imshow(shown)
            scores = found.get("scores", [None] * len(found["labels"]))
            for box, label, score in zip(found["boxes"], found["labels"], scores, strict=True):
                x0, y0, x1, y1 = box
                axis.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color=colours[label], linewidth=1.5))
                text = class_names[label - 1] + ("" if score is None else f" {score:.2f}")
                axis.text(x0, y0, text, color="white", fontsize=6, va="bottom",
                          bbox={"facecolor": colours[label], "alpha": 0.7, "pad": 1, "linewidth": 0})  # fmt: skip
            axis.set_axis_off()
            if row == 0:
                axis.set_title(name)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure
