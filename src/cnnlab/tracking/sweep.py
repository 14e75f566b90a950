"""One MLflow parent run per Hydra sweep, with every job's run nested under it.

SweepRuns is a Hydra callback (conf/train.yaml: hydra.callbacks). When a multirun starts it creates the parent run
and hands its id to the jobs through the environment (inherited by joblib workers and SLURM jobs alike); each job's
train() nests its run under it. When the sweep ends the parent gets the best job, a summary table and plots.
"""

from __future__ import annotations

import atexit
import csv
import io
import math
import os
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from hydra.experimental.callback import Callback
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID
from omegaconf import DictConfig, OmegaConf

from cnnlab.plots.sweep import metric_vs_parameter_figure, parallel_coordinates_figure
from cnnlab.tracking.provenance import provenance_tags
from cnnlab.tracking.run import SWEEP_PARENT_TAG, TrackedRun
from cnnlab.tracking.store import check_store, ensure_experiment, resolve_tracking_uri

PARENT_ENV = "CNNLAB_SWEEP_PARENT_RUN_ID"
OVERRIDES_TAG = "cnnlab.overrides"
# Jobs of the last sweep in this process that did not finish: `cnnlab train -m` exits non-zero when there are any.
last_sweep_failures = 0


def sweep_parent_run_id() -> str | None:
    """The parent run of the sweep this job belongs to; None outside a multirun."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    return os.environ.get(PARENT_ENV)


def sweep_job_number() -> int:
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get().job.num


class SweepRuns(Callback):
    def __init__(self) -> None:
        self.parent: TrackedRun | None = None
        self.failed_jobs = 0

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        tracking = OmegaConf.to_container(config.tracking, resolve=True)
        task = OmegaConf.to_container(config.task, resolve=True)
        uri = resolve_tracking_uri(tracking["uri"])
        check_store(uri)  # creates a new sqlite store's tables under a lock (jobs may open it at once)
        client = MlflowClient(uri)
        experiment_id = ensure_experiment(client, tracking["experiment"], tracking["artifact_root"])
        overrides = list(config.hydra.overrides.task)
        sweeper = str(config.hydra.sweeper.get("_target_", "")).rsplit(".", 1)[-1]
        tags = {
            **provenance_tags(),
            SWEEP_PARENT_TAG: "true",
            "cnnlab.sweeper": sweeper,
            OVERRIDES_TAG: " ".join(overrides),
            "cnnlab.task": task["name"],
            "cnnlab.monitor": task["monitor"],
            "cnnlab.monitor_mode": task["monitor_mode"],
        }
        name = f"sweep-{tracking['run_name'] or task['name']}"
        run = client.create_run(experiment_id, run_name=name, tags=tags)
        self.parent = TrackedRun(client, run.info.run_id, experiment_id, uri, run.info.run_name)
        self.parent.log_text("\n".join(overrides) + "\n", "sweep_overrides.txt")
        os.environ[PARENT_ENV] = run.info.run_id
        atexit.register(self._end_if_interrupted)
        print(f"MLflow: sweep parent run {run.info.run_id} in {uri}")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.parent is None:
            return
        parent, self.parent = self.parent, None
        os.environ.pop(PARENT_ENV, None)
        atexit.unregister(self._end_if_interrupted)
        jobs = job_results(parent)
        # A job stopped by a bad setting never made a run: count jobs by the folders Hydra made for them.
        launched = max(len(jobs), launched_jobs(Path(config.hydra.sweep.dir)))
        finished = sum(job["status"] == "FINISHED" for job in jobs)
        self.failed_jobs = launched - finished
        global last_sweep_failures
        last_sweep_failures = self.failed_jobs
        summarise(parent, jobs)
        parent.client.set_terminated(parent.run_id, "FINISHED" if finished else "FAILED")
        print(f"MLflow: sweep {parent.run_id}: {finished} of {launched} jobs finished")

    def _end_if_interrupted(self) -> None:
        """At exit without on_multirun_end (Ctrl-C, a crash): the parent must not stay RUNNING."""
        if self.parent is not None:
            self.parent.client.set_terminated(self.parent.run_id, "KILLED")


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
        overrides = dict(
            item.lstrip("+~").split("=", 1) for item in child.data.tags.get(OVERRIDES_TAG, "").split() if "=" in item
        )
        rows.append({
            "run_id": child.info.run_id, "run_name": child.info.run_name, "status": child.info.status,
            "overrides": overrides, "metrics": dict(child.data.metrics),
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


def summarise(parent: TrackedRun, jobs: list[dict[str, Any]]) -> None:
    """Best job (tag and metric), sweep_summary.csv, and plots of the monitored metric against what was swept."""
    tags = parent.client.get_run(parent.run_id).data.tags
    monitor, mode = tags["cnnlab.monitor"], tags["cnnlab.monitor_mode"]
    parent.log_text(summary_csv(jobs), "sweep_summary.csv")
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


def _log_and_close(parent: TrackedRun, figure: Any, artifact_file: str) -> None:
    parent.log_figure(figure, artifact_file)
    plt.close(figure)


def summary_csv(jobs: list[dict[str, Any]]) -> str:
    parameters = sorted({key for job in jobs for key in job["overrides"]})
    metrics = sorted({key for job in jobs for key in job["metrics"] if key.count("/") == 1})
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["run_id", "run_name", "status", *parameters, *metrics])
    for job in jobs:
        writer.writerow([
            job["run_id"], job["run_name"], job["status"], *(job["overrides"].get(p, "") for p in parameters),
            *(job["metrics"].get(m, "") for m in metrics),
        ])  # fmt: skip
    return out.getvalue()
