"""Runs side by side: one experiment's or one sweep's runs ranked by a metric, showing only the params that differ."""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from mlflow.entities import Experiment, LifecycleStage, Run
from mlflow.exceptions import MlflowException
from mlflow.store.entities.paged_list import PagedList
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from cnnlab.errors import CnnlabError
from cnnlab.tracking.tags import SWEEP_PARENT_TAG

if TYPE_CHECKING:
    import rich.table

# Params that differ on every run without saying anything about the recipe.
IGNORED_PARAMS = {"run_dir", "tracking.run_name"}
IGNORED_PARAM_PREFIX = "hydra"
FIXED_COLUMNS = ["rank", "run", "name", "status", "duration"]
PAGE_SIZE = 1000
MAX_NAMES_IN_MESSAGE = 20

Cell = str | float | int | None
T = TypeVar("T")


@dataclass
class ComparisonTable:
    """Ranked runs: `rows` as displayed, `raw_rows` with full run ids, seconds and full-precision metrics."""

    title: str
    metric: str
    ascending: bool
    columns: list[str]
    rows: list[list[str]]
    raw_rows: list[list[Cell]]


def compare_runs(
    client: MlflowClient,
    *,
    experiment: str | None = None,
    sweep: str | None = None,
    metric: str = "val/acc",
    top: int | None = None,
    ascending: bool | None = None,
) -> ComparisonTable:
    """The runs of sweep `sweep` (a parent run id; wins over `experiment`), else of experiment `experiment`, else of
    the newest experiment with runs, ranked by `metric`: descending unless it ends in "loss" or `ascending` says so.

    Runs without the metric come last. `top` keeps the first N; the differing params are those among the runs kept.
    """
    if top is not None and top < 1:
        raise CnnlabError(f"--top {top}: must be at least 1")
    runs, title = _select_runs(client, experiment, sweep)
    if not any(metric in run.data.metrics for run in runs):
        logged = sorted({key for run in runs for key in run.data.metrics})
        raise CnnlabError(f"--metric {metric}: no run in {title} logged it; metrics: {_names(logged)}")
    ascending = metric.endswith("loss") if ascending is None else ascending
    ranked = _rank(runs, metric, ascending)[:top]
    metrics = [metric, *_test_metrics(ranked, exclude=metric)]
    params = _differing_params(ranked)
    raw_rows, rows = [], []
    for rank, run in enumerate(ranked, start=1):
        seconds = _duration_seconds(run)
        raw_rows.append([
            rank, run.info.run_id, run.info.run_name, run.info.status, seconds,
            *(run.data.metrics.get(key) for key in metrics), *(run.data.params.get(key) for key in params),
        ])  # fmt: skip
        rows.append([
            str(rank), run.info.run_id[:8], run.info.run_name or "", run.info.status, _format_duration(seconds),
            *(_format_number(run.data.metrics.get(key)) for key in metrics),
            *(run.data.params.get(key, "") for key in params),
        ])  # fmt: skip
    return ComparisonTable(title, metric, ascending, [*FIXED_COLUMNS, *metrics, *params], rows, raw_rows)


def render_table(table: ComparisonTable) -> rich.table.Table:
    """A rich table for the terminal; numeric columns right-aligned, the ranking metric in bold."""
    from rich.table import Table

    order = "ascending" if table.ascending else "descending"
    rendered = Table(title=f"{table.title}: by {table.metric} ({order})")
    for index, name in enumerate(table.columns):
        numeric = all(isinstance(row[index], int | float | None) for row in table.raw_rows)
        style = "bold" if name == table.metric else None
        rendered.add_column(name, justify="right" if numeric else "left", style=style)
    for row in table.rows:
        rendered.add_row(*row)
    return rendered


def write_csv(table: ComparisonTable, path: str | Path) -> None:
    """The table with full run ids, durations in seconds and metrics at full precision."""
    header = ["duration_s" if name == "duration" else name for name in table.columns]
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows([["" if cell is None else cell for cell in row] for row in table.raw_rows])


def _select_runs(client: MlflowClient, experiment: str | None, sweep: str | None) -> tuple[list[Run], str]:
    """The runs to compare and a title naming where they came from."""
    if sweep:
        return _sweep_children(client, sweep)
    if experiment:
        found = client.get_experiment_by_name(experiment)
        if found is None or found.lifecycle_stage == LifecycleStage.DELETED:
            names = [e.name for e in _experiments(client)]
            raise CnnlabError(f"--experiment {experiment}: no such experiment; experiments: {_names(names)}")
        runs = _experiment_runs(client, found)
        if not runs:
            hint = f"train into it with `cnnlab train tracking.experiment={experiment}`"
            raise CnnlabError(f"--experiment {experiment}: it has no runs yet; {hint}")
        return runs, f"experiment {experiment}"
    for candidate in _experiments(client):  # newest first
        runs = _experiment_runs(client, candidate)
        if runs:
            return runs, f"experiment {candidate.name}"
    raise CnnlabError(
        f"no experiment in {client.tracking_uri} has runs; run `cnnlab train` first or set MLFLOW_TRACKING_URI"
    )


def _sweep_children(client: MlflowClient, parent_id: str) -> tuple[list[Run], str]:
    try:
        parent = client.get_run(parent_id)
    except MlflowException as error:
        if error.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise
        raise CnnlabError(f"--sweep {parent_id}: no such run; pass the parent run id a sweep printed") from None
    where = f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent_id}'"
    children = _all_pages(lambda token: client.search_runs(
        [parent.info.experiment_id], filter_string=where, max_results=PAGE_SIZE, page_token=token
    ))  # fmt: skip
    if not children:
        raise CnnlabError(
            f"--sweep {parent_id}: run {parent.info.run_name} has no child runs; pass a sweep's parent run id"
        )
    return children, f"sweep {parent.info.run_name} ({parent_id[:8]})"


def _experiments(client: MlflowClient) -> list[Experiment]:
    """Active experiments, newest first."""
    return _all_pages(lambda token: client.search_experiments(
        max_results=PAGE_SIZE, order_by=["creation_time DESC"], page_token=token
    ))  # fmt: skip


def _experiment_runs(client: MlflowClient, experiment: Experiment) -> list[Run]:
    """Every run of the experiment except sweep parents, which summarise their children rather than train."""
    runs = _all_pages(lambda token: client.search_runs(
        [experiment.experiment_id], max_results=PAGE_SIZE, page_token=token
    ))  # fmt: skip
    return [run for run in runs if run.data.tags.get(SWEEP_PARENT_TAG) != "true"]


def _all_pages(search: Callable[[str | None], PagedList[T]]) -> list[T]:
    items: list[T] = []
    token = None
    while True:
        page = search(token)
        items.extend(page)
        token = page.token
        if not token:
            return items


def _rank(runs: list[Run], metric: str, ascending: bool) -> list[Run]:
    """Sorted by `metric`; runs without it (or with NaN, which has no order) keep their order after the rest."""
    scored = [run for run in runs if not math.isnan(run.data.metrics.get(metric, math.nan))]
    unscored = [run for run in runs if math.isnan(run.data.metrics.get(metric, math.nan))]
    return sorted(scored, key=lambda run: run.data.metrics[metric], reverse=not ascending) + unscored


def _test_metrics(runs: list[Run], exclude: str) -> list[str]:
    """test/<name> metrics on any run; deeper keys (per-class values) would swamp the table."""
    keys = {key for run in runs for key in run.data.metrics if key.startswith("test/") and key.count("/") == 1}
    return sorted(keys - {exclude})


def _differing_params(runs: list[Run]) -> list[str]:
    """Params whose value (or absence) is not the same on every run."""
    keys = {key for run in runs for key in run.data.params if _is_recipe_param(key)}
    return sorted(key for key in keys if len({run.data.params.get(key) for run in runs}) > 1)


def _is_recipe_param(key: str) -> bool:
    return key not in IGNORED_PARAMS and not key.startswith(IGNORED_PARAM_PREFIX)


def _duration_seconds(run: Run) -> float | None:
    """None while the run is still going (or never recorded an end)."""
    if run.info.status == "RUNNING" or not run.info.end_time or not run.info.start_time:
        return None
    return (run.info.end_time - run.info.start_time) / 1000


def _format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _format_number(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def _names(names: Sequence[str]) -> str:
    """A list for a one-line message: the first few names, then how many more."""
    if not names:
        return "(none)"
    shown = ", ".join(names[:MAX_NAMES_IN_MESSAGE])
    more = len(names) - MAX_NAMES_IN_MESSAGE
    return f"{shown}, and {more} more" if more > 0 else shown
