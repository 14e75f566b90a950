"""Run names that tell runs apart in the MLflow UI's runs table and chart legends, and the metric names that
measure the machine rather than the result."""

from __future__ import annotations

from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

# Timings and system metrics measure the machine, not the result: reproduce and repeat leave them out.
MACHINE_METRICS = ("time/", "system/")


def unique_run_name(client: MlflowClient, experiment_id: str, name: str) -> str:
    """`name`, or with the first free suffix -2, -3, ... when a run of the experiment has it (chart legends and
    the runs table tell runs apart by name). Two runs started at the same instant may still share one."""
    if not name or "'" in name:  # MLflow's search syntax has no escape for a quote; such a name is kept as given
        return name
    pattern = name.replace("%", "_")  # LIKE wildcards only widen the search; the exact check is below
    taken = {run.info.run_name for run in client.search_runs(
        [experiment_id], filter_string=f"attributes.run_name LIKE '{pattern}%'", max_results=50000,
        run_view_type=ViewType.ALL,
    )}  # fmt: skip
    if name not in taken:
        return name
    return next(f"{name}-{n}" for n in range(2, len(taken) + 3) if f"{name}-{n}" not in taken)
