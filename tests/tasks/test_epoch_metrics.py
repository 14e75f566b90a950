"""Metrics that are not means of per-sample values (macro F1, per-class accuracy) are computed over the whole
epoch, never averaged over batches; a class absent from the test split has no per-class metric (not 0); class
names MLflow refuses in metric keys are made safe, the mapping kept."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
from sklearn.metrics import f1_score
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from cnnlab.tasks import build_task
from cnnlab.tasks.base import metric_key_names


def task_for(class_names: list[str]):
    task = build_task(
        {"name": "classification"}, backbone={"name": "simple_cnn", "filters": [4], "fc_width": 8},
        optimizer={"name": "adam", "lr": 1e-3}, scheduler={"name": "none"},
        data_facts={"num_classes": len(class_names), "class_names": class_names, "in_channels": 1,
                    "image_size": (4, 4), "normalize": {"mean": [0.0], "std": [1.0]}},
    )  # fmt: skip
    task.net = nn.Identity()  # the "images" below are the logits themselves
    return task


def test_macro_f1_is_over_the_epoch_not_a_mean_of_batches(tmp_path: Path) -> None:
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(3).repeat_interleave(20)  # ordered by class: each batch of 20 holds one class
    logits = torch.randn(60, 3, generator=generator) + 1.5 * nn.functional.one_hot(labels, 3)
    task = task_for(["a", "b", "c"])
    trainer = pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False,
                         default_root_dir=tmp_path)  # fmt: skip
    metrics = trainer.test(task, DataLoader(TensorDataset(logits, labels), batch_size=20), verbose=False)[0]
    expected = f1_score(labels.numpy(), logits.argmax(1).numpy(), average="macro")
    assert abs(metrics["test/f1"] - expected) < 1e-6
    assert abs(metrics["test/acc"] - (logits.argmax(1) == labels).float().mean().item()) < 1e-6


def test_a_class_absent_from_the_test_split_has_no_accuracy(tmp_path: Path) -> None:
    labels = torch.tensor([0, 0, 1, 1])  # no sample of class "c"
    logits = nn.functional.one_hot(labels, 3).float()
    task = task_for(["a", "b", "dog (small)"])
    trainer = pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False,
                         default_root_dir=tmp_path)  # fmt: skip
    metrics = trainer.test(task, DataLoader(TensorDataset(logits, labels), batch_size=4), verbose=False)[0]
    per_class = {k: v for k, v in metrics.items() if "acc_per_class" in k}
    assert per_class == {"test/acc_per_class/a": 1.0, "test/acc_per_class/b": 1.0}
    assert "dog (small)\tdog _small_" in task.pop_texts()["classes.tsv"]


def test_metric_keys_are_safe_and_distinct() -> None:
    names = ["dog (small)", "bow_(weapon)", "a/b", "..", "", "dog _small_", "chien ü"]
    keys = metric_key_names(names)
    assert len(set(keys)) == len(keys)
    assert all(k and k.strip(".") and "/" not in k and "(" not in k for k in keys)
    assert keys[-1] == "chien ü"  # letters of any script are allowed
