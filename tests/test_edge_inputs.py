"""What an adversarial user found after the bad-input corpus: DDP evaluation on padded splits, one-class data,
paths that collide, resumes with nothing left to train, stores created by two processes at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab.data import build_data
from cnnlab.errors import CnnlabError
from cnnlab.resume import check_epochs_left
from cnnlab.tasks import build_task
from cnnlab.tracking.store import check_store
from tests.data.coco_files import write_coco

DIGITS = {"name": "digits", "batch_size": 16, "num_workers": 0, "image_size": None,
          "normalize": {"mean": [0.5], "std": [0.5]}}  # fmt: skip


def test_each_test_sample_is_evaluated_on_exactly_one_rank() -> None:
    data = build_data(DIGITS)
    data.setup()
    seen = []
    for rank in range(4):  # 270 test images: Lightning's sampler would pad them to 272
        data.trainer = SimpleNamespace(world_size=4, global_rank=rank, num_devices=4, accelerator=None)
        seen += [index for index in data.test_dataloader().sampler]
    assert sorted(seen) == list(range(len(data.splits.test)))


def test_a_last_training_batch_of_one_sample_is_dropped() -> None:
    data = build_data({**DIGITS, "batch_size": 1256})  # 1257 training images: 1256 + 1
    data.setup()
    assert len(data.train_dataloader()) == 1


def test_data_with_one_class_is_one_line(tmp_path: Path) -> None:
    for i in range(4):
        (tmp_path / "only" / "cat").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((8, 8, 3), 9 * i, np.uint8)).save(tmp_path / "only" / "cat" / f"{i}.png")
    data = build_data({**DIGITS, "name": "imagefolder", "root": str(tmp_path / "only"), "image_size": 8,
                       "batch_size": 1, "normalize": {"mean": [0.5] * 3, "std": [0.5] * 3},
                       "val_fraction": 0.25, "test_fraction": 0.25})  # fmt: skip
    with pytest.raises(CnnlabError, match=r"the data has 1 class\(es\) \(cat\); task=classification needs at least 2"):
        build_task({"name": "classification"}, backbone={"name": "simple_cnn"}, optimizer={"name": "adam", "lr": 1e-3},
                   scheduler={"name": "none"}, data_facts=data.facts())  # fmt: skip


def test_images_sharing_a_stem_are_named(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for name in ("0.png", "0.jpg", "1.png"):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "images" / name)
    for stem in ("0", "1"):
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "masks" / f"{stem}.png")
    data = build_data({"name": "masks", "root": str(tmp_path), "class_names": ["bg", "a"], "batch_size": 1,
                       "normalize": {"mean": [0.5] * 3, "std": [0.5] * 3}})  # fmt: skip
    with pytest.raises(CnnlabError, match="share the stem '0'"):
        data.setup()


def test_one_file_for_two_text_classes_is_named(tmp_path: Path) -> None:
    (tmp_path / "all.txt").write_text("a film\n")
    with pytest.raises(CnnlabError, match="two classes name the same file"):
        build_data({"name": "text_lines", "train": {"neg": str(tmp_path / "all.txt"), "pos": str(tmp_path / "all.txt")},
                    "batch_size": 2})  # fmt: skip


def test_two_coco_images_with_one_file_are_named(tmp_path: Path) -> None:
    path = write_coco(tmp_path, [], images=2)
    content = path.read_text().replace('"2.png"', '"1.png"')
    path.write_text(content)
    data = build_data({"name": "coco", "annotations": str(path), "images": str(tmp_path / "images"), "batch_size": 1,
                       "normalize": {"mean": [0.5] * 3, "std": [0.5] * 3}})  # fmt: skip
    with pytest.raises(CnnlabError, match="has the file_name '1.png' of image 1"):
        data.setup()


def test_a_finished_run_with_no_epoch_left_is_not_resumed(tmp_path: Path) -> None:
    checkpoint = tmp_path / "last.ckpt"
    torch.save({"epoch": 1}, checkpoint)  # the end of the 2nd epoch
    with pytest.raises(CnnlabError, match="has trained all its 2 epochs; .* trainer.max_epochs=4"):
        check_epochs_left("abc", checkpoint, max_epochs=2)
    check_epochs_left("abc", checkpoint, max_epochs=3)  # one to go


def test_two_processes_creating_one_store_both_get_it(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'new.db'}"
    probe = f"from cnnlab.tracking.store import check_store; check_store({uri!r}); print('ok')"
    both = [subprocess.Popen([sys.executable, "-c", probe], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]  # fmt: skip
    outcomes = [process.communicate(timeout=300) for process in both]
    assert [out.strip() for out, _ in outcomes] == ["ok", "ok"], [err[-1500:] for _, err in outcomes]


def test_a_store_in_a_folder_that_cannot_be_written_is_one_line(tmp_path: Path, monkeypatch) -> None:
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if Path(path) == tmp_path else real_access(path, mode))
    with pytest.raises(CnnlabError, match="cannot write in .* \\(read-only\\)"):
        check_store(f"sqlite:///{tmp_path / 'mlflow.db'}")
