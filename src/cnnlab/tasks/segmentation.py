"""Semantic segmentation: smp architecture on a backbone's encoder -> per-pixel logits; smp losses; IoU, Dice."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from torch import Tensor, nn
from torchmetrics import Accuracy, F1Score, JaccardIndex, MetricCollection

from cnnlab.errors import CnnlabError, pick
from cnnlab.models.segmentation import build_segmenter
from cnnlab.plots.overlay import segmentation_overlay_figure
from cnnlab.plots.pixels import viewable
from cnnlab.tasks.base import BaseTask, MonitorMode, StepOutput, class_key_table, metric_key_names

MODES = ("multiclass", "binary")


def build_loss(name: str, mode: str, ignore_index: int) -> nn.Module:
    """One smp loss by its config name; `ce` is cross-entropy (BCE for the binary mode)."""
    from segmentation_models_pytorch import losses

    builders = {
        "dice": lambda: losses.DiceLoss(mode, ignore_index=ignore_index),
        "focal": lambda: losses.FocalLoss(mode, ignore_index=ignore_index),
        "jaccard": lambda: losses.JaccardLoss(mode, ignore_index=ignore_index),
        "lovasz": lambda: losses.LovaszLoss(mode, ignore_index=ignore_index),
        "ce": lambda: (
            losses.SoftCrossEntropyLoss(smooth_factor=0.0, ignore_index=ignore_index)
            if mode == "multiclass"
            else losses.SoftBCEWithLogitsLoss(ignore_index=ignore_index)
        ),
    }
    return pick("task.losses", name, builders)()


# The validation metrics the task logs every epoch: what checkpoints and early stopping can follow.
SegmentationMonitor = Literal["val/miou", "val/dice", "val/pixel_acc", "val/loss"]


class SegmentationTask(BaseTask):
    task_name = "segmentation"

    def __init__(
        self,
        *,
        backbone: Mapping[str, Any],
        num_classes: int,
        class_names: Sequence[str],
        in_channels: int,
        ignore_index: int,
        normalize: Mapping[str, Sequence[float]],
        optimizer: Mapping[str, Any],
        scheduler: Mapping[str, Any],
        arch: str = "Unet",
        arch_options: Mapping[str, Any] | None = None,
        mode: str = "multiclass",
        losses: Mapping[str, float] | None = None,
        overlay_images: int = 6,
        overlay_every_n_epochs: int = 0,
        monitor: SegmentationMonitor = "val/miou",
        monitor_mode: MonitorMode = "max",
    ) -> None:
        super().__init__(optimizer=optimizer, scheduler=scheduler, monitor=monitor, monitor_mode=monitor_mode)
        self.save_hyperparameters()
        pick("task.mode", mode, dict.fromkeys(MODES))
        if mode == "binary" and num_classes != 2:
            raise CnnlabError(f"task.mode=binary needs 2 classes (background, object); the data has {num_classes}")
        self.mode = mode
        self.class_names = list(class_names)
        self.ignore_index = ignore_index
        self.normalize = normalize
        self.overlay_images = overlay_images
        self.overlay_every_n_epochs = overlay_every_n_epochs
        outputs = 1 if mode == "binary" else num_classes
        self.net = build_segmenter(
            backbone, arch=arch, in_channels=in_channels, num_classes=outputs, **dict(arch_options or {})
        )
        weights = dict(losses or {"dice": 1.0, "ce": 1.0})
        if not weights:
            raise CnnlabError("task.losses is empty; give at least one, e.g. {dice: 1.0}")
        self.losses = nn.ModuleDict({name: build_loss(name, mode, ignore_index) for name in weights})
        self.loss_weights = weights
        size = {"task": "multiclass", "num_classes": num_classes, "ignore_index": ignore_index}
        self.set_metrics(
            MetricCollection(
                {
                    "miou": JaccardIndex(average="macro", **size),
                    "dice": F1Score(average="macro", **size),
                    "pixel_acc": Accuracy(average="micro", **size),
                }
            )  # fmt: skip
        )
        # NaN for a class neither in the masks nor predicted: it has no IoU, and is not logged
        self.test_iou_per_class = JaccardIndex(average="none", zero_division=float("nan"), **size)

    def forward(self, images: Tensor) -> Tensor:
        return self.net(images)

    def loss(self, logits: Tensor, masks: Tensor) -> Tensor:
        target = masks.unsqueeze(1).to(logits.dtype) if self.mode == "binary" else masks
        return sum(weight * self.losses[name](logits, target) for name, weight in self.loss_weights.items())

    def predict_classes(self, logits: Tensor) -> Tensor:
        return (logits[:, 0] > 0).long() if self.mode == "binary" else logits.argmax(dim=1)

    def step(self, batch: tuple[Tensor, Tensor]) -> StepOutput:
        images, masks = batch
        logits = self(images)
        return StepOutput(self.loss(logits, masks), self.predict_classes(logits.detach()), masks, len(masks))

    def on_evaluated(self, stage: str, batch: Any, out: StepOutput, batch_idx: int) -> None:
        if stage == "test":
            self.test_iou_per_class.update(out.predictions, out.targets)
        if batch_idx == 0 and stage == "test":
            self.add_figure("overlays/test_best.png", self._overlay(batch, out.predictions, "test, best checkpoint"))
        elif batch_idx == 0 and self._overlay_due():
            name = f"overlays/val_epoch_{self.current_epoch:03d}.png"
            self.add_figure(name, self._overlay(batch, out.predictions, f"val, epoch {self.current_epoch}"))

    def report_test(self) -> None:
        keys = metric_key_names(self.class_names)
        for key, iou in zip(keys, self.test_iou_per_class.compute().tolist(), strict=True):
            if not math.isnan(iou):
                self.log(f"test/iou_per_class/{key}", iou)
        if keys != self.class_names:
            self.add_text("classes.tsv", class_key_table(self.class_names))
        self.test_iou_per_class.reset()

    def _overlay_due(self) -> bool:
        if self.trainer.sanity_checking or self.overlay_images <= 0:
            return False
        epoch = self.current_epoch + 1
        every = self.overlay_every_n_epochs
        return (every > 0 and epoch % every == 0) or epoch == self.trainer.max_epochs

    def _overlay(self, batch: tuple[Tensor, Tensor], predictions: Tensor, title: str):
        images, masks = (t[: self.overlay_images].detach().cpu() for t in batch)
        pixels = np.stack([viewable(image.float().numpy(), self.normalize) for image in images])
        return segmentation_overlay_figure(
            pixels, masks.numpy(), predictions[: self.overlay_images].cpu().numpy(), self.class_names,
            self.ignore_index, title,
        )  # fmt: skip

    def predict_step(self, batch: Any, batch_idx: int) -> Tensor:
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self.predict_classes(self(images))
