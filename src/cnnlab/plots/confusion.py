"""Confusion-matrix figure."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # headless: figures are only ever written to files
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def confusion_matrix_figure(matrix: np.ndarray, class_names: Sequence[str], title: str = "Confusion matrix") -> Figure:
    """Counts with row-normalised colour (rows: true class, columns: predicted)."""
    n = len(class_names)
    size = min(20, 2 + 0.5 * n)
    figure, axes = plt.subplots(figsize=(size, size))
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    axes.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    axes.set(xticks=range(n), yticks=range(n), xlabel="predicted", ylabel="true", title=title)
    axes.set_xticklabels(class_names, rotation=90 if n > 10 else 0)
    axes.set_yticklabels(class_names)
    if n <= 30:
        for (i, j), count in np.ndenumerate(matrix):
            axes.text(j, i, int(count), ha="center", va="center", color="white" if rates[i, j] > 0.5 else "black")
    figure.tight_layout()
    return figure
