"""What a finished sweep reports on its parent run: the best job, a summary table, and plots of the monitored
metric against each setting the sweep varied."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from cnnlab.plots.sweep import metric_vs_parameter_figure, parallel_coordinates_figure
from cnnlab.tracking.run import TrackedRun
from cnnlab.tracking.tags import OVERRIDES_TAG, RUN_DIR_TAG


def launched_jobs(sweep_dir: Path) -> int:
    """How many jobs Hydra started in `sweep_dir`: each has a folder holding its .hydra/ record."""
    return sum(1 for folder in sweep_dir.glob("*/.hydra") if folder.is_dir()) if sweep_dir.is_dir() else 0


def job_results(parent: TrackedRun) -> list[dict[str, Any]]:
    """One row per child run, in job order: id, status, overrides (key -> value) and metrics."""
    children = parent.client.search_runs(
        [parent.experiment_id], filter_string=f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent.run_id}'", max_results=10000
    )
    rows = []
    for child in sorted(children, key=lambda r: r.info.start_time):
        arguments = child.data.tags.get(OVERRIDES_TAG, "").split()
        overrides = dict(item.lstrip("+~").split("=", 1) for item in arguments if "=" in item)
        rows.append({
            "run_id": child.info.run_id, "run_name": child.info.run_name, "status": child.info.status,
            "arguments": arguments, "overrides": overrides, "metrics": dict(child.data.metrics),
            "run_dir": child.data.tags.get(RUN_DIR_TAG, ""), "tags": dict(child.data.tags),
        })  # fmt: skip
    return rows


def best_job(jobs: list[dict[str, Any]], monitor: str, mode: str) -> dict[str, Any] | None:
    """The finished job with the best best/<monitor> (its best checkpoint's score)."""
    key = f"best/{monitor}"
    scored = [j for j in jobs if j["status"] == "FINISHED" and math.isfinite(j["metrics"].get(key, math.nan))]
    if not scored:
        return None
    pick = max if mode == "max" else min
    return pick(scored, key=lambda job: job["metrics"][key])


def best_job_line(best: dict[str, Any] | None, jobs: list[dict[str, Any]], monitor: str) -> str:
    """The terminal's last word on a sweep: the best job's run, score and the overrides that rerun it."""
    if best is None:
        if any(job["status"] == "FINISHED" for job in jobs):  # a fast_dev_run smoke test keeps no best checkpoint
            return f"best job: none, no finished job logged best/{monitor}"
        return "best job: none, no job finished"
    rerun = [arg for arg in best["arguments"] if not arg.lstrip("+~").startswith("hydra.")]
    score = best["metrics"][f"best/{monitor}"]
    return f"best job: run {best['run_id']}  best/{monitor}={score:.4g}  {' '.join(rerun)}".rstrip()


def summarise(parent: TrackedRun, jobs: list[dict[str, Any]]) -> str:
    """Best job (tag and metric), sweep_summary.csv, and plots of the monitored metric against what was swept;
    returns the line that names the best job."""
    tags = parent.client.get_run(parent.run_id).data.tags
    monitor, mode = tags["cnnlab.monitor"], tags["cnnlab.monitor_mode"]
    parent.log_text(summary_csv(jobs, monitor), "sweep_summary.csv")
    best = best_job(jobs, monitor, mode)
    if best is not None:
        parent.client.set_tag(parent.run_id, "cnnlab.best_run_id", best["run_id"])
        parent.log_metrics({f"best/{monitor}": best["metrics"][f"best/{monitor}"]})
    swept = sorted({key for job in jobs for key in job["overrides"]} - {"hydra.job.num"})
    varied = [key for key in swept if len({job["overrides"].get(key) for job in jobs}) > 1]
    scores = [job["metrics"].get(f"best/{monitor}", math.nan) for job in jobs]
    for key in varied:
        values = [job["overrides"].get(key, "") for job in jobs]
        figure = metric_vs_parameter_figure(values, scores, key, monitor)
        _log_and_close(parent, figure, f"sweep/{monitor.replace('/', '_')}_vs_{key}.png")
    if len(varied) > 1 or (len(varied) == 1 and tags.get("cnnlab.sweeper", "").startswith("Optuna")):
        columns = {key: [job["overrides"].get(key, "") for job in jobs] for key in varied}
        _log_and_close(parent, parallel_coordinates_figure(columns, scores, monitor), "sweep/parallel_coordinates.png")
    return best_job_line(best, jobs, monitor)


def _log_and_close(parent: TrackedRun, figure: Any, artifact_file: str) -> None:
    parent.log_figure(figure, artifact_file)
    plt.close(figure)


def summary_csv(jobs: list[dict[str, Any]], monitor: str) -> str:
    """One row per job: its overrides, then its metrics (see summary_metrics)."""
    parameters = sorted({key for job in jobs for key in job["overrides"]})
    metrics = summary_metrics({key for job in jobs for key in job["metrics"]}, monitor)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["run_id", "run_name", "status", *parameters, *metrics])
    for job in jobs:
        writer.writerow([
            job["run_id"], job["run_name"], job["status"], *(job["overrides"].get(p, "") for p in parameters),
            *(job["metrics"].get(m, "") for m in metrics),
        ])  # fmt: skip
    return out.getvalue()


def summary_metrics(keys: set[str], monitor: str) -> list[str]:
    """The score the sweep optimises (best/<monitor>) first, then every other best/* score, the test metrics,
    and the last value of the rest; per-class keys (test/acc_per_class/3) and the machine's load (system/*) are
    left to each job's run."""
    best = sorted(key for key in keys if key.startswith("best/") and key != f"best/{monitor}")
    headline = sorted(key for key in keys if key.count("/") == 1 and not key.startswith(("best/", "system/")))
    tested = [key for key in headline if key.startswith("test/")]
    rest = [key for key in headline if not key.startswith("test/")]
    return [*([f"best/{monitor}"] if f"best/{monitor}" in keys else []), *best, *tested, *rest]
