"""train(cfg) in-process: determinism, failures before and during a run, the imagefolder path end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from cnnlab.dispatch import train
from cnnlab.errors import CnnlabError
from cnnlab.tasks import ClassificationTask
from cnnlab.tracking.callbacks import process_age
from tests.conftest import FAST, write_image_folder


def runs(store: str, experiment: str = "classification"):
    client = MlflowClient(store)
    found = client.get_experiment_by_name(experiment)
    return client.search_runs([found.experiment_id]) if found else []


def test_same_seed_same_metrics(make_config, store: str) -> None:
    overrides = ["tracking.log_model=false", "trainer.max_epochs=2", "trainer.enable_progress_bar=false"]
    first = train(make_config(*overrides))
    second = train(make_config(*overrides))
    assert first == second
    other_seed = train(make_config(*overrides, "seed=7"))
    assert other_seed["test/loss"] != first["test/loss"]


def test_config_errors_fail_before_a_run_exists(make_config, store: str) -> None:
    with pytest.raises(CnnlabError, match="backbone.depth is not a setting of backbone=simple_cnn"):
        train(make_config("+backbone.depth=3"))
    with pytest.raises(CnnlabError, match="data.root must be set"):
        train(make_config("data=imagefolder"))
    assert runs(store) == []


def test_crash_mid_training_leaves_the_run_failed(make_config, store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    original = ClassificationTask.training_step

    def crash_on_second_step(self, batch, batch_idx):
        if batch_idx == 1:
            raise RuntimeError("simulated crash")
        return original(self, batch, batch_idx)

    monkeypatch.setattr(ClassificationTask, "training_step", crash_on_second_step)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(make_config("tracking.log_model=false", *FAST))
    (run,) = runs(store)
    assert run.info.status == "FAILED" and "simulated crash" in run.data.tags["cnnlab.error"]


def test_imagefolder_trains_end_to_end(make_config, store: str, tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "images", {"dark": 12, "mid": 12, "bright": 12}, size=20)
    metrics = train(make_config(
        "data=imagefolder", f"data.root={root}", "data.image_size=16", "data.num_workers=0", "data.batch_size=8",
        "backbone=resnet18", "trainer.max_epochs=4", "trainer.enable_progress_bar=false", "tracking.log_model=false",
    ))  # fmt: skip
    (run,) = runs(store)
    assert run.info.status == "FINISHED" and run.data.tags["cnnlab.data"] == "imagefolder"
    assert run.data.params["data.root"] == str(root)
    assert 0 < run.data.metrics["time/startup_s"] < process_age()  # measured at step 1, in this (pytest) process
    assert metrics["test/acc"] >= 0.5  # brightness separates the classes; chance is 0.33


def test_segmentation_trains_end_to_end_with_overlays(make_config, store: str, tmp_path: Path) -> None:
    metrics = train(make_config(
        "task=segmentation", f"data.root={tmp_path / 'shapes'}", "data.num_train=8", "data.num_val=4",
        "data.num_test=4", "data.size=32", "data.batch_size=4", "backbone=resnet18", "task.arch=FPN",
        "trainer.max_epochs=2", "trainer.enable_progress_bar=false", "tracking.log_model=false",
    ))  # fmt: skip
    (run,) = runs(store, "segmentation")
    assert run.info.status == "FINISHED" and run.data.tags["cnnlab.task"] == "segmentation"
    logged = set(run.data.metrics)
    assert {"val/miou", "val/dice", "val/pixel_acc", "test/miou", "test/iou_per_class/background"} <= logged
    assert 0.0 <= metrics["test/miou"] <= 1.0 and metrics["val/miou"] >= run.data.metrics["val/miou"] - 1e-6
    client = MlflowClient(store)
    overlays = {a.path for a in client.list_artifacts(run.info.run_id, "overlays")}
    assert overlays == {"overlays/val_epoch_001.png", "overlays/test_best.png"}
    assert run.data.params["task.arch"] == "FPN" and run.data.params["backbone.name"] == "resnet18"


@pytest.mark.parametrize("arch", ["fcos", "maskrcnn"])
def test_detection_trains_end_to_end_with_overlays(arch: str, make_config, store: str, tmp_path: Path) -> None:
    metrics = train(make_config(
        "task=detection", f"data.root={tmp_path / 'shapes'}", "data.num_train=8", "data.num_val=4",
        "data.num_test=4", "data.size=64", "data.batch_size=4", f"task.arch={arch}", "task.min_size=64",
        "task.max_size=64", "trainer.max_epochs=1", "trainer.enable_progress_bar=false",
        f"data.with_masks={arch == 'maskrcnn'}",
    ))  # fmt: skip
    (run,) = runs(store, "detection")
    assert run.info.status == "FINISHED" and run.data.tags["cnnlab.task"] == "detection"
    expected = {"val/map", "val/map_50", "val/map_75", "test/map", "test/map_50", "train/loss_epoch"}
    if arch == "maskrcnn":
        expected |= {"val/mask_map", "test/mask_map_50", "train/loss_mask"}
    assert expected <= set(run.data.metrics)
    assert 0.0 <= metrics["test/map_50"] <= 1.0
    client = MlflowClient(store)
    assert {a.path for a in client.list_artifacts(run.info.run_id, "overlays")} == {
        "overlays/val_epoch_000.png", "overlays/test_best.png",
    }  # fmt: skip
    assert "model" in {m.name for m in client.search_logged_models([run.info.experiment_id])}


def test_overfit_batches_runs_with_the_seeded_sampler_replaced(make_config, store: str) -> None:
    # Lightning puts its own sampler in place of EpochShuffle: samples get plain indices instead of (epoch, index).
    # SeededSamples here (per-sample augmentation); EpochIndexed (none) in test_debug_modes' debug=overfit.
    metrics = train(make_config("+trainer.overfit_batches=2", "trainer.max_epochs=2",
                                "data.augment=[{HorizontalFlip: {p: 0.5}}]", "trainer.enable_progress_bar=false",
                                "tracking.log_model=false"))  # fmt: skip
    assert 0.0 <= metrics["test/acc"] <= 1.0
    assert [run.info.status for run in runs(store)] == ["FINISHED"]
