"""The bad-input corpus: each kind of broken data or setting, through `cnnlab train` (in this process, for speed),
ends in one `cnnlab: error:` line naming the file or setting, a non-zero exit, no traceback, and, when a run had
started, that run FAILED with the message as its cnnlab.error tag. A grayscale image among RGB ones is converted,
and data.on_bad_sample=skip trains past unreadable images, counting them in MLflow."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient
from PIL import Image

from cnnlab.cli import main
from tests.conftest import write_image_folder

ONE_EPOCH = ["trainer.max_epochs=1", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
             "tracking.log_model=false", "+trainer.num_sanity_val_steps=0", "tracking.explain_images=0"]  # fmt: skip
IMAGES = ["data=imagefolder", "data.image_size=16", "data.batch_size=4", "data.num_workers=0"]


def run_train(tmp_path: Path, capfd: pytest.CaptureFixture, *overrides: str) -> tuple[int, str]:
    """`cnnlab train OVERRIDES` as the CLI runs it; returns the exit status and what went to stderr."""
    args = ["train", f"hydra.run.dir={tmp_path / 'hydra'}", *ONE_EPOCH, *overrides]
    if not any(o.startswith("run_dir=") for o in overrides):
        args.append(f"run_dir={tmp_path / 'run'}")
    capfd.readouterr()
    try:
        status = main(args)
    except SystemExit as stop:
        status = stop.code
    return status, capfd.readouterr().err


def image_folder(tmp_path: Path) -> Path:
    return write_image_folder(tmp_path / "images", {"dark": 6, "mid": 6, "bright": 6}, size=20)


def truncated_jpeg(tmp_path: Path) -> list[str]:
    root = image_folder(tmp_path)
    pixels = np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)
    Image.fromarray(pixels).save(root / "mid" / "broken.jpg", quality=95)
    data = (root / "mid" / "broken.jpg").read_bytes()
    (root / "mid" / "broken.jpg").write_bytes(data[: len(data) // 3])
    return [*IMAGES, f"data.root={root}"]


def not_an_image(tmp_path: Path) -> list[str]:
    root = image_folder(tmp_path)
    (root / "dark" / "notes.png").write_text("these are my notes, not pixels\n")
    return [*IMAGES, f"data.root={root}"]


def empty_class_folder(tmp_path: Path) -> list[str]:
    root = image_folder(tmp_path)
    (root / "unlabelled").mkdir()
    return [*IMAGES, f"data.root={root}"]


def empty_dataset(tmp_path: Path) -> list[str]:
    (tmp_path / "images").mkdir()
    return [*IMAGES, f"data.root={tmp_path / 'images'}"]


def mask_folder(tmp_path: Path, broken: Callable[[np.ndarray], np.ndarray]) -> list[str]:
    root = tmp_path / "masks_data"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(8):
        mask = np.zeros((32, 32), np.uint8)
        mask[4:20, 4 + i : 20 + i] = 1
        mask = broken(mask) if i == 0 else mask
        Image.fromarray(np.full((32, 32, 3), 60, np.uint8)).save(root / "images" / f"{i}.png")
        Image.fromarray(mask).save(root / "masks" / f"{i}.png")
    (root / "classes.txt").write_text("background\nsquare\n")
    return ["task=segmentation", "data=masks", f"data.root={root}", "data.crop_size=null", "data.batch_size=2",
            "data.num_workers=0"]  # fmt: skip


def coco(tmp_path: Path, annotation: dict | None = None, text: str | None = None) -> list[str]:
    images = tmp_path / "coco_images"
    images.mkdir()
    listed = []
    for i in range(1, 7):
        Image.fromarray(np.full((40, 48, 3), 90, np.uint8)).save(images / f"{i}.png")
        listed.append({"id": i, "file_name": f"{i}.png", "width": 48, "height": 40})
    good = [{"id": i, "image_id": i, "category_id": 1, "bbox": [5, 5, 20, 20], "area": 400, "iscrowd": 0}
            for i in range(1, 7)]  # fmt: skip
    path = tmp_path / "instances.json"
    content = {"images": listed, "annotations": [*good, {"id": 99, "iscrowd": 0, "area": 1, **(annotation or {})}],
               "categories": [{"id": 1, "name": "box"}]}  # fmt: skip
    path.write_text(text if text is not None else json.dumps(content))
    return ["task=detection", "data=coco", f"data.annotations={path}", f"data.images={images}",
            "data.image_size=64", "data.batch_size=2", "data.num_workers=0", "data.val_fraction=0.2",
            "data.test_fraction=0.2"]  # fmt: skip


def text_files(tmp_path: Path, train: bytes, val: bytes = b"pos a good film\n") -> list[str]:
    (tmp_path / "train.txt").write_bytes(train)
    (tmp_path / "val.txt").write_bytes(val)
    (tmp_path / "test.txt").write_bytes(b"neg a dull film\n")
    return ["task=text", "data=text_prefixed", f"data.train={tmp_path / 'train.txt'}",
            f"data.val={tmp_path / 'val.txt'}", f"data.test={tmp_path / 'test.txt'}", "data.batch_size=2",
            "backbone.embedding_dim=8", "backbone.maps=4"]  # fmt: skip


SENTENCES = b"pos a fine film\nneg a bad film\npos great acting\nneg poor plot\n"


def wrong_dimension_vectors(tmp_path: Path) -> list[str]:
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("film 0.1 0.2 0.3\ngood 0.3 0.2 0.1\n")  # 3 numbers per word; the backbone wants 8
    return [*text_files(tmp_path, SENTENCES), "backbone.mode=static", f"backbone.vectors={vectors}"]


def checkpoint_of(tmp_path: Path, payload: dict) -> Path:
    path = tmp_path / "other.ckpt"
    torch.save(payload, path)
    return path


class Payload:
    """A pickled object in a checkpoint: what weights_only loading must refuse."""

    def __reduce__(self):
        return (print, ("this would have run code",))


def pickled_checkpoint(tmp_path: Path) -> list[str]:
    path = tmp_path / "pickled.ckpt"
    with open(path, "wb") as out:
        torch.save({"state_dict": {}, "cnnlab_task": "classification", "extra": Payload()}, out, pickle_module=pickle)
    return [f"init_from={path}"]


# (id, overrides made from tmp_path, what the error line must contain, whether a run exists by then)
CASES = [
    ("truncated_jpeg", truncated_jpeg, "broken.jpg: cannot read image", True),
    ("not_an_image", not_an_image, "notes.png: cannot read image", True),
    ("empty_class_folder", empty_class_folder, "unlabelled", True),
    ("empty_dataset", empty_dataset, "has no class sub-folders", True),
    ("mask_wrong_size", lambda t: mask_folder(t, lambda m: m[:16]), "0.png: mask is 32x16 but its image is 32x32",
     True),
    ("mask_value_out_of_range", lambda t: mask_folder(t, lambda m: m * 5), "0.png: mask value 5 is outside", True),
    ("coco_not_json", lambda t: coco(t, text="{'images': oops"), "instances.json: not a COCO instances file", True),
    ("coco_box_outside_image", lambda t: coco(t, {"image_id": 1, "category_id": 1, "bbox": [60, 5, 9, 9]}),
     "annotation 99 box [60, 5, 9, 9] lies outside its 48x40 image", True),
    ("coco_zero_area_box", lambda t: coco(t, {"image_id": 1, "category_id": 1, "bbox": [5, 5, 0, 9]}),
     "annotation 99 has a box of size 0x9", True),
    ("coco_unknown_category", lambda t: coco(t, {"image_id": 1, "category_id": 5, "bbox": [5, 5, 9, 9]}),
     "annotation 99 has unknown category id 5", True),
    ("coco_annotation_for_missing_image", lambda t: coco(t, {"image_id": 77, "category_id": 1, "bbox": [5, 5, 9, 9]}),
     "annotation 99 refers to image 77", True),
    ("text_wrong_encoding", lambda t: text_files(t, SENTENCES + "pos caf\u00e9 au lait\n".encode("latin-1")),
     "train.txt:5: not valid utf-8", True),
    ("text_label_without_sentence", lambda t: text_files(t, SENTENCES + b"pos\n"), "train.txt:5: label 'pos'", True),
    ("text_unknown_label", lambda t: text_files(t, SENTENCES, val=b"pos a good film\nmeh an odd film\n"),
     "val.txt:2", True),
    ("vectors_wrong_dimension", wrong_dimension_vectors, "vectors.txt:1", True),
    ("unknown_backbone", lambda t: ["backbone=resnet9000"], "backbone=resnet9000 is not an option", False),
    ("incompatible_task_and_backbone", lambda t: ["task=segmentation", "backbone=lenet5", "data=shapes"],
     "backbone=lenet5", False),
    ("negative_learning_rate", lambda t: ["optimizer.lr=-0.01"], "optimizer.lr=-0.01 must be positive", False),
    ("unknown_setting", lambda t: ["+data.colour=blue"], "data.colour is not a setting of data=digits", False),
    ("batch_larger_than_dataset", lambda t: ["data.batch_size=5000"], "data.batch_size=5000 is larger than", True),
    ("run_dir_not_writable", lambda t: [f"run_dir={_write(t / 'a_file', b'')}/run"], "is not writable", False),
    ("checkpoint_from_another_task", lambda t: [f"init_from={checkpoint_of(t, {'cnnlab_task': 'detection'})}"],
     "was written by task=detection, but this run is task=classification", True),
    ("checkpoint_with_pickled_code", pickled_checkpoint, "refused: it holds pickled Python objects", True),
    ("checkpoint_missing", lambda t: [f"init_from={t / 'nope.ckpt'}"], "nope.ckpt: no such file", False),
]  # fmt: skip


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(("make", "expected", "run_started"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_ends_in_one_line(make, expected: str, run_started: bool, tmp_path: Path, store: str, capfd) -> None:
    status, stderr = run_train(tmp_path, capfd, *make(tmp_path))
    errors = [line for line in stderr.splitlines() if line.startswith("cnnlab: error:")]
    assert status not in (0, None) and len(errors) == 1, stderr[-3000:]
    assert expected in errors[0], errors[0]
    assert "Traceback" not in stderr and "this would have run code" not in stderr
    runs = MlflowClient(store).search_runs([e.experiment_id for e in MlflowClient(store).search_experiments()])
    if run_started:
        (run,) = runs
        assert run.info.status == "FAILED" and expected in run.data.tags["cnnlab.error"]
    else:
        assert runs == []


def test_there_are_at_least_twenty_kinds() -> None:
    assert len(CASES) >= 20


def test_grayscale_among_rgb_is_converted(tmp_path: Path, store: str, capfd) -> None:
    root = image_folder(tmp_path)
    Image.fromarray(np.full((20, 20), 128, np.uint8), mode="L").save(root / "mid" / "gray.png")
    status, stderr = run_train(tmp_path, capfd, *IMAGES, f"data.root={root}")
    assert status == 0, stderr[-3000:]


def test_skip_trains_past_unreadable_images_and_counts_them(tmp_path: Path, store: str, capfd) -> None:
    overrides = not_an_image(tmp_path)
    (Path(overrides[-1].split("=", 1)[1]) / "bright" / "empty.png").write_bytes(b"")
    status, stderr = run_train(tmp_path, capfd, *overrides, "data.on_bad_sample=skip")
    assert status == 0, stderr[-3000:]
    client = MlflowClient(store)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert run.info.status == "FINISHED" and run.data.metrics["data/skipped_samples"] == 2
    listed = client.download_artifacts(run.info.run_id, "bad_samples.txt", str(tmp_path))
    assert sorted(Path(line.split(":")[0]).name for line in Path(listed).read_text().splitlines()) == [
        "empty.png", "notes.png"
    ]  # fmt: skip


def test_skip_drops_bad_coco_annotations(tmp_path: Path, store: str, capfd) -> None:
    overrides = coco(tmp_path, {"image_id": 1, "category_id": 1, "bbox": [5, 5, 0, 9]})
    status, stderr = run_train(tmp_path, capfd, *overrides, "data.on_bad_sample=skip", "+trainer.limit_train_batches=1")
    assert status == 0, stderr[-3000:]
    client = MlflowClient(store)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert run.data.metrics["data/skipped_samples"] == 1


def test_blank_text_lines_are_skipped_and_counted(tmp_path: Path, store: str, capfd) -> None:
    status, stderr = run_train(tmp_path, capfd, *text_files(tmp_path, SENTENCES.replace(b"neg poor", b"\nneg poor")))
    assert status == 0, stderr[-3000:]
    client = MlflowClient(store)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert run.data.metrics["data/skipped_samples"] == 1
    listed = Path(client.download_artifacts(run.info.run_id, "bad_samples.txt", str(tmp_path))).read_text()
    assert listed == f"{tmp_path / 'train.txt'}:4: blank line\n"
