"""Image classification: backbone -> logits; CE (multiclass) or BCE (binary, multilabel), class-weighted or focal
for imbalanced data; accuracy, balanced accuracy, F1, per-class precision and recall, confusion."""

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
from cnnlab.setting_types import NonEmpty, NonNegativeFloat, PositiveFloat
from cnnlab.tasks.base import BaseTask, MonitorMode, StepOutput, class_key_table, metric_key_names
from cnnlab.tasks.imbalance import ClassWeights, class_weight_tensor, focal_loss, multiclass_loss

HEADS = ("multiclass", "binary", "multilabel")


# The validation metrics the task logs every epoch: what checkpoints and early stopping can follow.
ClassificationMonitor = Literal["val/acc", "val/balanced_acc", "val/f1", "val/loss"]


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
        loss: Literal["ce", "focal"] = "ce",
        focal_gamma: NonNegativeFloat = 2.0,
        class_weights: Literal["auto"] | NonEmpty[PositiveFloat] | None = None,
        class_counts: Sequence[int] | None = None,
        monitor: ClassificationMonitor = "val/acc",
        monitor_mode: MonitorMode = "max",
    ) -> None:
        """loss: ce (cross-entropy; BCE for the sigmoid heads) or focal (Lin et al. 2017: easy examples count
        less); class_weights: auto (inverse class frequency of the training split, `class_counts`, as the data
        reports it) or one weight per class."""
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
        self.loss_name, self.focal_gamma = loss, focal_gamma
        weights: ClassWeights = class_weight_tensor(class_weights, class_counts, list(class_names))
        self.register_buffer("class_weights", weights, persistent=False)  # rebuilt from the hyper-parameters
        outputs = 1 if head == "binary" else num_classes
        self.net = build_classifier(
            backbone, in_channels=in_channels, num_classes=outputs, image_size=tuple(image_size)
        )

        size = {"multiclass": {"num_classes": num_classes}, "binary": {}, "multilabel": {"num_labels": num_classes}}[
            head
        ]
        metrics = {"acc": Accuracy(task=head, **size), "f1": F1Score(task=head, average="macro", **size)}
        if head == "multiclass":  # the mean of per-class recalls: what imbalanced data should be judged by
            metrics["balanced_acc"] = Accuracy(task=head, average="macro", **size)
        self.set_metrics(MetricCollection(metrics))
        # Per-class accuracy is the confusion matrix's row-normalised diagonal; multilabel has no single matrix.
        self.test_confusion = None if head == "multilabel" else ConfusionMatrix(task=head, **size)

    def forward(self, images: Tensor) -> Tensor:
        logits = self.net(images)
        return logits.squeeze(1) if self.head == "binary" else logits

    def loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        weights = self.class_weights
        if self.head == "multiclass":
            return multiclass_loss(logits, labels, loss=self.loss_name, gamma=self.focal_gamma, weights=weights,
                                   label_smoothing=self.label_smoothing)  # fmt: skip
        targets = self._bce_targets(labels, logits)
        if weights is not None:  # binary: each sample its class's weight; multilabel: each label column its own
            weights = weights[labels] if self.head == "binary" else weights.expand_as(targets)
        if self.loss_name == "focal":
            return focal_loss(logits, targets, gamma=self.focal_gamma, weights=weights, sigmoid=True)
        return F.binary_cross_entropy_with_logits(logits, targets, weight=weights)

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
    """Logs test/acc_per_class/<name> and test/recall_per_class/<name> (the row-normalised diagonal) for every
    class the test split holds (a class without test samples has no recall, not 0), test/precision_per_class/<name>
    for every class predicted at least once, and queues the confusion matrix figure."""
    matrix = confusion.compute().cpu()
    confusion.reset()
    support = matrix.sum(dim=1)
    keys = metric_key_names(class_names)
    predicted = matrix.sum(dim=0)
    rows = zip(keys, matrix.diag().tolist(), support.tolist(), predicted.tolist(), strict=True)
    for key, correct, count, guesses in rows:
        if count > 0:  # recall is the per-class accuracy (kept under both names)
            task.log(f"test/acc_per_class/{key}", correct / count)
            task.log(f"test/recall_per_class/{key}", correct / count)
        if guesses > 0:  # precision: of the samples predicted as the class, the share that are
            task.log(f"test/precision_per_class/{key}", correct / guesses)
    if keys != list(class_names):
        task.add_text("classes.tsv", class_key_table(class_names))
    task.add_figure("confusion_matrix.png", confusion_matrix_figure(matrix.numpy(), list(class_names)))
