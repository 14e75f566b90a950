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

from cnnlab.commands.compare import KINDS_HELP, STATUSES_HELP
from cnnlab.errors import CnnlabError
from cnnlab.tracking.compare import ComparisonTable, compare_runs, render_table, write_csv
from cnnlab.tracking.run_selection import RUN_KINDS, STATUSES, RunSelection
from cnnlab.tracking.source import _get_run
from cnnlab.tracking.tags import DEBUG_TAG, EVALUATES_TAG, REPRODUCES_TAG
from tests.conftest import cli, migrated_store

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


def recipe(lr: str, name: str, backbone: str = "resnet18", monitor: str = "val/acc", mode: str = "max") -> dict:
    """Params as cnnlab logs them; run_dir, run name and hydra keys differ on every run and must not show."""
    return {"optimizer.lr": lr, "backbone.name": backbone, "seed": "42", "run_dir": f"/runs/{name}",
            "tracking.run_name": name, "hydra.job.name": name, "task.monitor": monitor,
            "task.monitor_mode": mode}  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[MlflowClient, dict[str, str]]:
    """One store for the whole module (creating a sqlite store is slow): experiments cnn, sweeps, empty (newest)."""
    client = MlflowClient(migrated_store(tmp_path_factory.mktemp("compare") / "mlflow.db"))
    ids: dict[str, str] = {}
    cnn = client.create_experiment("cnn")
    # best/val/acc is the tested checkpoint's score; val/acc the last epoch's. lr0.001 ended highest but its best
    # checkpoint scored lowest; "running" has no best yet.
    for name, lr, metrics, seconds in [
        ("lr0.1", "0.1", {"best/val/acc": 0.9312345678, "val/acc": 0.90, "val/loss": 0.3, "test/acc": 0.9,
                          "test/per_class/cat": 0.5}, 65),
        ("lr0.01", "0.01", {"best/val/acc": 0.95, "val/acc": 0.94, "val/loss": 0.20, "test/acc": 0.93,
                            "test/f1": 0.91}, 3725),
        ("lr0.001", "0.001", {"best/val/acc": 0.80, "val/acc": 0.97, "val/loss": 0.25, "test/acc": 0.79}, 7),
        ("running", "0.05", {"val/acc": 0.91}, None),
    ]:  # fmt: skip
        backbone = "vgg11" if name == "lr0.001" else "resnet18"
        ids[name] = add_run(client, cnn, name, metrics, recipe(lr, name, backbone), seconds=seconds)
    # Left out unless asked; each but the evaluation (which logs test metrics only) would rank first.
    best = {"best/val/acc": 0.99, "val/acc": 0.99}
    for name, status, metrics, tags in [
        ("crashed", "FAILED", {"val/acc": 0.99}, {}),
        ("stopped", "KILLED", {"val/acc": 0.98}, {}),
        ("evaluate-lr0.01", "FINISHED", {"test/acc": 0.93}, {EVALUATES_TAG: ids["lr0.01"]}),
        ("reproduce-lr0.1", "FINISHED", best, {REPRODUCES_TAG: ids["lr0.1"]}),
        ("overfit", "FINISHED", best, {DEBUG_TAG: "overfit"}),
    ]:
        ids[name] = add_run(client, cnn, name, metrics, recipe("1.0", name), status=status, tags=tags)

    time.sleep(0.01)  # experiments are ordered by creation time in ms
    sweeps = client.create_experiment("sweeps")
    # The parent's score would rank it first if it were not excluded.
    ids["parent"] = add_run(client, sweeps, "sweep-x", {"val/acc": 0.99}, {}, tags={"cnnlab.sweep_parent": "true"})
    child = {MLFLOW_PARENT_RUN_ID: ids["parent"]}
    ids["job0"] = add_run(client, sweeps, "job0", {"val/acc": 0.70}, recipe("0.1", "job0"), tags=child)
    ids["job1"] = add_run(client, sweeps, "job1", {"val/acc": 0.75}, recipe("0.01", "job1"), tags=child)
    ids["job2"] = add_run(client, sweeps, "job2", {"val/acc": 0.9}, recipe("1", "job2"), tags=child, status="FAILED")
    ids["outsider"] = add_run(client, sweeps, "outsider", {"val/acc": 0.60}, recipe("0.5", "outsider"))

    time.sleep(0.01)
    client.create_experiment("empty")
    return client, ids


def column(table: ComparisonTable, name: str) -> list[str]:
    index = table.columns.index(name)
    return [row[index] for row in table.rows]


RANKED = ["lr0.01", "lr0.1", "running", "lr0.001"]  # by best/val/acc; "running" by its last val/acc


def test_ranks_by_the_best_checkpoint_score_not_the_last_epoch(store) -> None:
    client, _ = store
    table = compare_runs(client, experiment="cnn")
    # lr0.001's last val/acc (0.97) is the highest, its best checkpoint's (0.80) the lowest.
    assert column(table, "name") == RANKED
    assert table.metric == "best/val/acc" and "val/acc" not in table.columns
    assert column(table, "best/val/acc") == ["0.95", "0.9312", "0.91 (last)", "0.8"]
    assert table.ranked_by == ["best/val/acc", "best/val/acc", "val/acc", "best/val/acc"]
    top = compare_runs(client, experiment="cnn", top=2)
    assert column(top, "name") == ["lr0.01", "lr0.1"] and column(top, "rank") == ["1", "2"]


def test_the_default_metric_is_what_the_runs_task_monitors(tmp_path: Path) -> None:
    client = MlflowClient(migrated_store(tmp_path / "mlflow.db"))
    segmentation = client.create_experiment("segmentation")
    for name, miou, acc in [("a", 0.6, 0.99), ("b", 0.7, 0.90)]:
        metrics = {"best/val/miou": miou, "val/miou": miou, "val/acc": acc}
        add_run(client, segmentation, name, metrics, recipe("0.1", name, monitor="val/miou"))
    table = compare_runs(client)
    assert table.metric == "best/val/miou" and column(table, "name") == ["b", "a"]
    by_loss = client.create_experiment("by-loss")  # a task that keeps the checkpoint of the lowest val/loss
    for name, loss in [("high", 0.5), ("low", 0.2)]:
        add_run(client, by_loss, name, {"best/val/loss": loss}, recipe("0.1", name, monitor="val/loss", mode="min"))
    table = compare_runs(client, experiment="by-loss")
    assert table.ascending and table.metric == "best/val/loss" and column(table, "name") == ["low", "high"]


def test_loss_ranks_ascending_and_missing_metric_goes_last(store) -> None:
    client, _ = store
    by_loss = compare_runs(client, experiment="cnn", metric="val/loss")  # no best/val/loss: the last val/loss
    assert by_loss.ascending and by_loss.metric == "val/loss"
    assert column(by_loss, "name") == ["lr0.01", "lr0.001", "lr0.1", "running"]
    assert column(by_loss, "val/loss") == ["0.2", "0.25", "0.3", ""]  # no (last) mark: every run ranks by it
    worst_first = compare_runs(client, experiment="cnn", ascending=True)
    assert column(worst_first, "name") == RANKED[::-1]


def test_runs_of_other_commands_failed_runs_and_checks_are_left_out_unless_asked(store) -> None:
    client, _ = store
    table = compare_runs(client, experiment="cnn")
    assert table.caption.splitlines()[1] == (
        "left out: 1 FAILED, 1 KILLED, 1 debug, 1 evaluate, 1 reproduce (--status, --include or --all shows them)"
    )
    failed_too = RunSelection.from_flags(mlflow_filter="", statuses="finished,running,FAILED", include="")
    table = compare_runs(client, experiment="cnn", selection=failed_too)
    assert column(table, "name") == ["crashed", *RANKED] and column(table, "best/val/acc")[0] == "0.99 (last)"
    others = RunSelection.from_flags(mlflow_filter="", statuses="FINISHED", include="evaluate,reproduce")
    table = compare_runs(client, experiment="cnn", selection=others)
    assert column(table, "name") == ["reproduce-lr0.1", "lr0.01", "lr0.1", "lr0.001", "evaluate-lr0.01"]
    assert "left out: 1 FAILED, 1 KILLED, 1 RUNNING, 1 debug (" in table.caption


def test_all_shows_every_run_and_bad_choices_are_one_line(store, capfd) -> None:
    client, ids = store
    shown = cli(capfd, "compare", "--experiment", "cnn", "--all", store=client.tracking_uri)
    assert shown.returncode == 0, shown.stderr
    cnn_runs = ["lr0.1", "lr0.01", "lr0.001", "running", "crashed", "stopped", "evaluate-lr0.01", "reproduce-lr0.1",
                "overfit"]  # fmt: skip
    assert all(f" {name} " in shown.stdout for name in cnn_runs) and "left out" not in shown.stdout
    for flag, value in [("--status", "DONE"), ("--include", "evaluate,tests")]:
        refused = cli(capfd, "compare", flag, value, store=client.tracking_uri)
        assert refused.returncode == 1 and refused.stderr.startswith(f"cnnlab: error: {flag} {value}: give a ")
        assert refused.stderr.count("\n") == 1


def test_help_lists_every_status_and_kind_of_run() -> None:
    assert KINDS_HELP.split(", ") == list(RUN_KINDS) and STATUSES_HELP.split(", ") == list(STATUSES)


def test_filter_is_an_mlflow_search_and_a_bad_one_is_one_line(store, capfd) -> None:
    client, _ = store
    chosen = RunSelection(mlflow_filter="params.`optimizer.lr` = '0.01'")
    assert column(compare_runs(client, experiment="cnn", selection=chosen), "name") == ["lr0.01"]
    shown = cli(capfd, "compare", "--filter", "metrics.`test/acc` > 0.85", store=client.tracking_uri)
    assert shown.returncode == 0 and "experiment cnn" in shown.stdout  # the newest experiment with a match
    assert " lr0.01 " in shown.stdout and " lr0.1 " in shown.stdout and " lr0.001 " not in shown.stdout
    refused = cli(capfd, "compare", "--filter", "metrics.val/acc >> 1", store=client.tracking_uri)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.startswith("cnnlab: error: --filter metrics.val/acc >> 1: MLflow cannot search with it: ")
    assert refused.stderr.count("\n") == 1
    with pytest.raises(CnnlabError, match="--experiment cnn: no run matches --filter params.seed = '7'"):
        compare_runs(client, experiment="cnn", selection=RunSelection(mlflow_filter="params.seed = '7'"))


def test_columns_show_test_metrics_and_only_params_that_differ(store) -> None:
    client, _ = store
    table = compare_runs(client, experiment="cnn")
    # seed and task.monitor are equal everywhere; run_dir, tracking.run_name, hydra.* are noise; test/per_class/cat
    # is too deep.
    expected = ["rank", "run", "name", "status", "duration", "best/val/acc", "test/acc", "test/f1"]
    assert table.columns == [*expected, "backbone.name", "optimizer.lr"]
    assert column(table, "optimizer.lr") == ["0.01", "0.1", "0.05", "0.001"]
    # Only lr0.001 has another backbone: without it, backbone.name no longer differs.
    assert "backbone.name" not in compare_runs(client, experiment="cnn", top=3).columns


def test_cells_are_short_and_readable(store) -> None:
    client, ids = store
    table = compare_runs(client, experiment="cnn")
    assert column(table, "run") == [ids[name][:8] for name in RANKED]  # 8 characters, as no other run shares them
    assert column(table, "duration") == ["1h02m05s", "1m05s", "", "7s"]
    assert column(table, "status") == ["FINISHED", "FINISHED", "RUNNING", "FINISHED"]


def test_the_ids_shown_are_accepted_back(store) -> None:
    client, ids = store
    for shown in column(compare_runs(client, experiment="cnn"), "run"):
        assert _get_run(client, shown).info.run_id.startswith(shown)


def test_sweep_selects_only_its_children_by_id_or_a_unique_start_of_it(store, capfd) -> None:
    client, ids = store
    table = compare_runs(client, sweep=ids["parent"])
    assert [row[1] for row in table.raw_rows] == [ids["job1"], ids["job0"]]  # job2 FAILED
    assert table.title == f"sweep sweep-x ({ids['parent'][:8]})"
    shown = cli(capfd, "compare", "--sweep", ids["parent"][:6], store=client.tracking_uri)
    assert shown.returncode == 0, shown.stderr
    assert " job1 " in shown.stdout and " job0 " in shown.stdout and "left out: 1 FAILED" in shown.stdout


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
        ({"sweep": "0" * 8}, "--sweep 0{8}: no such run"),
        ({"sweep": "abc"}, "--sweep abc: too short to name a run; give at least 4 characters"),
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
    killed_only = RunSelection(statuses=frozenset({"KILLED"}))
    with pytest.raises(CnnlabError, match=r"every run is left out \(2 FINISHED, 1 FAILED\); --status, --include or"):
        compare_runs(client, sweep=ids["parent"], selection=killed_only)


def test_csv_has_full_run_ids_full_precision_and_what_ranked_each_run(store, tmp_path: Path) -> None:
    client, ids = store
    path = tmp_path / "runs.csv"
    write_csv(compare_runs(client, experiment="cnn"), path)
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    assert [row["run"] for row in rows] == [ids[name] for name in RANKED]
    assert float(rows[1]["best/val/acc"]) == 0.9312345678 and rows[2]["best/val/acc"] == "0.91"
    assert [row["ranked_by"] for row in rows] == ["best/val/acc", "best/val/acc", "val/acc", "best/val/acc"]
    assert rows[0]["duration_s"] == "3725.0" and rows[2]["duration_s"] == ""
    assert rows[2]["test/acc"] == "" and rows[3]["backbone.name"] == "vgg11"


def test_render_table_lists_the_runs_in_rank_order(store) -> None:
    client, _ = store
    console = Console(record=True, width=250)
    console.print(render_table(compare_runs(client, experiment="cnn")))
    text = console.export_text()
    assert "by best/val/acc (descending)" in text
    assert text.index("lr0.01 ") < text.index("lr0.1 ") < text.index("running ") < text.index("lr0.001 ")
    assert "0.9312" in text and "0.9312345678" not in text
    assert "(last): no best/val/acc (the run has not finished), so its last val/acc ranks it" in text
