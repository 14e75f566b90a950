"""Image classification: backbone -> logits; CE (multiclass) or BCE (binary, multilabel); accuracy, F1, confusion."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import Accuracy, ConfusionMatrix, F1Score, MetricCollection

from cnnlab.errors import CnnlabError, pick
from cnnlab.models import build_classifier
from cnnlab.plots.confusion import confusion_matrix_figure
from cnnlab.tasks.base import BaseTask, MonitorMode, StepOutput, class_key_table, metric_key_names

HEADS = ("multiclass", "binary", "multilabel")


# The validation metrics the task logs every epoch: what checkpoints and early stopping can follow.
ClassificationMonitor = Literal["val/acc", "val/f1", "val/loss"]


class ClassificationTask(BaseTask):
    task_name = "classification"

    def __init__(
        self,
        *,
        backbone: Mapping[str, Any],
        num_classes: int,
        class_names: Sequence[str],
        in_channels: int,
        image_size: Sequence[int],
        normalize: Mapping[str, Sequence[float]],
        optimizer: Mapping[str, Any],
        scheduler: Mapping[str, Any],
        head: str = "multiclass",
        label_smoothing: float = 0.0,
        monitor: ClassificationMonitor = "val/acc",
        monitor_mode: MonitorMode = "max",
    ) -> None:
        super().__init__(optimizer=optimizer, scheduler=scheduler, monitor=monitor, monitor_mode=monitor_mode)
        self.save_hyperparameters()
        pick("task.head", head, dict.fromkeys(HEADS))
        if head == "binary" and num_classes != 2:
            raise CnnlabError(
                f"task.head=binary needs 2 classes but the data has {num_classes}; use task.head=multiclass"
            )
        self.head = head
        self.class_names = list(class_names)
        self.label_smoothing = label_smoothing
        outputs = 1 if head == "binary" else num_classes
        self.net = build_classifier(
            backbone, in_channels=in_channels, num_classes=outputs, image_size=tuple(image_size)
        )

        size = {"multiclass": {"num_classes": num_classes}, "binary": {}, "multilabel": {"num_labels": num_classes}}[
            head
        ]
        self.set_metrics(
            MetricCollection({"acc": Accuracy(task=head, **size), "f1": F1Score(task=head, average="macro", **size)})
        )
        # Per-class accuracy is the confusion matrix's row-normalised diagonal; multilabel has no single matrix.
        self.test_confusion = None if head == "multilabel" else ConfusionMatrix(task=head, **size)

    def forward(self, images: Tensor) -> Tensor:
        logits = self.net(images)
        return logits.squeeze(1) if self.head == "binary" else logits

    def loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        if self.head == "multiclass":
            return F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)
        return F.binary_cross_entropy_with_logits(logits, self._bce_targets(labels, logits))

    def _bce_targets(self, labels: Tensor, logits: Tensor) -> Tensor:
        if self.head == "multilabel" and labels.ndim == 1:  # single-label data trained one-vs-rest
            labels = F.one_hot(labels, num_classes=logits.shape[1])
        return labels.to(logits.dtype)

    def step(self, batch: tuple[Tensor, Tensor]) -> StepOutput:
        images, labels = batch
        logits = self(images)
        targets = self._bce_targets(labels, logits).int() if self.head == "multilabel" else labels
        return StepOutput(self.loss(logits, labels), logits.detach(), targets, len(labels))

    def on_evaluated(self, stage: str, batch: Any, out: StepOutput, batch_idx: int) -> None:
        if stage == "test" and self.test_confusion is not None:
            self.test_confusion.update(out.predictions, out.targets)

    def report_test(self) -> None:
        if self.test_confusion is not None:
            report_confusion(self, self.test_confusion, self.class_names)

    def predict_step(self, batch: Any, batch_idx: int) -> Tensor:
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
        logits = self(images)
        return logits.softmax(dim=-1) if self.head == "multiclass" else torch.sigmoid(logits)


def report_confusion(task: BaseTask, confusion: ConfusionMatrix, class_names: Sequence[str]) -> None:
    """Logs test/acc_per_class/<name> (the row-normalised diagonal) for every class the test split holds (a class
    without test samples has no accuracy, not 0) and queues the confusion matrix figure."""
    matrix = confusion.compute().cpu()
    confusion.reset()
    support = matrix.sum(dim=1)
    keys = metric_key_names(class_names)
    for key, correct, count in zip(keys, matrix.diag().tolist(), support.tolist(), strict=True):
        if count > 0:
            task.log(f"test/acc_per_class/{key}", correct / count)
    if keys != list(class_names):
        task.add_text("classes.tsv", class_key_table(class_names))
    task.add_figure("confusion_matrix.png", confusion_matrix_figure(matrix.numpy(), list(class_names)))
