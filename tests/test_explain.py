"""What a trained classifier learned, as every run logs it and as `cnnlab explain` shows it: a CAM that finds the one
region a planted class depends on, the filters / CAM / feature-map pictures of a run, and the command's files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image

from tests.conftest import cli

SIZE, SQUARE = 32, 9


def planted_folder(root: Path, per_class: int = 40, seed: int = 0) -> Path:
    """RGB noise; class `marked` also has a bright square in the top-left quadrant (placed within 2 px), class
    `blank` has none: the class depends on that region only."""
    rng = np.random.default_rng(seed)
    for label in ("blank", "marked"):
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.normal(100, 30, (SIZE, SIZE, 3))
            if label == "marked":
                top, left = rng.integers(2, 5, size=2)
                pixels[top : top + SQUARE, left : left + SQUARE] = 250
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(root / label / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory: pytest.TempPathFactory):
    """A simple CNN trained on the planted images (in this process), its pictures logged."""
    from hydra import compose, initialize_config_dir
    from omegaconf import open_dict

    from cnnlab.config_files import CONFIG_DIR, CONFIG_NAME
    from cnnlab.dispatch import train
    from tests.conftest import migrated_store

    tmp = tmp_path_factory.mktemp("planted")
    store = migrated_store(tmp / "mlflow.db")
    overrides = ["data=imagefolder", f"data.root={planted_folder(tmp / 'images')}", f"data.image_size={SIZE}",
                 "data.augment=[]", "data.num_workers=0", "data.batch_size=16", "trainer.max_epochs=6",
                 "trainer.enable_progress_bar=false", "tracking.explain_images=3", "tracking.log_model=false"]
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(CONFIG_NAME, overrides=overrides)
    with open_dict(cfg):
        cfg.run_dir, cfg.tracking.artifact_root = str(tmp / "run"), str(tmp / "artifacts")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", store)
        metrics = train(cfg)
    client = MlflowClient(store)
    (run,) = client.search_runs([client.get_experiment_by_name("classification").experiment_id])
    return store, client, run, metrics, tmp


def test_the_cam_of_a_planted_class_is_brightest_where_the_class_lives(planted_run) -> None:
    from cnnlab.explain.explainers import ExplainOptions, explain_class
    from cnnlab.tasks import restore_task
    from cnnlab.tracking.source import load_source_run

    store, client, run, metrics, tmp = planted_run
    assert metrics["test/acc"] == 1.0, metrics  # the square is easy: a model that missed it explains nothing
    source = load_source_run(client, run.info.run_id)
    task = restore_task("classification", source.checkpoint("best")).eval()
    image = np.asarray(Image.open(tmp / "images" / "marked" / "0.png"))
    explanation = explain_class(task, image, source.config["data"], ExplainOptions())
    heat = explanation.heat
    assert explanation.result["class"] == explanation.result["target"] == "marked"
    region = np.zeros_like(heat, dtype=bool)
    region[: SIZE // 2, : SIZE // 2] = True
    assert region[np.unravel_index(heat.argmax(), heat.shape)]
    assert heat[region].mean() > 2 * heat[~region].mean(), (heat[region].mean(), heat[~region].mean())


def test_every_classification_run_logs_its_filters_cams_and_feature_maps(planted_run) -> None:
    store, client, run, _, tmp = planted_run
    pictures = {a.path for a in client.list_artifacts(run.info.run_id, "explain")}
    assert pictures == {"explain/filters.png", "explain/cams.png", "explain/feature_maps.png"}
    summary = Path(client.download_artifacts(run.info.run_id, "model_summary.txt", str(tmp))).read_text()
    assert "features.0    Conv2d     32×32×32" in summary and "features.5    MaxPool2d  8×8×64" in summary


def test_explain_writes_the_overlay_the_feature_maps_and_a_json_line_and_keeps_the_rest(planted_run, capfd,
                                                                                      tmp_path: Path) -> None:
    store, client, run, _, tmp = planted_run
    images = tmp / "images" / "marked"
    odd = tmp_path / "a (copy) é.png"
    odd.write_bytes((images / "1.png").read_bytes())
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    result = cli(capfd, "explain", run.info.run_id, str(images / "1.png"), str(broken), str(odd),
                 "--method", "gradcam++", "--out-dir", str(tmp_path / "explain"), store=store)  # fmt: skip
    assert result.returncode == 1 and "broken.png: cannot read image" in result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(line["input"]).name for line in lines] == ["1.png", odd.name]
    for line in lines:
        assert line["method"] == "gradcam++" and line["layer"] == "features.3" and line["class"] == "marked"
        assert Image.open(line["overlay"]).size == (SIZE, SIZE)
        assert Image.open(line["feature_maps"]).format == "PNG"
    (explained,) = client.search_runs([run.info.experiment_id], f"tags.`cnnlab.explains` = '{run.info.run_id}'")
    logged = {Path(a.path).name for a in client.list_artifacts(explained.info.run_id, "explain")}
    assert {"explanations.jsonl", "1_cam.png", "1_features.png"} <= logged


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--layer", "features.9"], "--layer features.9: the network has no such layer; e.g."),
     (["--target", "dog"], "--target dog is not a class of this run; classes: blank, marked")],
)  # fmt: skip
def test_a_bad_layer_or_target_is_one_line_before_any_run(planted_run, capfd, tmp_path: Path, args, message) -> None:
    store, client, run, _, tmp = planted_run
    runs = len(client.search_runs([run.info.experiment_id]))
    result = cli(capfd, "explain", run.info.run_id, str(tmp / "images" / "blank" / "0.png"), *args,
                 "--out-dir", str(tmp_path), store=store)  # fmt: skip
    assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr
    assert len(client.search_runs([run.info.experiment_id])) == runs and not list(tmp_path.iterdir())
