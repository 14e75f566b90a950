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
    explained = result.stderr.split("(run ")[1].split(")")[0]
    assert client.get_run(explained).data.tags["cnnlab.explains"] == run.info.run_id
    logged = {Path(a.path).name for a in client.list_artifacts(explained, "explain")}
    assert {"explanations.jsonl", "1_cam.png", "1_features.png"} <= logged


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--layer", "features.9"], "--layer features.9: the network has no such layer; e.g."),
     (["--layer", "classifier.4"], "--layer classifier.4 (Linear) does not output feature maps (N×C×H×W), which a "
                                   "CAM needs; name a convolution stage, e.g. features.0, features.3"),
     (["--layer", ""], "--layer is empty; name a layer, e.g. features.0, features.3"),
     (["--target", "dog"], "--target dog is not a class of this run; classes: blank, marked"),
     (["--channels", "100000"], "--channels must be 1 to 128"),
     (["--encoding", "latin-1"], "--encoding reads the text files of a text run; this classification run reads "
                                 "images: leave it out")],
)  # fmt: skip
def test_a_bad_layer_or_target_is_one_line_before_any_run(planted_run, capfd, tmp_path: Path, args, message) -> None:
    store, client, run, _, tmp = planted_run
    runs = len(client.search_runs([run.info.experiment_id]))
    result = cli(capfd, "explain", run.info.run_id, str(tmp / "images" / "blank" / "0.png"), *args,
                 "--out-dir", str(tmp_path), store=store)  # fmt: skip
    assert result.returncode in (1, 2) and message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert len(client.search_runs([run.info.experiment_id])) == runs and not list(tmp_path.iterdir())


def explain_runs(client: MlflowClient, run) -> list:
    return client.search_runs([run.info.experiment_id], f"tags.`cnnlab.explains` = '{run.info.run_id}'")


def test_every_input_is_explained_under_a_short_visible_name_without_a_progress_bar(planted_run, capfd,
                                                                                    tmp_path: Path) -> None:
    store, client, run, _, tmp = planted_run
    image = (tmp / "images" / "marked" / "1.png").read_bytes()
    long_one, long_two, hidden = tmp_path / f"{'a' * 240}1.png", tmp_path / f"{'a' * 240}2.png", tmp_path / ".h.png"
    for path in (long_one, long_two, hidden):
        path.write_bytes(image)
    result = cli(capfd, "explain", run.info.run_id, str(long_one), str(long_two), str(hidden), "--method", "scorecam",
                 "--out-dir", str(tmp_path / "explain"), store=store)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(result.stderr.splitlines()) == 1 and "%|" not in result.stderr  # no tqdm bar of grad-cam's
    overlays = [Path(json.loads(line)["overlay"]).name for line in result.stdout.splitlines()]
    assert len(set(overlays)) == 3 and all(len(name) < 120 for name in overlays), overlays
    assert overlays[2] == "h_cam.png" and overlays[0].startswith("a" * 80)


def test_a_call_with_no_readable_input_makes_no_run_and_no_folder(planted_run, capfd, tmp_path: Path) -> None:
    store, client, run, _, tmp = planted_run
    (tmp_path / "folder").mkdir()
    (tmp_path / "dangling.png").symlink_to(tmp_path / "gone.png")
    (tmp_path / "empty.png").write_bytes(b"")
    out_dir = tmp_path / "explain"
    inputs = [str(tmp_path / name) for name in ("folder", "dangling.png", "empty.png")]
    runs = len(explain_runs(client, run))
    result = cli(capfd, "explain", run.info.run_id, *inputs, "--out-dir", str(out_dir), store=store)
    assert result.returncode == 1 and len(result.stderr.splitlines()) == 3, result.stderr
    assert f"cnnlab: error: {tmp_path / 'folder'} is a folder; pass the files in it" in result.stderr
    assert len(explain_runs(client, run)) == runs and not out_dir.exists()


def test_a_call_that_explained_nothing_ends_its_run_failed(planted_run, capfd, tmp_path: Path, monkeypatch) -> None:
    from cnnlab.errors import CnnlabError
    from cnnlab.explain.explainers import EXPLAINERS

    def refuse(*_args) -> None:
        raise CnnlabError("nothing to see")

    monkeypatch.setattr(EXPLAINERS, "get", lambda _name: refuse)
    store, client, run, _, tmp = planted_run
    result = cli(capfd, "explain", run.info.run_id, str(tmp / "images" / "blank" / "0.png"),
                 "--out-dir", str(tmp_path), store=store)  # fmt: skip
    assert result.returncode == 1 and "cnnlab: error: nothing to see" in result.stderr, result.stderr
    failed = result.stderr.split("no input could be explained; run ")[1].split()[0]
    assert client.get_run(failed).info.status == "FAILED" and not list(tmp_path.iterdir())


@pytest.mark.parametrize("out_dir", ["a_file/sub", "a_file", "/proc/nope"])
def test_an_out_dir_that_cannot_be_made_is_one_line_before_any_run(planted_run, capfd, tmp_path: Path,
                                                                    monkeypatch, out_dir: str) -> None:
    store, client, run, _, tmp = planted_run
    monkeypatch.chdir(tmp_path)
    Path("a_file").write_text("x")
    runs = len(client.search_runs([run.info.experiment_id]))
    result = cli(capfd, "explain", run.info.run_id, str(tmp / "images" / "blank" / "0.png"), "--out-dir", out_dir,
                 store=store)  # fmt: skip
    assert result.returncode == 1 and result.stderr.startswith(f"cnnlab: error: --out-dir {out_dir}")
    assert len(result.stderr.splitlines()) == 1 and "give a folder" in result.stderr
    assert len(client.search_runs([run.info.experiment_id])) == runs


def test_a_failed_run_or_an_explain_run_is_refused_naming_what_to_pass(planted_run, capfd, tmp_path: Path) -> None:
    from cnnlab.tracking.tags import EXPLAINS_TAG

    store, client, run, _, tmp = planted_run
    config = client.download_artifacts(run.info.run_id, "config.yaml", str(tmp_path))
    failed = client.create_run(run.info.experiment_id, tags={"cnnlab.command": "cnnlab train"}).info.run_id
    client.log_artifact(failed, config)
    client.set_terminated(failed, "FAILED")
    explain_run = client.create_run(run.info.experiment_id, tags={EXPLAINS_TAG: run.info.run_id}).info.run_id
    image = str(tmp / "images" / "blank" / "0.png")
    result = cli(capfd, "explain", failed, image, "--out-dir", str(tmp_path), store=store)
    assert result.stderr == (f"cnnlab: error: run {failed} ended FAILED before it saved a best checkpoint; explain a "
                             f"finished run, or resume it (cnnlab train resume={failed})\n")  # fmt: skip
    result = cli(capfd, "explain", explain_run, image, "--out-dir", str(tmp_path), store=store)
    assert result.returncode == 1 and f"is a `cnnlab explain` run of run {run.info.run_id}" in result.stderr
    for made in (failed, explain_run):
        client.delete_run(made)  # the module's other tests count this experiment's runs


def test_a_text_run_refuses_an_image_and_a_folder_and_image_options(tmp_path: Path) -> None:
    from cnnlab.errors import CnnlabError
    from cnnlab.explain.explainers import ExplainOptions, check_options
    from cnnlab.explain.inputs import read_inputs

    image, wide, folder = tmp_path / "x.png", tmp_path / "wide.txt", tmp_path / "folder"
    Image.new("RGB", (4, 4)).save(image)
    wide.write_text("a fine film\n", encoding="utf-16")
    folder.mkdir()
    (tmp_path / "blank.txt").write_text("\n", encoding="utf-16")
    found = read_inputs("text", None, [str(image), str(wide), str(folder), str(tmp_path / "blank.txt")], "utf-16")
    assert found[0].error == (f"{image} is not a text file (binary data, e.g. an image); a text run reads "
                              "sentences: give them as arguments or in a .txt file, one per line")  # fmt: skip
    assert (found[1].content, found[1].error) == ("a fine film", None)
    assert found[2].error.startswith(f"{folder} is a folder; pass the files in it")
    assert found[3].error == f"{tmp_path / 'blank.txt'} holds no sentence; give a file with one sentence per line"
    with pytest.raises(CnnlabError, match="^--channels: a text run has no feature maps to draw; leave it out$"):
        check_options("text", None, ExplainOptions(channels=4), None)


def test_feature_maps_are_drawn_no_wider_than_the_widest_stage() -> None:
    from cnnlab.explain.feature_maps import Stage, feature_map_figure

    stages = [Stage("features.0", "Conv2d", np.random.default_rng(0).random((4, 6, 6)))]
    widths = [feature_map_figure(stages, channels).get_size_inches()[0] for channels in (4, 100)]
    assert widths[0] == widths[1]
