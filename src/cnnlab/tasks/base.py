"""BaseTask: what every task shares: optimizer and schedule, per-stage metrics, figures."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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


@dataclass
class StepOutput:
    """What a task's step gives the shared skeleton: the loss (None where a task has none, e.g. a detector in eval
    mode), and predictions and targets for the stage's metrics (None: the task keeps its own)."""

    loss: Tensor | None
    predictions: Any = None
    targets: Any = None
    batch_size: int = 1
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
    encodes_with_vocabulary = False  # inputs are encoded with the task's own vocabulary (text), also on new data

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
        # keyed "<stage>_loss": a ModuleDict refuses "train", the name of nn.Module.train
        self.mean_losses = nn.ModuleDict({f"{stage}_loss": MeanMetric() for stage in STAGES})
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
            # on the network's input, not in a batch hook: the DataModule owns batch hooks (batch augmentation)
            self.net.register_forward_pre_hook(_channels_last_input)
        if compile_mode:
            self.net.compile(mode=None if compile_mode == "default" else compile_mode)

    def set_metrics(self, metrics: MetricCollection) -> None:
        """One copy of `metrics` per stage, logged as train/<name>, val/<name>, test/<name>."""
        for stage in STAGES:
            setattr(self, f"{stage}_metrics", metrics.clone(prefix=f"{stage}/"))

    def stage_metrics(self, stage: str) -> MetricCollection | None:
        return getattr(self, f"{stage}_metrics", None)

    # The skeleton every task shares: each step is the task's own `step(batch)`; the base logs the loss, feeds the
    # stage's metrics and logs them once per epoch (computed over the whole epoch, on all ranks together: a mean of
    # per-batch macro F1 or IoU is wrong whenever a batch lacks a class, and one self.log per epoch instead of
    # several per step is what keeps small models from waiting on Lightning's logging).

    def step(self, batch: Any) -> StepOutput:
        """The task's loss and, for its metrics, predictions and targets of one batch."""
        raise NotImplementedError

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        out = self.step(batch)
        self.log("train/loss", out.loss, on_step=True, on_epoch=False, prog_bar=True, batch_size=out.batch_size)
        self._accumulate("train", out)
        return out.loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        out = self.step(batch)
        self._accumulate("val", out)
        self.on_evaluated("val", batch, out, batch_idx)

    def test_step(self, batch: Any, batch_idx: int) -> None:
        out = self.step(batch)
        self._accumulate("test", out)
        self.on_evaluated("test", batch, out, batch_idx)

    def on_evaluated(self, stage: str, batch: Any, out: StepOutput, batch_idx: int) -> None:
        """After each val/test batch: what a task records beyond its metrics (confusion, overlays, examples)."""

    def report_test(self) -> None:
        """After the test epoch's metrics: per-class results and figures."""

    def on_train_epoch_end(self) -> None:
        self._log_epoch("train")

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val")

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")
        self.report_test()

    def _accumulate(self, stage: str, out: StepOutput) -> None:
        if out.loss is not None:
            self.mean_losses[f"{stage}_loss"].update(out.loss.detach(), weight=out.batch_size)
        metrics = self.stage_metrics(stage)
        if metrics is not None and out.predictions is not None:
            metrics.update(out.predictions, out.targets)

    def _log_epoch(self, stage: str) -> None:
        """<stage>/loss (train/loss_epoch) as the mean over every sample, and the stage's metrics, then reset."""
        values: dict[str, Tensor] = {}
        loss = self.mean_losses[f"{stage}_loss"]
        if loss.update_called:
            values["train/loss_epoch" if stage == "train" else f"{stage}/loss"] = loss.compute()
            loss.reset()
        metrics = self.stage_metrics(stage)
        if metrics is not None and any(metric.update_called for metric in metrics.values()):
            values.update(metrics.compute())
            metrics.reset()
        if values:  # already reduced over ranks by torchmetrics: the same on each
            self.log_dict(values, sync_dist=True, prog_bar=stage == "val")

    def configure_optimizers(self) -> Any:
        optimizer = build_optimizer(self.parameters(), self.optimizer_settings)
        steps_per_epoch = max(1, math.ceil(self.trainer.estimated_stepping_batches / max(1, self.trainer.max_epochs)))
        schedulers = build_scheduler(
            optimizer, self.scheduler_settings, max_epochs=self.trainer.max_epochs, steps_per_epoch=steps_per_epoch,
            monitor=self.monitor, monitor_mode=self.monitor_mode,
        )  # fmt: skip
        return [optimizer], schedulers

    @property
    def lr(self) -> float:
        """optimizer.lr: what Lightning's learning-rate finder reads and sets (before the optimizer is built)."""
        return self.optimizer_settings["lr"]

    @lr.setter
    def lr(self, value: float) -> None:
        self.optimizer_settings["lr"] = float(value)

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


def _channels_last_input(module: nn.Module, inputs: tuple) -> tuple:
    images, *rest = inputs
    if isinstance(images, Tensor) and images.ndim == 4:
        return (images.contiguous(memory_format=torch.channels_last), *rest)
    return inputs
