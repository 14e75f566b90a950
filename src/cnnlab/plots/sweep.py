"""Sweep figures: the objective against each swept parameter, and parallel coordinates over all of them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # headless: figures are only ever written to files
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def _numeric(values: Sequence[str]) -> tuple[np.ndarray, list[str] | None]:
    """Floats for numeric values; otherwise category positions and their labels."""
    try:
        return np.array([float(v) for v in values]), None
    except ValueError:
        labels = sorted(set(values))
        return np.array([labels.index(v) for v in values], dtype=float), labels


def metric_vs_parameter_figure(values: Sequence[str], scores: Sequence[float], parameter: str, metric: str) -> Figure:
    figure, axes = plt.subplots(figsize=(5, 4))
    x, labels = _numeric(values)
    axes.scatter(x, scores)
    if labels is not None:
        axes.set_xticks(range(len(labels)), labels, rotation=30)
    elif x.min() > 0 and x.max() / x.min() >= 100:  # learning rates and the like span decades
        axes.set_xscale("log")
    axes.set(xlabel=parameter, ylabel=metric, title=f"{metric} vs {parameter}")
    figure.tight_layout()
    return figure


def parallel_coordinates_figure(columns: Mapping[str, Sequence[str]], scores: Sequence[float], metric: str) -> Figure:
    """One line per job across every parameter axis (each scaled to [0, 1]), coloured by the metric."""
    names = list(columns)
    axes_values = []
    for name in names:
        x, _ = _numeric(columns[name])
        span = x.max() - x.min()
        axes_values.append((x - x.min()) / span if span else np.full_like(x, 0.5))
    figure, axes = plt.subplots(figsize=(2 + 1.5 * len(names), 4))
    scores = np.asarray(scores, dtype=float)
    finite = scores[np.isfinite(scores)]
    low, high = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    colours = plt.cm.viridis((scores - low) / ((high - low) or 1.0))
    for job in range(len(scores)):
        axes.plot(range(len(names)), [values[job] for values in axes_values], color=colours[job], alpha=0.8)
    axes.set_xticks(range(len(names)), names, rotation=20)
    axes.set_yticks([])
    mappable = plt.cm.ScalarMappable(cmap="viridis", norm=plt.Normalize(low, high))
    figure.colorbar(mappable, ax=axes, label=metric)
    axes.set_title("parallel coordinates")
    figure.tight_layout()
    return figure
