"""Every task of the registry trained, restored and predicted. `cnnlab predict` on the files of a run's test split
gives what the test step computes on the same images: one pre-processing, owned by the data, for evaluation and
prediction (detection once fed un-normalised pixels)."""

from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir
from mlflow.tracking import MlflowClient
from omegaconf import open_dict
from PIL import Image

from cnnlab.commands import predict
from cnnlab.config_files import CONFIG_DIR, CONFIG_NAME
from cnnlab.data import build_data
from cnnlab.tasks import TASKS, restore_task
from tests.conftest import FAST, migrated_store

SMALL_SHAPES = ["data.num_train=16", "data.num_val=8", "data.num_test=8", "data.batch_size=4"]
RECIPES = {
    "classification": ["task=classification"],
    "segmentation": ["task=segmentation", *SMALL_SHAPES],
    "detection": ["task=detection", *SMALL_SHAPES, "task.score_thresh=0.0"],
    "text": ["task=text", "backbone.embedding_dim=8", "backbone.maps=4"],
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """task name -> (run id, its config, store): one short real training per task, shared by this module."""
    from cnnlab.dispatch import train

    root = tmp_path_factory.mktemp("parity")
    store = migrated_store(root / 'mlflow.db')
    runs = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", store)
        for name, overrides in RECIPES.items():
            with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
                cfg = compose(CONFIG_NAME, overrides=[*overrides, *FAST, "tracking.log_model=false"])
            with open_dict(cfg):
                cfg.run_dir = str(root / name)
                cfg.tracking.artifact_root = str(root / "artifacts")
                cfg.data.root = str(root / "datasets" / name) if "root" in cfg.data else None
                if cfg.data.root is None:
                    del cfg.data.root
            train(cfg)
            client = MlflowClient(store)
            (run,) = client.search_runs([client.get_experiment_by_name(cfg.task.name).experiment_id])
            runs[name] = (run.info.run_id, run)
    return store, runs


def source(store: str, run) -> tuple:
    from cnnlab.tracking.source import load_source_run

    loaded = load_source_run(MlflowClient(store), run.info.run_id)
    task = restore_task(loaded.config["task"]["name"], loaded.checkpoint("best")).eval()
    data = build_data(loaded.config["data"])
    data.setup()
    return loaded, task, data


def predicted(store: str, run_id: str, inputs: list[str], tmp_path: Path, monkeypatch) -> list[dict]:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    output = tmp_path / "predictions.jsonl"
    assert predict.main([run_id, *inputs, "--output", str(output), "--out-dir", str(tmp_path / "masks")]) == 0
    return [json.loads(line) for line in output.read_text().splitlines()]


def outputs_of_test_step(task, data) -> list:
    """What the test step's forward gives, batch by batch, on the test loader."""
    with torch.no_grad():
        return [task.predict_step(batch, 0) for batch in data.test_dataloader()]


def probabilities(results: list[dict]) -> torch.Tensor:
    return torch.tensor([list(r["probabilities"].values()) for r in results])


def inputs_of(name: str, data, tmp_path: Path) -> list[str]:
    """The run's test split as predict takes it: files (images written from memory where the data has no files),
    or sentences."""
    test = data.splits.test
    if name == "text":
        return [s.text for s in test.sentences][:40]
    if name == "segmentation":
        return [str(image) for image, _ in test.items]
    if name == "detection":
        return [str(test.images / test.coco.imgs[i]["file_name"]) for i in test.image_ids]
    files = []
    for i, image in enumerate(test.images):
        files.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(image[..., 0]).save(files[-1])
    return files


@pytest.mark.parametrize("name", TASKS.names())
def test_every_registered_task_trains_restores_and_predicts(trained, name: str, tmp_path: Path, monkeypatch) -> None:
    """What every task of the registry keeps: a short real training logs finite losses and test metrics, its best
    checkpoint restores exactly the trained weights, and predict answers each input."""
    store, runs = trained
    assert name in runs, f"task {name!r} is registered but has no recipe in RECIPES"
    run_id, run = runs[name]
    metrics = run.data.metrics
    assert run.info.status == "FINISHED"
    assert {"train/", "val/", "test/"} <= {key[: key.index("/") + 1] for key in metrics if "/" in key}
    assert all(math.isfinite(value) for key, value in metrics.items() if key.endswith("loss"))
    loaded, task, data = source(store, run)
    saved = torch.load(loaded.checkpoint("best"), map_location="cpu", weights_only=True)["state_dict"]
    restored = task.state_dict()
    assert saved.keys() == restored.keys()
    assert all(torch.equal(saved[key], restored[key]) for key in saved)
    inputs = inputs_of(name, data, tmp_path)[:3]
    results = predicted(store, run_id, inputs, tmp_path, monkeypatch)
    assert len(results) == len(inputs) and not any("error" in result for result in results)


@pytest.mark.parametrize("name", ["classification", "text"])
def test_class_probabilities(trained, name: str, tmp_path: Path, monkeypatch) -> None:
    store, runs = trained
    run_id, run = runs[name]
    _, task, data = source(store, run)
    inputs = inputs_of(name, data, tmp_path)
    expected = torch.cat(outputs_of_test_step(task, data))[: len(inputs)]
    results = predicted(store, run_id, inputs, tmp_path, monkeypatch)
    assert torch.allclose(probabilities(results), expected, atol=1e-5)


def test_segmentation(trained, tmp_path: Path, monkeypatch) -> None:
    store, runs = trained
    run_id, run = runs["segmentation"]
    _, task, data = source(store, run)
    files = inputs_of("segmentation", data, tmp_path)
    expected = torch.cat(outputs_of_test_step(task, data))
    results = predicted(store, run_id, files, tmp_path, monkeypatch)
    for result, mask in zip(results, expected, strict=True):
        assert np.array_equal(np.asarray(Image.open(result["mask"])), mask.numpy())


def test_detection(trained, tmp_path: Path, monkeypatch) -> None:
    store, runs = trained
    run_id, run = runs["detection"]
    _, task, data = source(store, run)
    files = inputs_of("detection", data, tmp_path)
    expected = [found for batch in outputs_of_test_step(task, data) for found in batch]
    results = predicted(store, run_id, files, tmp_path, monkeypatch)
    assert any(r["detections"] for r in results), "an untrained-looking detector: nothing to compare"
    for result, found in zip(results, expected, strict=True):
        boxes = torch.tensor([d["box"] for d in result["detections"]]).reshape(-1, 4)
        scores = torch.tensor([d["score"] for d in result["detections"]])
        assert boxes.shape == found["boxes"].shape
        assert torch.allclose(boxes, found["boxes"], atol=1e-3) and torch.allclose(scores, found["scores"], atol=1e-4)


def served_predictor(loaded, tmp_path: Path):
    """The registered pyfunc's model object, loaded as MLflow loads it (checkpoint and config as artifacts)."""
    from types import SimpleNamespace

    from cnnlab.tracking.pyfunc import CnnlabPredictor

    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(loaded.config))
    model = CnnlabPredictor()
    model.load_context(SimpleNamespace(artifacts={"checkpoint": str(loaded.checkpoint("best")), "config": str(config)}))
    return model


def encoded(path: str) -> str:
    return base64.b64encode(Path(path).read_bytes()).decode("ascii")


@pytest.mark.parametrize("name", ["classification", "segmentation", "detection"])
def test_the_served_model_answers_image_bytes_as_predict_answers_files(trained, name: str, tmp_path: Path,
                                                                       monkeypatch) -> None:
    """What a client on another machine sends: base64 image files in a DataFrame column "image"; a broken one is
    answered with its error, the others as `cnnlab predict` answers the same files (masks as PNG bytes)."""
    store, runs = trained
    run_id, run = runs[name]
    loaded, _, data = source(store, run)
    files = inputs_of(name, data, tmp_path)[:2]
    expected = predicted(store, run_id, files, tmp_path, monkeypatch)
    column = [encoded(files[0]), base64.b64encode(b"not an image").decode(), "%%% not base64", encoded(files[1])]
    answers = served_predictor(loaded, tmp_path).predict(None, pd.DataFrame({"image": column}))
    assert [a["input"] for a in answers] == ["image 0", "image 1", "image 2", "image 3"]
    assert "image 1: cannot read image" in answers[1]["error"] and "image 2: not base64" in answers[2]["error"]
    for answer, result in zip([answers[0], answers[3]], expected, strict=True):
        if name == "segmentation":
            sent = np.asarray(Image.open(io.BytesIO(base64.b64decode(answer.pop("mask_png")))))
            assert np.array_equal(sent, np.asarray(Image.open(result.pop("mask"))))
        assert {**answer, "input": ""} == {**result, "input": ""}
