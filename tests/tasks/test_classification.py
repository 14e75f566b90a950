"""ClassificationTask: heads, losses, metrics, checkpoints that load without Hydra."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from cnnlab.errors import CnnlabError
from cnnlab.tasks import ClassificationTask, build_task

BACKBONE = {"name": "simple_cnn", "pretrained": False, "weights_path": None, "filters": [8], "fc_width": 16}
OPTIMIZER = {"name": "adam", "lr": 1e-2}
FACTS = {"num_classes": 3, "class_names": ["a", "b", "c"], "in_channels": 1, "image_size": (8, 8)}
FACTS["normalize"] = {"mean": [0.0], "std": [1.0]}


def make_task(head: str = "multiclass", **facts) -> ClassificationTask:
    return build_task(
        {"name": "classification", "head": head, "label_smoothing": 0.0, "monitor": "val/acc", "monitor_mode": "max"},
        backbone=BACKBONE, optimizer=OPTIMIZER, scheduler={"name": "none"}, data_facts={**FACTS, **facts},
    )  # fmt: skip


def separable_loader(num_classes: int = 3, n: int = 48) -> DataLoader:
    """Images whose class is written in their brightness: learnable in a few steps."""
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % num_classes
    images = labels.float().view(-1, 1, 1, 1) + 0.1 * torch.randn(n, 1, 8, 8, generator=generator)
    return DataLoader(TensorDataset(images, labels), batch_size=16, shuffle=True)


def fit(task: ClassificationTask, loader: DataLoader, epochs: int, tmp_path: Path) -> pl.Trainer:
    trainer = pl.Trainer(
        max_epochs=epochs, logger=False, enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=tmp_path, deterministic=True,
    )  # fmt: skip
    trainer.fit(task, train_dataloaders=loader, val_dataloaders=loader)
    return trainer


@pytest.mark.parametrize(("head", "num_classes"), [("multiclass", 3), ("multilabel", 3), ("binary", 2)])
def test_each_head_learns_a_separable_problem(head: str, num_classes: int, tmp_path: Path) -> None:
    pl.seed_everything(0)
    names = [str(i) for i in range(num_classes)]
    task = make_task(head, num_classes=num_classes, class_names=names)
    loader = separable_loader(num_classes)
    trainer = fit(task, loader, epochs=15, tmp_path=tmp_path)
    assert trainer.callback_metrics["val/acc"] >= 0.95
    assert trainer.callback_metrics["train/loss_epoch"] < 0.3
    out = trainer.test(task, loader, verbose=False)[0]
    assert out["test/acc"] >= 0.95
    if head != "multilabel":
        assert set(task.pop_figures()) == {"confusion_matrix.png"}
        assert out[f"test/acc_per_class/{names[-1]}"] >= 0.9


def test_label_smoothing_changes_the_loss() -> None:
    logits, labels = torch.tensor([[4.0, 0.0, 0.0]]), torch.tensor([0])
    plain, smooth = make_task(), make_task()
    smooth.label_smoothing = 0.3
    assert smooth.loss(logits, labels) > plain.loss(logits, labels)


def test_binary_head_needs_two_classes() -> None:
    with pytest.raises(CnnlabError, match="task.head=binary needs 2 classes but the data has 3"):
        make_task("binary")
    with pytest.raises(CnnlabError, match="task.head=softmax is not valid"):
        make_task("softmax")


def test_checkpoint_loads_without_hydra(tmp_path: Path) -> None:
    pl.seed_everything(0)
    task = make_task()
    trainer = fit(task, separable_loader(), epochs=1, tmp_path=tmp_path)
    trainer.save_checkpoint(tmp_path / "task.ckpt")
    restored = ClassificationTask.load_from_checkpoint(tmp_path / "task.ckpt")
    images = torch.randn(4, 1, 8, 8)
    task.eval(), restored.eval()
    assert torch.allclose(task(images), restored(images))
    assert restored.hparams.class_names == ["a", "b", "c"]
    assert all(not isinstance(v, torch.nn.Module) for v in restored.hparams.values())
