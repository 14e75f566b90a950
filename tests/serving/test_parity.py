"""Every task of the registry trained, restored, predicted and exported. `cnnlab predict` on the files of a run's
test split gives what the test step computes on the same images: one pre-processing, owned by the data, for
evaluation and prediction (detection once fed un-normalised pixels); `cnnlab export` files, run by their own
runtimes, give the same test metrics."""

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
from tests.conftest import FAST, cli, migrated_store

SMALL_SHAPES = ["data.num_train=16", "data.num_val=8", "data.num_test=8", "data.batch_size=4"]
RECIPES = {
    "classification": ["task=classification", "tracking.export=[onnx]"],
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


# Every task in every format would cost the suite a minute: each format is exported for at least one task, each
# task in at least one format, and scripts/bench_export.py runs the whole matrix.
EXPORTS = {"classification": ["pt2"], "text": ["onnx", "torchscript"], "segmentation": ["pt2"],
           "detection": ["onnx"]}  # fmt: skip


@pytest.mark.parametrize("name", RECIPES)
def test_every_task_exports_and_the_file_agrees_with_pytorch_on_the_test_split(trained, name: str,
                                                                               tmp_path: Path) -> None:
    """`cnnlab export` writes each format's file and manifest, runs the file on the test split and logs its
    metrics beside their delta from PyTorch; classification also exported itself at the end of its training
    (tracking.export=[onnx])."""
    store, runs = trained
    run_id, _ = runs[name]
    assert cli_export(store, run_id, "--format", *EXPORTS[name], "--output", str(tmp_path)) == 0
    client = MlflowClient(store)
    metrics = client.get_run(run_id).data.metrics
    formats = EXPORTS[name] + (["onnx"] if name == "classification" else [])
    key = {"segmentation": "miou", "detection": "map_50"}.get(name, "acc")
    for fmt in formats:
        assert abs(metrics[f"export/{fmt}/{key}_delta"]) <= 0.001 and f"export/{fmt}/{key}" in metrics
        logged = {Path(f.path).name for f in client.list_artifacts(run_id, f"export/{fmt}")}
        file_name = {"onnx": "model.onnx", "torchscript": "model.pt", "pt2": "model.pt2"}[fmt]
        assert {file_name, "cnnlab-export.json"} <= logged
    manifest = json.loads((tmp_path / EXPORTS[name][0] / "cnnlab-export.json").read_text())
    _, task, _ = source(store, runs[name][1])
    assert manifest["run_id"] == run_id and manifest["class_names"] == task.class_names
    if name == "text":
        assert (tmp_path / "onnx" / "vocabulary.txt").read_text().split("\n")[:-1] == task.vocabulary.tokens


def cli_export(store: str, *args: str) -> int:
    from cnnlab.commands import export

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", store)
        return export.main(list(args))


def exported(name: str, task, data, fmt: str, folder: Path):
    """(the spec, the exported file run by its runtime) for a restored task."""
    from cnnlab.serving.exported import EXPORT_SPECS
    from cnnlab.serving.formats import FORMATS

    spec = EXPORT_SPECS.get(name)(task, {})
    path = folder / FORMATS.get(fmt).file_name
    FORMATS.get(fmt).save(spec, spec.example(data.test_dataloader()), path, "{}")
    return spec, FORMATS.get(fmt).load(path)


def test_the_exported_text_model_takes_sentences_of_any_length(trained, tmp_path: Path) -> None:
    store, runs = trained
    _, task, data = source(store, runs["text"][1])
    spec, run_onnx = exported("text", task, data, "onnx", tmp_path)
    for length in (1, 2, 37):
        ids = torch.randint(2, len(task.vocabulary), (3, length))
        (probabilities,) = run_onnx(ids)
        assert torch.allclose(probabilities, task.predict_step(ids, 0), atol=1e-5)


def test_the_exported_segmentation_model_takes_other_sizes(trained, tmp_path: Path) -> None:
    store, runs = trained
    _, task, data = source(store, runs["segmentation"][1])
    spec, run_pt2 = exported("segmentation", task, data, "pt2", tmp_path)
    pixels = torch.randint(0, 256, (1, 3, 64, 96), dtype=torch.uint8)
    with torch.no_grad():
        assert torch.equal(run_pt2(pixels)[0], spec.module(pixels))


def test_an_exported_detector_answers_an_image_without_detections(trained, tmp_path: Path) -> None:
    """torchvision's exported detectors used to fail on an image where nothing passes the score threshold."""
    store, runs = trained
    _, task, data = source(store, runs["detection"][1])
    task.net.roi_heads.score_thresh = 1.01  # nothing can pass
    spec, run_onnx = exported("detection", task, data, "onnx", tmp_path)
    boxes, scores, labels = run_onnx(torch.zeros(3, 80, 64, dtype=torch.uint8))
    assert boxes.shape == (0, 4) and scores.shape == (0,) and labels.shape == (0,)


def test_the_scripted_detector_finds_what_eager_finds_at_any_image_size(trained, tmp_path: Path) -> None:
    """Scripted, torchvision computes its resize scale in float32 and shrank a 300x200 image 1 px more than eager."""
    store, runs = trained
    _, task, data = source(store, runs["detection"][1])
    spec, run_script = exported("detection", task, data, "torchscript", tmp_path)
    image = torch.randint(0, 256, (3, 200, 300), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    with torch.no_grad():
        expected = spec.module(image)
    assert len(expected[0]) > 0
    for ours, theirs in zip(run_script(image), expected, strict=True):
        assert ours.shape == theirs.shape and torch.allclose(ours.float(), theirs.float(), atol=1e-4)


def test_an_export_that_disagrees_with_pytorch_fails_and_logs_nothing(trained, tmp_path: Path, capfd,
                                                                      monkeypatch) -> None:
    from dataclasses import replace

    from cnnlab.serving.formats import FORMATS

    store, runs = trained
    run_id, _ = runs["segmentation"]  # exported as torchscript by no other test that logs
    real = FORMATS.get("torchscript")
    classes = len(source(store, runs["segmentation"][1])[1].class_names)

    def shifted(path: Path):  # an exporter that gets every pixel's class wrong
        run = real.load(path)
        return lambda *inputs: ((run(*inputs)[0] + 1) % classes,)

    monkeypatch.setitem(FORMATS._entries, "torchscript", replace(real, load=shifted))
    result = cli(capfd, "export", run_id, "--format", "torchscript", "--output", str(tmp_path), store=store)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"cnnlab: error: the torchscript export of run {run_id} disagrees with PyTorch on the test")
    client = MlflowClient(store)
    assert not [key for key in client.get_run(run_id).data.metrics if key.startswith("export/torchscript/")]
    assert not client.list_artifacts(run_id, "export/torchscript")


def test_an_export_folder_of_another_run_is_refused(trained, tmp_path: Path, capfd) -> None:
    store, runs = trained
    cli(capfd, "export", runs["text"][0], "--format", "pt2", "--output", str(tmp_path), store=store)
    result = cli(capfd, "export", runs["classification"][0], "--format", "pt2", "--output", str(tmp_path),
                 store=store)  # fmt: skip
    assert result.returncode == 1
    assert f"holds the export of run {runs['text'][0]}" in result.stderr


def test_exporting_a_run_without_a_checkpoint_is_one_line(trained, tmp_path: Path, capfd) -> None:
    store, runs = trained
    client = MlflowClient(store)
    loaded, _, _ = source(store, runs["text"][1])
    run_id = client.create_run(runs["text"][1].info.experiment_id).info.run_id
    client.log_text(run_id, yaml.safe_dump({**loaded.config, "run_dir": str(tmp_path / "gone")}), "config.yaml")
    client.set_terminated(run_id)
    result = cli(capfd, "export", run_id, "--output", str(tmp_path / "export"), store=store)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"cnnlab: error: run {run_id} has no best checkpoint: not at {tmp_path / 'gone'}/checkpoints/best.ckpt, and "
        "none was logged as an artifact (tracking.log_checkpoint=true logs it)"
    ]
    assert not (tmp_path / "export").exists()


@pytest.mark.parametrize("name", TASKS.names())
def test_explain_answers_every_task_with_pictures_and_a_json_line(trained, name: str, tmp_path: Path, capfd) -> None:
    """`cnnlab explain` on a trained run of each task: per input a CAM overlay (text: its winning n-grams), the
    stage feature maps (images) and a JSON line naming the class, the target and the layer."""
    store, runs = trained
    run_id, run = runs[name]
    _, task, data = source(store, run)
    inputs = inputs_of(name, data, tmp_path)[:2]
    result = cli(capfd, "explain", run_id, *inputs, "--out-dir", str(tmp_path / "explain"), store=store)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == len(inputs) and all(line["target"] in task.class_names for line in lines)
    for line in lines:
        assert Image.open(line["overlay"]).format == "PNG"
        if name == "text":
            assert line["windows"] and all(len(w["ngram"].split()) == w["window"] for w in line["windows"])
        else:
            assert Image.open(line["feature_maps"]).format == "PNG" and line["layer"]
