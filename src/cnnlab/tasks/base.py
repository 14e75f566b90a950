"""BaseTask: what every task shares: optimizer and schedule, per-stage metrics, learning-rate logging, figures."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pytorch_lightning as pl
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn
from torchmetrics import MeanMetric, MetricCollection

from cnnlab.tasks.checkpoints import TASK_KEY
from cnnlab.tasks.optimization import build_optimizer, build_scheduler

STAGES = ("train", "val", "test")
MonitorMode = Literal["max", "min"]  # whether a larger task.monitor is better
UNSAFE_IN_KEYS = re.compile(r"[^\w.\- ]")  # MLflow metric keys allow these; "/" would nest the key


def metric_key_names(class_names: Sequence[str]) -> list[str]:
    """Each class name as it can appear in a metric key (`test/acc_per_class/<name>`): characters MLflow refuses
    (parentheses, slashes, ...) become "_", and names that would then collide or vanish get their index."""
    keys = []
    for index, name in enumerate(class_names):
        key = UNSAFE_IN_KEYS.sub("_", str(name)).strip()
        if not key.strip(".") or key in keys:
            key = f"{key or 'class'}-{index}"
        keys.append(key)
    return keys


def class_key_table(class_names: Sequence[str]) -> str:
    """TSV of index, class name and its metric key: how to read per-class metrics whose names had to change."""
    rows = zip(range(len(class_names)), class_names, metric_key_names(class_names), strict=True)
    return "index\tclass\tmetric_key\n" + "".join(f"{i}\t{name}\t{key}\n" for i, name, key in rows)


class BaseTask(pl.LightningModule):
    """Subclasses build their network and metrics in __init__ and implement the step; task_name is their name in
    the TASKS registry.

    Constructor arguments are plain data so that `save_hyperparameters()` stores only data and
    `Task.load_from_checkpoint(path)` rebuilds the task without Hydra.
    """

    min_classes = 2  # what the data must hold: one class is nothing to tell apart

    def __init__(
        self,
        *,
        optimizer: Mapping[str, Any],
        scheduler: Mapping[str, Any],
        monitor: str,
        monitor_mode: MonitorMode,
    ) -> None:
        super().__init__()
        self.optimizer_settings = dict(optimizer)
        self.scheduler_settings = dict(scheduler)
        self.monitor = monitor
        self.monitor_mode = monitor_mode
        self.mean_losses = nn.ModuleDict({stage: MeanMetric() for stage in ("val", "test")})
        self._pending_figures: dict[str, Figure] = {}
        self._pending_texts: dict[str, str] = {}

    @classmethod
    def restore(cls, checkpoint: str | Path) -> BaseTask:
        """This task from a checkpoint, on the CPU, without Hydra (tensors and plain data only: weights_only)."""
        return cls.load_from_checkpoint(checkpoint, map_location="cpu", weights_only=True)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[TASK_KEY] = self.task_name  # init_from refuses another task's checkpoint by this

    def use_speed_options(self, *, channels_last: bool = False, compile_mode: str | None = None) -> None:
        """channels_last: NHWC weights and image batches (faster convolutions with mixed precision on GPUs).
        compile_mode: torch.compile the network in place (its state_dict keys, hence checkpoints, unchanged)."""
        self.channels_last = channels_last
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        if compile_mode:
            self.net.compile(mode=None if compile_mode == "default" else compile_mode)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if getattr(self, "channels_last", False) and isinstance(batch, (tuple, list)) and batch:
            images = batch[0]
            if isinstance(images, Tensor) and images.ndim == 4:
                return (images.contiguous(memory_format=torch.channels_last), *batch[1:])
        return batch

    def set_metrics(self, metrics: MetricCollection) -> None:
        """One copy of `metrics` per stage, logged as train/<name>, val/<name>, test/<name>."""
        for stage in STAGES:
            setattr(self, f"{stage}_metrics", metrics.clone(prefix=f"{stage}/"))

    def stage_metrics(self, stage: str) -> MetricCollection:
        return getattr(self, f"{stage}_metrics")

    def log_mean_loss(self, stage: str, loss: Tensor, batch_size: int, prog_bar: bool = False) -> None:
        """<stage>/loss: the mean over every sample of the epoch, on all ranks together (Lightning's sync_dist
        would average the ranks' means, off when their shares differ by a sample)."""
        mean = self.mean_losses[stage]
        mean.update(loss.detach(), weight=batch_size)
        self.log(f"{stage}/loss", mean, on_step=False, on_epoch=True, prog_bar=prog_bar)

    def update_metrics(self, stage: str, predictions: Tensor, targets: Tensor) -> None:
        """Adds a batch to the stage's metrics, which are computed over the whole epoch and logged then.

        Logging each batch's value instead would average per-batch macro F1 (or IoU) over batches: wrong whenever a
        batch does not hold every class (splits ordered by class gave F1 0.44 for a true 0.74).
        """
        metrics = self.stage_metrics(stage)
        metrics.update(predictions, targets)
        self.log_dict(metrics, on_step=False, on_epoch=True)

    def configure_optimizers(self) -> Any:
        optimizer = build_optimizer(self.parameters(), self.optimizer_settings)
        steps_per_epoch = max(1, math.ceil(self.trainer.estimated_stepping_batches / max(1, self.trainer.max_epochs)))
        scheduler = build_scheduler(
            optimizer, self.scheduler_settings, max_epochs=self.trainer.max_epochs, steps_per_epoch=steps_per_epoch
        )
        return optimizer if scheduler is None else {"optimizer": optimizer, "lr_scheduler": scheduler}

    def on_train_epoch_start(self) -> None:
        self.log("train/lr", self.trainer.optimizers[0].param_groups[0]["lr"], on_step=False, on_epoch=True)

    def serving_network(self) -> nn.Module:
        """The network an MLflow model should hold: one batch tensor in, one tensor out."""
        return self.net

    # Input dimensions the served network accepts at any size: the batch (images keep their trained size).
    serving_dynamic_dims: tuple[int, ...] = (0,)

    def serving_example(self, batch: Any) -> Tensor:
        """Input for the logged model's signature and example, from one batch of the test loader."""
        return batch[0]

    def add_figure(self, artifact_file: str, figure: Figure) -> None:
        """Queues a figure for the tracker, which saves it after the current validation or test loop."""
        self._pending_figures[artifact_file] = figure

    def pop_figures(self) -> dict[str, Figure]:
        figures, self._pending_figures = self._pending_figures, {}
        return figures

    def add_text(self, artifact_file: str, text: str) -> None:
        """Queues a text file for the tracker, saved with the figures."""
        self._pending_texts[artifact_file] = text

    def pop_texts(self) -> dict[str, str]:
        texts, self._pending_texts = self._pending_texts, {}
        return texts
