"""Sweep figures: the objective against each swept parameter, and parallel coordinates over all of them."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # headless: figures are only ever written to files
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import LogLocator, MaxNLocator, NullLocator  # noqa: E402

MOST_LABELLED_VALUES = 8  # up to this many distinct values each get a tick; more (an Optuna study) get round ticks
LOG_SPAN = 10  # positive values whose largest is 10x their smallest or more were swept on a log scale (lr, decay)
PADDING = 0.06  # parallel coordinates: room above and below each axis, a fraction of its height


@dataclass(frozen=True)
class ParameterAxis:
    """How a swept setting is drawn: one position per job, whether the axis is logarithmic, and its ticks."""

    values: np.ndarray  # the numbers, or each job's category index
    ticks: np.ndarray  # in the same units as values
    labels: list[str]
    log: bool = False
    categorical: bool = False

    def scaled(self, values: np.ndarray) -> np.ndarray:
        """`values` placed on [0, 1]: the axis's smallest value at 0 and its largest at 1 (log-spaced if log)."""
        finite = self.values[np.isfinite(self.values)]
        if finite.size == 0:
            return np.full_like(values, 0.5, dtype=float)
        low, high = finite.min(), finite.max()
        if self.log:
            values, low, high = np.log10(values), math.log10(low), math.log10(high)
        return (values - low) / (high - low) if high > low else np.full_like(values, 0.5, dtype=float)


def parameter_axis(values: Sequence[str]) -> ParameterAxis:
    """Numbers on a linear or (log-spaced) log axis, ticked at their values; anything else as named categories."""
    try:
        numbers = np.array([float(v) for v in values])
    except ValueError:
        categories = sorted(set(values))
        positions = np.array([categories.index(v) for v in values], dtype=float)
        return ParameterAxis(positions, np.arange(len(categories), dtype=float), categories, categorical=True)
    finite = numbers[np.isfinite(numbers)]
    log = finite.size > 0 and finite.min() > 0 and finite.max() / finite.min() >= LOG_SPAN
    ticks = _ticks(finite, log)
    return ParameterAxis(numbers, ticks, [value_label(t, log) for t in ticks], log=bool(log))


def metric_axis(scores: Sequence[float]) -> ParameterAxis:
    """The objective as the last parallel axis, ticked at round values."""
    numbers = np.asarray(scores, dtype=float)
    finite = numbers[np.isfinite(numbers)]
    ticks = _round_ticks(finite, log=False) if finite.size else np.array([])
    return ParameterAxis(numbers, ticks, [value_label(t, False) for t in ticks])


def _ticks(finite: np.ndarray, log: bool) -> np.ndarray:
    distinct = np.unique(finite)
    return distinct if len(distinct) <= MOST_LABELLED_VALUES else _round_ticks(distinct, log)


def _round_ticks(finite: np.ndarray, log: bool) -> np.ndarray:
    """Round values (decades on a log axis) within the values' range; its two ends where none fall inside."""
    low, high = finite.min(), finite.max()
    if low == high:
        return np.array([low])
    locators = [LogLocator(subs=(1.0,)), LogLocator(subs=(1.0, 2.0, 5.0))] if log else [MaxNLocator(5)]
    slack = 1e-9 * max(abs(low), abs(high))  # a tick at an end value, give or take rounding
    for locator in locators:  # decades first; 1-2-5 steps where the values span less than three of them
        ticks = locator.tick_values(low, high)
        inside = ticks[(ticks >= low - slack) & (ticks <= high + slack)]
        if len(inside) >= 3:
            return inside
    return inside if len(inside) >= 2 else np.array([low, high])


def value_label(value: float, log: bool) -> str:
    """1e-3 rather than 0.001 on a log axis (learning rates read in powers of ten); 16, 0.5 otherwise."""
    if log and 0 < value < 1:
        mantissa, exponent = f"{value:.2e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    text = f"{value:.4g}"
    return text.replace("e-0", "e-").replace("e+0", "e").replace("e+", "e")


def metric_vs_parameter_figure(values: Sequence[str], scores: Sequence[float], parameter: str, metric: str) -> Figure:
    figure, axes = plt.subplots(figsize=(5, 4))
    axis = parameter_axis(values)
    axes.scatter(axis.values, scores)
    if axis.log:
        axes.set_xscale("log")
    axes.set_xticks(axis.ticks, axis.labels, rotation=30 if axis.categorical else 0)
    axes.xaxis.set_minor_locator(NullLocator())  # a log axis's minor ticks would add unlabelled clutter
    if axis.categorical:
        axes.set_xlim(-0.5, len(axis.labels) - 0.5)
    axes.set(xlabel=parameter, ylabel=metric, title=f"{metric} vs {parameter}")
    figure.tight_layout()
    return figure


def parallel_coordinates_figure(columns: Mapping[str, Sequence[str]], scores: Sequence[float], metric: str) -> Figure:
    """One line per job across an axis for each parameter and a last one for the metric, each axis ticked with
    its own values; lines coloured by the metric."""
    names = [*columns, metric]
    axes_drawn = [*(parameter_axis(columns[name]) for name in columns), metric_axis(scores)]
    figure, host = plt.subplots(figsize=(2 + 1.8 * len(names), 4.5))
    scores = np.asarray(scores, dtype=float)
    finite = scores[np.isfinite(scores)]
    low, high = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    colours = plt.cm.viridis((scores - low) / ((high - low) or 1.0))
    heights = np.array([axis.scaled(axis.values) for axis in axes_drawn])  # (axis, job)
    for job in range(len(scores)):
        scored = np.isfinite(scores[job])  # a failed job: grey and dashed, and it stops short of the metric
        host.plot(range(len(names)), heights[:, job], color=colours[job] if scored else "grey",
                  linestyle="-" if scored else "--", alpha=0.8)  # fmt: skip
    host.set_xlim(-0.1, len(names) - 0.9)
    host.set_xticks(range(len(names)), names, rotation=20)
    host.tick_params(axis="x", length=0)
    for spine in ("top", "right", "left", "bottom"):
        host.spines[spine].set_visible(False)
    host.set_yticks([])  # each axis below carries its own ticks
    host.set_ylim(-PADDING, 1 + PADDING)
    for position, axis in enumerate(axes_drawn):
        _draw_axis(host.twinx(), position, axis)
    host.set_title("parallel coordinates")
    figure.tight_layout()
    return figure


def _draw_axis(axes: Axes, position: int, axis: ParameterAxis) -> None:
    """A vertical axis at x = position on the host's data scale, ticked with the parameter's values."""
    axes.set_ylim(-PADDING, 1 + PADDING)
    for spine in ("top", "bottom", "left"):
        axes.spines[spine].set_visible(False)
    axes.spines["right"].set_position(("data", position))
    axes.set_yticks(axis.scaled(axis.ticks) if len(axis.ticks) else [], axis.labels, fontsize=8)
    for label in axes.get_yticklabels():  # readable where lines pass behind it
        label.set_bbox({"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 1})
