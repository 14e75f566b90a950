"""Each task's predictor turns raw files into JSON-ready results with the task's own pre-processing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab.errors import CnnlabError
from cnnlab.serving import predict
from cnnlab.tasks import build_task

OPTIMIZATION = {"optimizer": {"name": "adam", "lr": 1e-3}, "scheduler": {"name": "none"}}
NORMALIZE = {"mean": [0.5] * 3, "std": [0.25] * 3}


def write_images(folder: Path, sizes: list[tuple[int, int]]) -> list[str]:
    rng = np.random.default_rng(0)
    paths = []
    for i, (height, width) in enumerate(sizes):
        path = folder / f"image{i}.png"
        Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def test_segmentation_writes_a_mask_of_each_images_own_size(tmp_path: Path) -> None:
    task = build_task(
        {"name": "segmentation", "arch": "FPN"}, backbone={"name": "resnet18", "pretrained": False}, **OPTIMIZATION,
        data_facts={"num_classes": 3, "class_names": ["bg", "a", "b"], "in_channels": 3, "ignore_index": 255,
                    "normalize": NORMALIZE},
    )  # fmt: skip
    paths = write_images(tmp_path, [(40, 50), (64, 64)])  # 40x50 is padded to 64x64 for the network
    data = {"name": "masks", "root": str(tmp_path), "batch_size": 2, "normalize": NORMALIZE}
    results = predict("segmentation", task, paths, tmp_path / "masks", data)
    for path, result, size in zip(paths, results, [(40, 50), (64, 64)], strict=True):
        mask = np.asarray(Image.open(result["mask"]))
        assert result["input"] == path and mask.shape == size and mask.max() < 3
        assert sum(result["class_fractions"].values()) == pytest.approx(1.0)
    json.dumps(results)


def test_detection_reports_boxes_in_pixels_with_class_names(tmp_path: Path) -> None:
    torch.manual_seed(0)
    task = build_task(
        {"name": "detection", "arch": "fasterrcnn", "score_thresh": 0.0}, backbone={"name": "resnet18"},
        **OPTIMIZATION, data_facts={"num_classes": 2, "class_names": ["cat", "dog"], "category_ids": [1, 2],
                                    "normalize": NORMALIZE},
    )  # fmt: skip
    paths = write_images(tmp_path, [(80, 100)])
    data = {"name": "coco", "annotations": "a.json", "images": str(tmp_path), "batch_size": 2, "normalize": NORMALIZE}
    (result,) = predict("detection", task, paths, tmp_path, data)
    assert result["input"] == paths[0] and result["detections"]
    for detection in result["detections"]:
        x0, y0, x1, y1 = detection["box"]
        assert 0 <= x0 <= x1 <= 100 and 0 <= y0 <= y1 <= 80 and detection["class"] in ("cat", "dog")
    json.dumps(result)


def test_inputs_with_one_name_get_masks_of_their_own(tmp_path: Path) -> None:
    task = build_task(
        {"name": "segmentation", "arch": "FPN"}, backbone={"name": "resnet18", "pretrained": False}, **OPTIMIZATION,
        data_facts={"num_classes": 2, "class_names": ["bg", "a"], "in_channels": 3, "ignore_index": 255,
                    "normalize": NORMALIZE},
    )  # fmt: skip
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = write_images(tmp_path / "a", [(32, 32)])
    second = write_images(tmp_path / "b", [(32, 32)])
    data = {"name": "masks", "root": str(tmp_path), "batch_size": 2, "normalize": NORMALIZE}
    results = predict("segmentation", task, first + second, tmp_path / "masks", data)
    assert len({r["mask"] for r in results}) == 2 and all(Path(r["mask"]).is_file() for r in results)


def test_an_unreadable_input_costs_the_others_nothing(tmp_path: Path) -> None:
    task = build_task(
        {"name": "segmentation", "arch": "FPN"}, backbone={"name": "resnet18", "pretrained": False}, **OPTIMIZATION,
        data_facts={"num_classes": 2, "class_names": ["bg", "a"], "in_channels": 3, "ignore_index": 255,
                    "normalize": NORMALIZE},
    )  # fmt: skip
    good = write_images(tmp_path, [(32, 32), (32, 32)])
    broken = tmp_path / "broken.png"
    broken.write_bytes(Path(good[0]).read_bytes()[:40])
    data = {"name": "masks", "root": str(tmp_path), "batch_size": 2, "normalize": NORMALIZE}
    results = predict("segmentation", task, [good[0], str(broken), good[1]], tmp_path / "masks", data)
    assert [r["input"] for r in results] == [good[0], str(broken), good[1]]
    assert "mask" in results[0] and "mask" in results[2] and "broken.png" in results[1]["error"]
    with pytest.raises(CnnlabError, match="broken.png"):
        predict("segmentation", task, [good[0], str(broken)], tmp_path / "masks", data, on_bad_input="fail")


def test_a_text_file_in_another_encoding_is_one_line_naming_it(tmp_path: Path) -> None:
    task = build_task(
        {"name": "text"}, backbone={"name": "textcnn", "embedding_dim": 8, "maps": 4}, **OPTIMIZATION,
        data_facts={"num_classes": 2, "class_names": ["neg", "pos"], "vocabulary": ["<pad>", "<unk>", "film"],
                    "tokenizer": {}, "max_length": None},
    )  # fmt: skip
    sentences = tmp_path / "reviews.txt"
    sentences.write_bytes("a fine film\nun caf\u00e9 noir\n".encode("latin-1"))
    (result,) = predict("text", task, [str(sentences)], tmp_path, {})
    assert f"{sentences}:2: not valid utf-8" in result["error"]
    read = predict("text", task, [str(sentences)], tmp_path, {}, encoding="iso-8859-1")
    assert [r["input"] for r in read] == ["a fine film", "un caf\u00e9 noir"]


def test_text_inputs_that_name_missing_files_or_nothing_are_errors(tmp_path: Path) -> None:
    task = build_task(
        {"name": "text"}, backbone={"name": "textcnn", "embedding_dim": 8, "maps": 4}, **OPTIMIZATION,
        data_facts={"num_classes": 2, "class_names": ["neg", "pos"], "vocabulary": ["<pad>", "<unk>", "film"],
                    "tokenizer": {}, "max_length": None},
    )  # fmt: skip
    image, folder = tmp_path / "photo.jpg", tmp_path / "reviews"
    Image.new("RGB", (4, 4)).save(image)
    folder.mkdir()
    inputs = [str(tmp_path / "nosuch.txt"), "", "a fine film", str(image), str(folder)]
    results = predict("text", task, inputs, tmp_path, {})
    assert "nosuch.txt: no such file" in results[0]["error"] and "empty sentence" in results[1]["error"]
    assert results[2]["class"] in ("neg", "pos")
    assert results[3]["error"].startswith(f"{image} is not a text file (binary data, e.g. an image)")
    assert results[4]["error"].startswith(f"{folder} is a folder; pass the files in it")


def test_output_paths_are_checked_before_any_prediction(tmp_path: Path) -> None:
    from cnnlab.commands.predict import check_writable

    with pytest.raises(CnnlabError, match="is a folder"):
        check_writable(str(tmp_path), str(tmp_path / "masks"))
    with pytest.raises(CnnlabError, match="cannot write in"):
        check_writable(str(tmp_path / "no" / "such" / "out.jsonl"), str(tmp_path / "masks"))
    (tmp_path / "afile").write_text("")
    with pytest.raises(CnnlabError, match="is a file"):
        check_writable(None, str(tmp_path / "afile"))


def test_masks_of_an_earlier_call_are_never_overwritten(tmp_path: Path) -> None:
    from cnnlab.serving.predictors import distinct_stems

    (tmp_path / "x_mask.png").write_bytes(b"earlier")
    assert distinct_stems(["a/x.png", "b/x.png", "y.png"], tmp_path) == ["x-2", "x-3", "y"]
