"""Sentence classification: token ids -> a text backbone (TextCNN) -> logits; CE loss (class-weighted or focal for
imbalanced data); accuracy, balanced accuracy, macro F1, per-class precision and recall, confusion matrix, and a
sample of misclassified test sentences as a text artifact."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from torch import Tensor
from torchmetrics import Accuracy, ConfusionMatrix, F1Score, MetricCollection

from cnnlab.data.text import Vocabulary
from cnnlab.models import build_text_classifier
from cnnlab.setting_types import NonEmpty, NonNegativeFloat, PositiveFloat
from cnnlab.tasks.base import BaseTask, MonitorMode, StepOutput
from cnnlab.tasks.classification import report_confusion
from cnnlab.tasks.imbalance import class_weight_tensor, multiclass_loss

# The validation metrics the task logs every epoch: what checkpoints and early stopping can follow.
TextMonitor = Literal["val/acc", "val/balanced_acc", "val/f1", "val/loss"]


class TextClassificationTask(BaseTask):
    task_name = "text"
    encodes_with_vocabulary = True
    serving_dynamic_dims = (0, 1)  # any batch of sentences, any length

    def __init__(
        self,
        *,
        backbone: Mapping[str, Any],
        num_classes: int,
        class_names: Sequence[str],
        vocabulary: Sequence[str],
        tokenizer: Mapping[str, Any],
        max_length: int | None,
        optimizer: Mapping[str, Any],
        scheduler: Mapping[str, Any],
        label_smoothing: float = 0.0,
        loss: Literal["ce", "focal"] = "ce",
        focal_gamma: NonNegativeFloat = 2.0,
        class_weights: Literal["auto"] | NonEmpty[PositiveFloat] | None = None,
        class_counts: Sequence[int] | None = None,
        misclassified_examples: int = 50,
        monitor: TextMonitor = "val/acc",
        monitor_mode: MonitorMode = "max",
        load_vectors: bool = True,
    ) -> None:
        """vocabulary, tokenizer and max_length come from the data and are saved with the checkpoint, so that
        a restored task encodes new sentences exactly as in training. load_vectors=False skips reading the
        pretrained vectors file when the weights come from a checkpoint anyway. loss, focal_gamma, class_weights:
        as for image classification (class_counts: the training split's, from the data)."""
        super().__init__(optimizer=optimizer, scheduler=scheduler, monitor=monitor, monitor_mode=monitor_mode)
        self.save_hyperparameters()
        settings = dict(backbone) if load_vectors else {**backbone, "vectors": None}
        self.net = build_text_classifier(settings, vocabulary=list(vocabulary), num_classes=num_classes)
        self.vocabulary = Vocabulary(vocabulary)
        self.class_names = list(class_names)
        self.label_smoothing = label_smoothing
        self.loss_name, self.focal_gamma = loss, focal_gamma
        weights = class_weight_tensor(class_weights, class_counts, list(class_names))
        self.register_buffer("class_weights", weights, persistent=False)  # rebuilt from the hyper-parameters
        self.misclassified_examples = misclassified_examples
        self._misclassified: list[str] = []
        size = {"task": "multiclass", "num_classes": num_classes}
        self.set_metrics(MetricCollection({
            "acc": Accuracy(**size), "balanced_acc": Accuracy(average="macro", **size),
            "f1": F1Score(average="macro", **size),
        }))  # fmt: skip
        self.test_confusion = ConfusionMatrix(**size)

    @classmethod
    def restore(cls, checkpoint: str | Path) -> TextClassificationTask:
        """The checkpoint holds the embeddings: the vectors file is not needed (nor read) to restore."""
        return cls.load_from_checkpoint(checkpoint, map_location="cpu", weights_only=True, load_vectors=False)

    def forward(self, ids: Tensor) -> Tensor:
        return self.net(ids)

    def step(self, batch: tuple[Tensor, Tensor]) -> StepOutput:
        ids, labels = batch
        logits = self(ids)
        loss = multiclass_loss(logits, labels, loss=self.loss_name, gamma=self.focal_gamma,
                               weights=self.class_weights, label_smoothing=self.label_smoothing)  # fmt: skip
        return StepOutput(loss, logits.detach(), labels, len(labels))

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.net.constrain_norms()  # Kim's max-norm, applied after each update

    def on_evaluated(self, stage: str, batch: Any, out: StepOutput, batch_idx: int) -> None:
        if stage == "test":
            self.test_confusion.update(out.predictions, out.targets)
            self._note_misclassified(batch[0], out.targets, out.predictions.argmax(dim=1))

    def _note_misclassified(self, ids: Tensor, labels: Tensor, predicted: Tensor) -> None:
        for row in (predicted != labels).nonzero().flatten().tolist():
            if len(self._misclassified) >= self.misclassified_examples:
                return
            words = " ".join(self.vocabulary.decode(ids[row].tolist()))
            true, guess = self.class_names[labels[row]], self.class_names[predicted[row]]
            self._misclassified.append(f"{true}\t{guess}\t{words}")

    def report_test(self) -> None:
        report_confusion(self, self.test_confusion, self.class_names)
        # The tokens the model saw (<unk> for words outside the vocabulary), not the raw sentence.
        header = "true\tpredicted\ttokens"
        self.add_text("misclassified.tsv", "\n".join([header, *self._misclassified]) + "\n")
        self._misclassified = []

    def on_fit_start(self) -> None:
        self.add_text("vocabulary.txt", "\n".join(self.vocabulary.tokens) + "\n")
        self.add_text("tokenizer.json", json.dumps(self.tokenizer_settings(), indent=2) + "\n")

    def tokenizer_settings(self) -> dict[str, Any]:
        return {**self.hparams["tokenizer"], "max_length": self.hparams["max_length"], "vocabulary": "vocabulary.txt"}

    def predict_step(self, batch: Any, batch_idx: int) -> Tensor:
        ids = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self(ids).softmax(dim=-1)
