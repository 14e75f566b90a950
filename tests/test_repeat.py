"""`cnnlab repeat`: one config under several seeds, every final metric's 95 % confidence interval on the parent, a
reference placed against it, more seeds later, and an interrupted repeat continued without rerunning a seed."""

from __future__ import annotations

import csv
import io
import math
import shlex
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mlflow.tracking import MlflowClient
from scipy import stats

import cnnlab.repeat
from cnnlab.seed_statistics import interval
from cnnlab.tasks import ClassificationTask
from tests.conftest import FAST, cli, migrated_store

# The digits default, two short epochs a seed (the interrupted repeat stops one in its second epoch).
RECIPE = [*(o for o in FAST if not o.startswith("trainer.max_epochs")), "trainer.max_epochs=2",
          "tracking.log_model=false", "tracking.log_checkpoint=false", "tracking.system_metrics=false"]  # fmt: skip


def runs_of(store: str) -> tuple[object, dict[int, object]]:
    """(the repeat's parent run, {seed: newest child run})."""
    client = MlflowClient(store)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()],
                              order_by=["attributes.start_time DESC"])  # fmt: skip
    (parent,) = [r for r in runs if "cnnlab.repeat" in r.data.tags]
    seeds: dict[int, object] = {}
    for run in runs:
        if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id:
            seeds.setdefault(int(run.data.tags["cnnlab.seed"]), run)
    return parent, seeds


@pytest.fixture(scope="module")
def repeated(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """Three seeds of the recipe in a store of their own: (store, working folder)."""
    folder = tmp_path_factory.mktemp("repeat")
    store = migrated_store(folder / "mlflow.db")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        status = cnnlab_repeat(store, *RECIPE, "--seeds", "3", "--reference", "test/loss=100")
    assert status == 0
    return store, folder


def cnnlab_repeat(store: str, *args: str) -> int:
    import os

    from cnnlab.cli import main

    saved = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = store
    try:
        return main(["repeat", *args])
    finally:
        if saved is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved


def test_the_parent_holds_each_metrics_interval_over_the_seeds(repeated) -> None:
    store, _ = repeated
    parent, seeds = runs_of(store)
    assert sorted(seeds) == [42, 43, 44] and all(run.info.status == "FINISHED" for run in seeds.values())
    assert parent.info.status == "FINISHED"
    for key in ("test/acc", "test/loss"):
        values = [seeds[s].data.metrics[key] for s in (42, 43, 44)]
        mean = sum(values) / 3
        spread = len(set(values)) > 1
        low, high = stats.t.interval(0.95, 2, loc=mean, scale=stats.sem(values)) if spread else (mean, mean)
        logged = parent.data.metrics
        assert logged[f"repeat/{key}_mean"] == pytest.approx(mean, abs=1e-12)
        assert logged[f"repeat/{key}_std"] == pytest.approx(stats.tstd(values), abs=1e-12)
        assert (logged[f"repeat/{key}_ci_low"], logged[f"repeat/{key}_ci_high"]) == pytest.approx((low, high))
    assert parent.data.tags["cnnlab.repeat.verdict.test/loss"] == "above"  # a loss of 100 is above any interval
    assert not any(key.startswith("repeat/time/") for key in parent.data.metrics)  # machine timings are left out


def test_the_tables_list_every_seed_and_every_metric(repeated) -> None:
    store, folder = repeated
    parent, seeds = runs_of(store)
    client = MlflowClient(store)
    table = list(csv.DictReader(io.StringIO(Path(client.download_artifacts(
        parent.info.run_id, "repeat_seeds.csv", str(folder))).read_text())))  # fmt: skip
    assert [row["run_id"] for row in table] == [seeds[s].info.run_id for s in (42, 43, 44)]
    summary = {row["metric"]: row for row in csv.DictReader(io.StringIO(Path(client.download_artifacts(
        parent.info.run_id, "repeat_summary.csv", str(folder))).read_text()))}  # fmt: skip
    assert summary["test/loss"]["verdict"] == "above" and float(summary["test/acc"]["n"]) == 3


def test_rerunning_summarises_again_and_more_seeds_train_only_the_new_ones_in_parallel(repeated, monkeypatch,
                                                                                       capsys) -> None:
    store, folder = repeated
    monkeypatch.chdir(folder)
    parent, before = runs_of(store)
    mean = parent.data.metrics["repeat/test/acc_mean"]
    assert cnnlab_repeat(store, *RECIPE, "--seeds", "3", "--reference", f"test/acc={mean!r}") == 0
    assert "seeds trained now: none" in capsys.readouterr().out
    tags = runs_of(store)[0].data.tags
    assert tags["cnnlab.repeat.verdict.test/acc"] == "inside"  # the mean is inside
    assert float(tags["cnnlab.repeat.reference.test/acc"]) == mean

    assert cnnlab_repeat(store, *RECIPE, "--seeds", "5", "--jobs", "2") == 0
    again, after = runs_of(store)
    assert again.info.run_id == parent.info.run_id and sorted(after) == [42, 43, 44, 45, 46]
    assert all(after[s].info.run_id == before[s].info.run_id for s in (42, 43, 44))  # not rerun
    assert again.data.metrics["repeat/seeds"] == 5 and after[46].info.status == "FINISHED"
    # the verdict was drawn against 3 seeds' interval: a call without --reference leaves none standing
    assert not [key for key in again.data.tags if key.startswith(("cnnlab.repeat.verdict", "cnnlab.repeat.ref"))]
    command = after[46].data.tags["cnnlab.command"]  # of a run made in a worker process
    assert command == shlex.join(["cnnlab", "repeat", *RECIPE, "--seeds", "5", "--jobs", "2"]), command


def test_an_interrupted_repeat_continues_its_seeds(repeated, tmp_path: Path, monkeypatch, capsys) -> None:
    """Ctrl-C in seed 43's second epoch: the parent and that seed are KILLED; the same command again keeps seed 42,
    continues seed 43's run from its checkpoint, trains seed 44, and every seed's metrics equal the uninterrupted
    repeat's."""
    store = migrated_store(tmp_path / "mlflow.db")
    monkeypatch.chdir(tmp_path)
    seed_now = {}
    real_train, real_step = cnnlab.repeat.train_config, ClassificationTask.training_step

    def train_config(config, **kwargs):
        seed_now["seed"] = config["seed"]
        return real_train(config, **kwargs)

    def training_step(self, batch, batch_idx):
        if seed_now["seed"] == 43 and self.current_epoch == 1:
            raise KeyboardInterrupt
        return real_step(self, batch, batch_idx)

    monkeypatch.setattr(cnnlab.repeat, "train_config", train_config)
    monkeypatch.setattr(ClassificationTask, "training_step", training_step)
    assert cnnlab_repeat(store, *RECIPE, "--seeds", "3") == 130  # as after Ctrl-C
    assert "the same command again continues the repeat" in capsys.readouterr().err
    parent, seeds = runs_of(store)
    assert parent.info.status == "KILLED" and sorted(seeds) == [42, 43]
    assert seeds[42].info.status == "FINISHED" and seeds[43].info.status == "KILLED"

    monkeypatch.setattr(ClassificationTask, "training_step", real_step)
    assert cnnlab_repeat(store, *RECIPE, "--seeds", "3") == 0
    again, resumed = runs_of(store)
    assert again.info.run_id == parent.info.run_id and again.info.status == "FINISHED"
    assert resumed[42].info.run_id == seeds[42].info.run_id
    assert resumed[43].info.run_id == seeds[43].info.run_id and resumed[43].data.tags["cnnlab.resumes"] == "1"
    _, uninterrupted = runs_of(repeated[0])
    for seed in (42, 43, 44):
        assert resumed[seed].data.metrics["test/acc"] == uninterrupted[seed].data.metrics["test/acc"], seed


@pytest.mark.parametrize("args, message", [
    (["--seeds", "1"], "a repeat needs at least 2 seeds"),
    (["--seeds", "0"], "a repeat needs at least 2 seeds"),
    (["abc123", "def456"], "def456: one run id at most"),
    (["trainer.max_epochs=1", "abc123"], "abc123: a run id comes first"),
    (["--reference", "acc"], "give METRIC=NUMBER"),
    (["trainer.max_epochs=1,2"], "a sweep; this command trains one config"),
    (["hydra.job.chdir=true"], "Hydra's own settings apply to cnnlab train only"),
    (["backbone=nonet"], "backbone=nonet is not an option"),
    (["nosuchrun", "--seeds", "2", "trainer.max_epochs=1"], "no run nosuchrun"),  # settings after the options
])  # fmt: skip
def test_bad_arguments_are_one_line(args: list[str], message: str, store: str, capfd) -> None:
    result = cli(capfd, "repeat", *args, store=store)
    assert result.returncode != 0 and message in result.stderr and "Traceback" not in result.stderr


def test_a_percentage_for_a_fraction_is_refused_without_training_again(repeated, monkeypatch, capfd) -> None:
    store, folder = repeated
    monkeypatch.chdir(folder)
    result = cli(capfd, "repeat", *RECIPE, "--seeds", "3", "--reference", "test/acc=91.2", store=store)
    assert result.returncode == 1 and "test/acc is a fraction" in result.stderr and "give 0.912" in result.stderr
    assert "seed 42," not in result.stdout  # nothing trained


@given(st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=30))
def test_the_interval_is_students_t(values: list[float]) -> None:
    found = interval(values)
    mean = math.fsum(values) / len(values)
    half = stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / math.sqrt(len(values))
    assert found.mean == pytest.approx(mean, abs=1e-9)
    assert (found.low, found.high) == pytest.approx((mean - half, mean + half), abs=1e-9)
    assert found.verdict(found.high + 1) == "above" and found.verdict(found.low - 1) == "below"
    assert found.verdict(found.mean) == "inside"


def test_a_misnamed_reference_is_refused_before_more_seeds_train(repeated, monkeypatch, capfd) -> None:
    store, folder = repeated
    monkeypatch.chdir(folder)
    result = cli(capfd, "repeat", *RECIPE, "--seeds", "4", "--reference", "test/accuracy=0.9", store=store)
    assert result.returncode == 1 and "--reference test/accuracy: not a metric the seeds report" in result.stderr
    assert "test/acc," in result.stderr and "seed 45," not in result.stdout  # seed 45 was not trained
