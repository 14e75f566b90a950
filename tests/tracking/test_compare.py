"""Comparing runs against a real sqlite store: selection, ranking, differing params, formatting, CSV."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID
from rich.console import Console

from cnnlab.errors import CnnlabError
from cnnlab.tracking.compare import ComparisonTable, compare_runs, render_table, write_csv

START = 1_700_000_000_000  # ms; every run starts here so durations are exact


def add_run(
    client: MlflowClient,
    experiment_id: str,
    name: str,
    metrics: dict[str, float],
    params: dict[str, str],
    *,
    seconds: float | None = 10,
    status: str = "FINISHED",
    tags: dict[str, str] | None = None,
) -> str:
    """A run with these metrics and params; `seconds=None` leaves it RUNNING."""  # fmt: skip
    run_id = client.create_run(experiment_id, start_time=START, run_name=name, tags=tags or {}).info.run_id
    client.log_batch(
        run_id,
        metrics=[Metric(key, value, START, 0) for key, value in metrics.items()],
        params=[Param(key, value) for key, value in params.items()],
    )
    if seconds is not None:
        client.set_terminated(run_id, status, end_time=START + int(seconds * 1000))
    return run_id


def recipe(lr: str, name: str, backbone: str = "resnet18") -> dict[str, str]:
    """Params as cnnlab logs them; run_dir, run name and hydra keys differ on every run and must not show."""
    return {"optimizer.lr": lr, "backbone.name": backbone, "seed": "42", "run_dir": f"/runs/{name}",
            "tracking.run_name": name, "hydra.job.name": name}  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[MlflowClient, dict[str, str]]:
    """One store for the whole module (creating a sqlite store is slow): experiments cnn, sweeps, empty (newest)."""
    client = MlflowClient(f"sqlite:///{tmp_path_factory.mktemp('compare')}/mlflow.db")
    ids: dict[str, str] = {}
    cnn = client.create_experiment("cnn")
    for name, lr, metrics, seconds in [
        ("lr0.1", "0.1", {"val/acc": 0.9123456789, "val/loss": 0.3, "test/acc": 0.9, "test/per_class/cat": 0.5}, 65),
        ("lr0.01", "0.01", {"val/acc": 0.95, "val/loss": 0.20, "test/acc": 0.93, "test/f1": 0.91}, 3725),
        ("lr0.001", "0.001", {"val/acc": 0.80, "val/loss": 0.25, "test/acc": 0.79}, 7),
        ("running", "0.05", {"val/acc": 0.50}, None),
    ]:
        ids[name] = add_run(client, cnn, name, metrics, recipe(lr, name), seconds=seconds)
    ids["crashed"] = add_run(client, cnn, "crashed", {}, recipe("1.0", "crashed", "vgg11"), status="FAILED")

    time.sleep(0.01)  # experiments are ordered by creation time in ms
    sweeps = client.create_experiment("sweeps")
    # The parent's score would rank it first if it were not excluded.
    ids["parent"] = add_run(client, sweeps, "sweep-x", {"val/acc": 0.99}, {}, tags={"cnnlab.sweep_parent": "true"})
    child = {MLFLOW_PARENT_RUN_ID: ids["parent"]}
    ids["job0"] = add_run(client, sweeps, "job0", {"val/acc": 0.70}, recipe("0.1", "job0"), tags=child)
    ids["job1"] = add_run(client, sweeps, "job1", {"val/acc": 0.75}, recipe("0.01", "job1"), tags=child)
    ids["outsider"] = add_run(client, sweeps, "outsider", {"val/acc": 0.60}, recipe("0.5", "outsider"))

    time.sleep(0.01)
    client.create_experiment("empty")
    return client, ids


def column(table: ComparisonTable, name: str) -> list[str]:
    index = table.columns.index(name)
    return [row[index] for row in table.rows]


def test_ranks_by_score_descending_with_top_n(store) -> None:
    client, _ = store
    table = compare_runs(client, experiment="cnn")
    assert column(table, "name") == ["lr0.01", "lr0.1", "lr0.001", "running", "crashed"]
    top = compare_runs(client, experiment="cnn", top=2)
    assert column(top, "name") == ["lr0.01", "lr0.1"] and column(top, "rank") == ["1", "2"]


def test_loss_ranks_ascending_and_missing_metric_goes_last(store) -> None:
    client, _ = store
    by_loss = compare_runs(client, experiment="cnn", metric="val/loss")
    assert by_loss.ascending
    names = column(by_loss, "name")
    assert names[:3] == ["lr0.01", "lr0.001", "lr0.1"] and set(names[3:]) == {"running", "crashed"}
    worst_first = compare_runs(client, experiment="cnn", ascending=True)
    assert column(worst_first, "name") == ["running", "lr0.001", "lr0.1", "lr0.01", "crashed"]


def test_columns_show_test_metrics_and_only_params_that_differ(store) -> None:
    client, _ = store
    table = compare_runs(client, experiment="cnn")
    # seed is equal everywhere; run_dir, tracking.run_name, hydra.* are noise; test/per_class/cat is too deep.
    expected = ["rank", "run", "name", "status", "duration", "val/acc", "test/acc", "test/f1"]
    assert table.columns == [*expected, "backbone.name", "optimizer.lr"]
    assert column(table, "optimizer.lr") == ["0.01", "0.1", "0.001", "0.05", "1.0"]
    # Only the crashed run has another backbone: without it, backbone.name no longer differs.
    assert "backbone.name" not in compare_runs(client, experiment="cnn", top=4).columns


def test_cells_are_short_and_readable(store) -> None:
    client, ids = store
    table = compare_runs(client, experiment="cnn")
    assert column(table, "run") == [ids[name][:8] for name in ["lr0.01", "lr0.1", "lr0.001", "running", "crashed"]]
    assert column(table, "val/acc") == ["0.95", "0.9123", "0.8", "0.5", ""]
    assert column(table, "duration") == ["1h02m05s", "1m05s", "7s", "", "10s"]
    assert column(table, "status") == ["FINISHED"] * 3 + ["RUNNING", "FAILED"]


def test_sweep_selects_only_its_children(store) -> None:
    client, ids = store
    table = compare_runs(client, sweep=ids["parent"])
    assert [row[1] for row in table.raw_rows] == [ids["job1"], ids["job0"]]
    assert table.title == f"sweep sweep-x ({ids['parent'][:8]})"


def test_experiment_leaves_out_sweep_parents_and_defaults_to_newest_with_runs(store) -> None:
    client, _ = store
    table = compare_runs(client)  # "empty" is newer but has no runs
    assert table.title == "experiment sweeps"
    assert column(table, "name") == ["job1", "job0", "outsider"]


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        ({"experiment": "nope"}, "--experiment nope: no such experiment; experiments: empty, sweeps, cnn"),
        ({"experiment": "empty"}, "--experiment empty: it has no runs yet"),
        ({"sweep": "0" * 32}, "--sweep 0{32}: no such run"),
        ({"sweep": "lr0.1"}, "--sweep lr0.1: no such run"),
        ({"experiment": "cnn", "metric": "val/f1"}, "--metric val/f1: no run in experiment cnn logged it; metrics: "),
        ({"experiment": "cnn", "top": 0}, "--top 0: must be at least 1"),
    ],
)
def test_user_mistakes_name_the_flag_and_the_choices(store, selection: dict, message: str) -> None:
    client, _ = store
    with pytest.raises(CnnlabError, match=message):
        compare_runs(client, **selection)


def test_sweep_id_of_a_run_without_children_says_so(store) -> None:
    client, ids = store
    with pytest.raises(CnnlabError, match="run outsider has no child runs"):
        compare_runs(client, sweep=ids["outsider"])


def test_csv_has_full_run_ids_and_full_precision(store, tmp_path: Path) -> None:
    client, ids = store
    path = tmp_path / "runs.csv"
    write_csv(compare_runs(client, experiment="cnn"), path)
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    assert [row["run"] for row in rows] == [ids[n] for n in ["lr0.01", "lr0.1", "lr0.001", "running", "crashed"]]
    assert float(rows[1]["val/acc"]) == 0.9123456789
    assert rows[0]["duration_s"] == "3725.0" and rows[3]["duration_s"] == ""
    assert rows[4]["val/acc"] == "" and rows[4]["backbone.name"] == "vgg11"


def test_render_table_lists_the_runs_in_rank_order(store) -> None:
    client, _ = store
    console = Console(record=True, width=250)
    console.print(render_table(compare_runs(client, experiment="cnn")))
    text = console.export_text()
    assert "by val/acc (descending)" in text
    assert text.index("lr0.01 ") < text.index("lr0.1 ") < text.index("lr0.001 ") < text.index("crashed")
    assert "0.9123" in text and "0.9123456789" not in text
