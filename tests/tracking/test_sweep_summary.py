"""What a sweep's parent shows, without training: the summary table, the best-job line and the figures' axes."""

from __future__ import annotations

import csv
import io

import matplotlib.pyplot as plt
import pytest

from cnnlab.plots.sweep import metric_vs_parameter_figure, parallel_coordinates_figure
from cnnlab.tracking.sweep_summary import best_job, best_job_line, summary_csv

GRID = {
    "backbone": ["simple_cnn", "simple_cnn", "lenet5", "lenet5"],
    "optimizer.lr": ["0.001", "0.01", "0.001", "0.01"],
}
SCORES = [0.55, 0.9833, 0.61, float("nan")]  # the last job failed


def job(run_id: str, status: str, lr: str, metrics: dict[str, float]) -> dict:
    arguments = ["sweep=grid", "+trainer.limit_train_batches=2", f"optimizer.lr={lr}", "hydra.job.num=0"]
    overrides = dict(item.lstrip("+~").split("=", 1) for item in arguments)
    return {"run_id": run_id, "run_name": f"job-{run_id}", "status": status, "arguments": arguments,
            "overrides": overrides, "metrics": metrics}  # fmt: skip


JOBS = [
    job("a", "FINISHED", "0.001", {"val/acc": 0.5, "best/val/acc": 0.6, "test/acc": 0.58, "test/acc_per_class/3": 1.0}),
    job("b", "FINISHED", "0.01", {"val/acc": 0.9, "best/val/acc": 0.95, "test/acc": 0.93, "best/val/loss": 0.2}),
    job("c", "FAILED", "0.1", {}),
]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def tick_labels(figure, axis: str = "y") -> set[str]:
    return {label.get_text() for axes in figure.axes for label in getattr(axes, f"get_{axis}ticklabels")()}


def test_the_summary_holds_every_best_and_test_metric_the_swept_for_score_first() -> None:
    table = list(csv.reader(io.StringIO(summary_csv(JOBS, "val/acc"))))
    header, rows = table[0], {row[0]: dict(zip(table[0], row, strict=True)) for row in table[1:]}
    metrics = [column for column in header if "/" in column]
    assert metrics[0] == "best/val/acc" and {"best/val/loss", "test/acc", "val/acc"} <= set(metrics)
    assert "test/acc_per_class/3" not in metrics  # per-class values stay in each job's run
    assert rows["a"]["best/val/acc"] == "0.6" and rows["b"]["test/acc"] == "0.93" and rows["c"]["test/acc"] == ""


def test_the_best_job_line_names_its_run_score_and_overrides_without_hydras() -> None:
    line = best_job_line(best_job(JOBS, "val/acc", "max"), JOBS, "val/acc")
    assert line == "best job: run b  best/val/acc=0.95  sweep=grid +trainer.limit_train_batches=2 optimizer.lr=0.01"
    assert best_job_line(None, JOBS[2:], "val/acc") == "best job: none, no job finished"


def test_parallel_coordinates_label_each_axis_with_its_values_and_end_on_the_metric() -> None:
    figure = parallel_coordinates_figure(GRID, SCORES, "val/acc")
    assert [label.get_text() for label in figure.axes[0].get_xticklabels()] == ["backbone", "optimizer.lr", "val/acc"]
    labels = tick_labels(figure)
    assert {"lenet5", "simple_cnn", "1e-3", "1e-2"} <= labels  # categories by name, learning rates by value
    assert {"0.6", "0.8"} <= labels  # the metric's own axis


def test_a_learning_rate_ten_times_apart_is_on_a_log_axis_ticked_at_its_values() -> None:
    figure = metric_vs_parameter_figure(GRID["optimizer.lr"], SCORES, "optimizer.lr", "val/acc")
    (axes,) = figure.axes
    assert axes.get_xscale() == "log" and tick_labels(figure, "x") == {"1e-3", "1e-2"}
    assert axes.xaxis.get_minorticklocs().size == 0  # no unlabelled minor ticks between them


def test_an_optuna_study_gets_round_ticks_rather_than_one_per_trial() -> None:
    learning_rates = [str(10 ** (-4 + 3 * trial / 19)) for trial in range(20)]
    figure = metric_vs_parameter_figure(learning_rates, [0.5] * 20, "optimizer.lr", "val/acc")
    assert figure.axes[0].get_xscale() == "log" and tick_labels(figure, "x") == {"1e-4", "1e-3", "1e-2", "1e-1"}


def test_an_interrupted_sweep_ends_its_own_running_jobs_killed_and_leaves_other_machines_jobs(tmp_path) -> None:
    """What stays RUNNING when Hydra's joblib launcher kills its workers on Ctrl-C: at exit, the jobs in this
    command's sweep folder are KILLED with the parent; a job of another machine sharing the parent is left."""
    from mlflow.tracking import MlflowClient

    from cnnlab.tracking.run import TrackedRun
    from cnnlab.tracking.sweep import SweepRuns
    from cnnlab.tracking.tags import RUN_DIR_TAG
    from tests.conftest import migrated_store

    store = migrated_store(tmp_path / "mlflow.db")
    client = MlflowClient(store)
    experiment = client.create_experiment("classification", artifact_location=str(tmp_path / "artifacts"))
    parent = client.create_run(experiment).info.run_id
    sweep_dir, elsewhere = tmp_path / "multirun" / "0-0", tmp_path / "other-machine" / "0-0"
    folders = {"mine": sweep_dir / "0", "theirs": elsewhere / "0", "done": sweep_dir / "1"}
    jobs = {name: client.create_run(experiment, tags={"mlflow.parentRunId": parent, RUN_DIR_TAG: str(folder)})
            .info.run_id for name, folder in folders.items()}  # fmt: skip
    client.set_terminated(jobs["done"], "FINISHED")
    sweep = SweepRuns()
    sweep.parent, sweep.sweep_dir = TrackedRun(client, parent, experiment, store), sweep_dir.resolve()
    sweep._end_if_interrupted()
    status = {name: client.get_run(run_id).info.status for name, run_id in jobs.items()}
    assert status == {"mine": "KILLED", "theirs": "RUNNING", "done": "FINISHED"}
    assert client.get_run(parent).info.status == "KILLED"
