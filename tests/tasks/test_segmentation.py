"""SegmentationTask: smp losses by name, binary and multiclass modes, IoU metrics, checkpoints without Hydra."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from cnnlab.errors import CnnlabError
from cnnlab.tasks import SegmentationTask, build_task

FACTS = {
    "num_classes": 3, "class_names": ["bg", "a", "b"], "in_channels": 3, "ignore_index": 255,
    "normalize": {"mean": [0.5] * 3, "std": [0.25] * 3},
}  # fmt: skip


def make_task(**task) -> SegmentationTask:
    settings = {"name": "segmentation", "arch": "FPN", "mode": "multiclass", "losses": {"dice": 1.0, "ce": 1.0}, **task}
    facts = {**FACTS, **task.pop("facts", {})} if "facts" in task else FACTS
    settings.pop("facts", None)
    return build_task(
        settings, backbone={"name": "resnet18", "pretrained": False}, optimizer={"name": "adam", "lr": 1e-3},
        scheduler={"name": "none"}, data_facts=facts,
    )  # fmt: skip


@pytest.mark.parametrize("losses", [{"dice": 1.0}, {"focal": 1.0}, {"jaccard": 1.0}, {"lovasz": 1.0}, {"ce": 0.5}])
@pytest.mark.parametrize("mode", ["multiclass", "binary"])
def test_every_loss_gives_a_finite_gradient(losses: dict, mode: str) -> None:
    facts = {**FACTS, "num_classes": 2, "class_names": ["bg", "fg"]} if mode == "binary" else FACTS
    task = make_task(mode=mode, losses=losses, facts=facts)
    logits = task(torch.randn(2, 3, 64, 64))
    masks = torch.randint(0, facts["num_classes"], (2, 64, 64))
    masks[:, :8] = 255  # unlabeled rows
    loss = task.loss(logits, masks)
    loss.backward()
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert logits.shape[1] == (1 if mode == "binary" else 3)


def test_ignored_pixels_do_not_change_the_loss() -> None:
    task = make_task(losses={"ce": 1.0, "dice": 1.0})
    logits = torch.randn(1, 3, 32, 32)
    masks = torch.randint(0, 3, (1, 32, 32))
    masks[:, :16] = 255
    other = masks.clone()
    logits_other = logits.clone()
    logits_other[:, :, :16] = torch.randn(1, 3, 16, 32)  # only where pixels are ignored
    assert torch.allclose(task.loss(logits, masks), task.loss(logits_other, other))


def test_bad_settings_are_named() -> None:
    with pytest.raises(CnnlabError, match="task.losses=hinge is not valid; use one of: dice, focal, jaccard"):
        make_task(losses={"hinge": 1.0})
    with pytest.raises(CnnlabError, match="task.mode=binary needs 2 classes"):
        make_task(mode="binary")


def test_metrics_ignore_unlabeled_pixels() -> None:
    task = make_task()
    metrics = task.stage_metrics("val")
    target = torch.tensor([[[0, 1], [2, 255]]])
    prediction = torch.tensor([[[0, 1], [2, 0]]])
    assert metrics(prediction, target)["val/miou"] == 1.0


def test_checkpoint_loads_without_hydra(tmp_path: Path) -> None:
    task = make_task()
    trainer = pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, max_epochs=0)
    trainer.strategy.connect(task)
    trainer.save_checkpoint(tmp_path / "seg.ckpt")
    restored = SegmentationTask.load_from_checkpoint(tmp_path / "seg.ckpt")
    images = torch.randn(1, 3, 64, 64)
    task.eval(), restored.eval()
    assert torch.allclose(task(images), restored(images))
    assert restored.hparams.arch == "FPN" and restored.hparams.class_names == ["bg", "a", "b"]
