"""Labels travel by class name: `cnnlab evaluate RUN data.root=OTHER` scores each image against the model's class of
the same name (whatever order or subset of classes OTHER holds), and refuses classes the model does not know."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image

from cnnlab.commands import evaluate, predict
from cnnlab.dispatch import train
from cnnlab.errors import CnnlabError

IMAGES = ["data=imagefolder", "data.image_size=16", "data.batch_size=8", "data.num_workers=0", "data.augment=[]",
          "trainer.max_epochs=4", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
          "tracking.log_model=false"]  # fmt: skip


LEVELS = {"dark": 40, "mid": 120, "bright": 200, "very_bright": 250}  # a class's brightness comes from its name


def layout(root: Path, classes: dict[str, int], seed: int) -> Path:
    """train/ val/ test/ sub-roots, each holding the classes as folders of noisy gray images."""
    rng = np.random.default_rng(seed)
    for split in ("train", "val", "test"):
        for name, count in classes.items():
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                pixels = np.clip(rng.normal(LEVELS[name], 10, (24, 24, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{i}.png")
    return root


@pytest.fixture
def trained(make_config, store: str, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = layout(tmp_path / "three", {"bright": 6, "dark": 6, "mid": 6}, seed=0)
    train(make_config(*IMAGES, f"data.root={root}"))
    client = MlflowClient(store)
    (run,) = client.search_runs([client.get_experiment_by_name("classification").experiment_id])
    return run


def test_evaluate_on_other_data_maps_classes_by_name(trained, store: str, tmp_path: Path) -> None:
    other = layout(tmp_path / "two", {"dark": 4, "mid": 4}, seed=5)  # a subset, in another position order
    assert evaluate.main([trained.info.run_id, f"data.root={other}"]) == 0
    client = MlflowClient(store)
    (evaluation,) = client.search_runs([trained.info.experiment_id],
                                       filter_string=f"tags.`cnnlab.evaluates` = '{trained.info.run_id}'")  # fmt: skip
    files = sorted(str(p) for p in (other / "test").rglob("*.png"))
    out = tmp_path / "predictions.jsonl"
    assert predict.main([trained.info.run_id, *files, "--output", str(out)]) == 0
    predicted = [json.loads(line) for line in out.read_text().splitlines()]
    accuracy = sum(Path(p["input"]).parent.name == p["class"] for p in predicted) / len(predicted)
    assert accuracy > 0.5, "the model did not learn brightness; nothing to compare"
    assert evaluation.data.metrics["test/acc"] == pytest.approx(accuracy)
    assert "test/acc_per_class/bright" not in evaluation.data.metrics  # no test images of it: no accuracy


def test_evaluate_refuses_classes_the_model_does_not_know(trained, tmp_path: Path) -> None:
    other = layout(tmp_path / "renamed", {"very_bright": 4, "dark": 4}, seed=5)
    with pytest.raises(CnnlabError, match="classes the model was not trained on: very_bright"):
        evaluate.main([trained.info.run_id, f"data.root={other}"])
