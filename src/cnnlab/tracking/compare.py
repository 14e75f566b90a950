"""Runs side by side: one experiment's or one sweep's runs ranked by a metric, showing only the params that differ."""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlflow.entities import LifecycleStage, Run
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from cnnlab.errors import CnnlabError
from cnnlab.tracking.run_ids import StoreRunIds, active_experiments, find_run
from cnnlab.tracking.run_selection import SHOW_LEFT_OUT, RunSelection

if TYPE_CHECKING:
    import rich.table

# Params that differ on every run without saying anything about the recipe.
IGNORED_PARAMS = {"run_dir", "tracking.run_name"}
IGNORED_PARAM_PREFIX = "hydra"
FIXED_COLUMNS = ["rank", "run", "name", "status", "duration"]
MAX_NAMES_IN_MESSAGE = 20
DEFAULT_METRIC = "val/acc"  # for runs that do not say what their task monitors (param task.monitor)
FALLBACK_MARK = " (last)"  # a score that is the run's last value of the metric, not its best checkpoint's

Cell = str | float | int | None


@dataclass
class ComparisonTable:
    """Ranked runs: `rows` as displayed, `raw_rows` with full run ids, seconds and full-precision metrics;
    `ranked_by` says per row which metric gave the score in column `metric`; `caption` what the reader should
    know (fallback scores, runs left out)."""

    title: str
    metric: str
    ascending: bool
    columns: list[str]
    rows: list[list[str]]
    raw_rows: list[list[Cell]]
    ranked_by: list[str]
    caption: str = ""


@dataclass(frozen=True)
class Ranking:
    """By `column`, best/<metric> (the score of the checkpoint a run tested) when any run logged it; a run without
    it (still running, or failed) is ranked by its last `metric`."""

    metric: str
    column: str
    ascending: bool

    def score(self, run: Run) -> tuple[float, str]:
        """The run's score (NaN when it has none) and the metric it came from."""
        best = run.data.metrics.get(self.column, math.nan)
        if not math.isnan(best):
            return best, self.column
        return run.data.metrics.get(self.metric, math.nan), self.metric


def compare_runs(
    client: MlflowClient,
    *,
    experiment: str | None = None,
    sweep: str | None = None,
    metric: str | None = None,
    top: int | None = None,
    ascending: bool | None = None,
    selection: RunSelection = RunSelection(),  # noqa: B008 (frozen, so one shared default is safe)
) -> ComparisonTable:
    """The runs of sweep `sweep` (its parent's id or a unique start of it; wins over `experiment`), else of
    experiment `experiment`, else of the newest experiment with runs that take part, ranked by `metric` (default:
    what their task monitors): descending unless the task minimises it, it ends in "loss" or `ascending` says so.

    Runs without a score come last. `top` keeps the first N; the differing params are those among the runs kept.
    """
    if top is not None and top < 1:
        raise CnnlabError(f"--top {top}: must be at least 1")
    store = StoreRunIds(client)
    runs, title, left_out = _select_runs(client, store, experiment, sweep, selection)
    ranking = _ranking(runs, metric, ascending, title)
    ranked = _rank(runs, ranking)[:top]
    metrics = _test_metrics(ranked, exclude=ranking.column)
    params = _differing_params(ranked)
    raw_rows, rows, ranked_by = [], [], []
    for rank, run in enumerate(ranked, start=1):
        score, source = ranking.score(run)
        score, source = (None, "") if math.isnan(score) else (score, source)
        seconds = _duration_seconds(run)
        raw_rows.append([
            rank, run.info.run_id, run.info.run_name, run.info.status, seconds, score,
            *(run.data.metrics.get(key) for key in metrics), *(run.data.params.get(key) for key in params),
        ])  # fmt: skip
        fallback = FALLBACK_MARK if source == ranking.metric != ranking.column else ""
        rows.append([
            str(rank), store.shortest_unique(run.info.run_id), run.info.run_name or "", run.info.status,
            _format_duration(seconds), _format_number(score) + fallback,
            *(_format_number(run.data.metrics.get(key)) for key in metrics),
            *(run.data.params.get(key, "") for key in params),
        ])  # fmt: skip
        ranked_by.append(source)
    columns = [*FIXED_COLUMNS, ranking.column, *metrics, *params]
    caption = _caption(ranking, ranking.metric in ranked_by and ranking.metric != ranking.column, left_out)
    return ComparisonTable(title, ranking.column, ranking.ascending, columns, rows, raw_rows, ranked_by, caption)


def render_table(table: ComparisonTable) -> rich.table.Table:
    """A rich table for the terminal; numeric columns right-aligned, the ranking metric in bold."""
    from rich.table import Table

    order = "ascending" if table.ascending else "descending"
    rendered = Table(title=f"{table.title}: by {table.metric} ({order})", caption=table.caption or None)
    for index, name in enumerate(table.columns):
        numeric = all(isinstance(row[index], int | float | None) for row in table.raw_rows)
        style = "bold" if name == table.metric else None
        rendered.add_column(name, justify="right" if numeric else "left", style=style)
    for row in table.rows:
        rendered.add_row(*row)
    return rendered


def write_csv(table: ComparisonTable, path: str | Path) -> None:
    """The table with full run ids, durations in seconds, metrics at full precision and, after the score, the
    metric each score came from (ranked_by)."""
    header = ["duration_s" if name == "duration" else name for name in table.columns]
    after_score = table.columns.index(table.metric) + 1
    header.insert(after_score, "ranked_by")
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        for row, source in zip(table.raw_rows, table.ranked_by, strict=True):
            cells = ["" if cell is None else cell for cell in row]
            writer.writerow([*cells[:after_score], source, *cells[after_score:]])


def _select_runs(
    client: MlflowClient, store: StoreRunIds, experiment: str | None, sweep: str | None, selection: RunSelection
) -> tuple[list[Run], str, Counter]:
    """The runs to compare, a title naming where they came from, and how many were left out for what."""
    if sweep:
        return _sweep_children(client, store, sweep, selection)
    if experiment:
        found = client.get_experiment_by_name(experiment)
        if found is None or found.lifecycle_stage == LifecycleStage.DELETED:
            names = [e.name for e in active_experiments(client)]
            raise CnnlabError(f"--experiment {experiment}: no such experiment; experiments: {_names(names)}")
        runs, left_out = selection.search(client, [found.experiment_id])
        if not runs:
            hint = f"it has no runs yet; train into it with `cnnlab train tracking.experiment={experiment}`"
            raise _nothing_to_compare(f"--experiment {experiment}", left_out, selection, hint)
        return runs, f"experiment {experiment}", left_out
    left_out_anywhere: Counter = Counter()
    for candidate in active_experiments(client):  # newest first
        runs, left_out = selection.search(client, [candidate.experiment_id])
        if runs:
            return runs, f"experiment {candidate.name}", left_out
        left_out_anywhere += left_out
    hint = "no experiment has runs; run `cnnlab train` first or set MLFLOW_TRACKING_URI"
    raise _nothing_to_compare(f"store {client.tracking_uri}", left_out_anywhere, selection, hint)


def _sweep_children(
    client: MlflowClient, store: StoreRunIds, ref: str, selection: RunSelection
) -> tuple[list[Run], str, Counter]:
    parent = find_run(client, ref, label=f"--sweep {ref}")
    if parent is None:
        raise CnnlabError(f"--sweep {ref}: no such run; pass the parent run id a sweep printed")
    where = f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent.info.run_id}'"
    children, left_out = selection.search(client, [parent.info.experiment_id], where)
    if not children:
        hint = f"run {parent.info.run_name} has no child runs; pass a sweep's parent run id"
        raise _nothing_to_compare(f"--sweep {ref}", left_out, selection, hint)
    return children, f"sweep {parent.info.run_name} ({store.shortest_unique(parent.info.run_id)})", left_out


def _nothing_to_compare(where: str, left_out: Counter, selection: RunSelection, hint: str) -> CnnlabError:
    """Why `where` has no run to compare: all were left out, none matched --filter, or `hint` (there are none)."""
    if left_out:
        return CnnlabError(f"{where}: every run is left out ({_counts(left_out)}); {SHOW_LEFT_OUT}")
    if selection.mlflow_filter:
        return CnnlabError(f"{where}: no run matches --filter {selection.mlflow_filter}")
    return CnnlabError(f"{where}: {hint}")


def _ranking(runs: list[Run], metric: str | None, ascending: bool | None, title: str) -> Ranking:
    """By best/<metric> where logged; `metric` defaults to what the runs' task monitors."""
    monitor, mode = _monitor(runs)
    metric = (metric or monitor).removeprefix("best/")
    best = f"best/{metric}"
    logged = {key for run in runs for key in run.data.metrics}
    if best not in logged and metric not in logged:
        raise CnnlabError(f"--metric {metric}: no run in {title} logged it; metrics: {_names(sorted(logged))}")
    if ascending is None:
        ascending = mode == "min" if metric == monitor and mode else metric.endswith("loss")
    return Ranking(metric, best if best in logged else metric, ascending)


def _monitor(runs: list[Run]) -> tuple[str, str | None]:
    """The metric the runs' task picked checkpoints by (param task.monitor, the most common one) and its mode."""
    params = [run.data.params for run in runs if "task.monitor" in run.data.params]
    monitors = Counter((param["task.monitor"], param.get("task.monitor_mode")) for param in params)
    return monitors.most_common(1)[0][0] if monitors else (DEFAULT_METRIC, None)


def _rank(runs: list[Run], ranking: Ranking) -> list[Run]:
    """Sorted by score; runs without one (or with NaN, which has no order) keep their order after the rest."""
    scores = {run.info.run_id: ranking.score(run)[0] for run in runs}
    scored = [run for run in runs if not math.isnan(scores[run.info.run_id])]
    unscored = [run for run in runs if math.isnan(scores[run.info.run_id])]
    return sorted(scored, key=lambda run: scores[run.info.run_id], reverse=not ranking.ascending) + unscored


def _caption(ranking: Ranking, fell_back: bool, left_out: Counter) -> str:
    notes = []
    if fell_back:
        notes.append(f"(last): no {ranking.column} (the run has not finished), so its last {ranking.metric} ranks it")
    if left_out:
        notes.append(f"left out: {_counts(left_out)} ({SHOW_LEFT_OUT})")
    return "\n".join(notes)


def _counts(reasons: Counter) -> str:
    """E.g. "2 FAILED, 1 evaluate": most first, then by name (statuses, in capitals, before kinds)."""
    counts = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{count} {reason}" for reason, count in counts)


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
