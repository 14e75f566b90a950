"""Losses for imbalanced classes: per-class weights (given, or balanced from the training split's counts) and the
focal loss, from scikit-learn, kornia and torchvision."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from kornia.losses import focal_loss as softmax_focal_loss
from sklearn.utils.class_weight import compute_class_weight
from torch import Tensor
from torchvision.ops import sigmoid_focal_loss

from cnnlab.errors import CnnlabError

ClassWeights = Tensor | None


def class_weight_tensor(
    setting: str | Sequence[float] | None, counts: Sequence[int] | None, class_names: Sequence[str]
) -> ClassWeights:
    """task.class_weights as one weight per class: "auto" is scikit-learn's "balanced" (n_samples / (n_classes x
    count)) over the classes the training split holds; a class it lacks gets 0 (it is never a target)."""
    if setting is None:
        return None
    if setting == "auto":
        if not counts:
            raise CnnlabError("task.class_weights=auto needs the class counts of the training split, which this data "
                              "does not report; give one weight per class, e.g. task.class_weights=[1,5]")  # fmt: skip
        present = np.flatnonzero(np.asarray(counts) > 0)
        labels = np.repeat(present, np.asarray(counts)[present])
        weights = np.zeros(len(counts))
        weights[present] = compute_class_weight("balanced", classes=present, y=labels)
        return torch.tensor(weights, dtype=torch.float32)
    if len(setting) != len(class_names):
        raise CnnlabError(
            f"task.class_weights has {len(setting)} weight(s) but the data has {len(class_names)} classes "
            f"({', '.join(map(str, class_names))}); give one per class, in that order, or task.class_weights=auto"
        )
    return torch.tensor([float(w) for w in setting], dtype=torch.float32)


def focal_loss(
    logits: Tensor, targets: Tensor, *, gamma: float, weights: Tensor | None, sigmoid: bool = False
) -> Tensor:
    """The focal loss (Lin et al. 2017), averaged: kornia's softmax form for class indices; torchvision's sigmoid
    form for 0/1 targets (binary and multilabel heads), with `weights` per target element."""
    if not sigmoid:  # summed and divided by the batch: kornia's "mean" also divides by the number of classes
        total = softmax_focal_loss(logits, targets, alpha=None, gamma=gamma, reduction="sum", weight=weights)
        return total / max(1, len(targets))
    losses = sigmoid_focal_loss(logits, targets, alpha=-1, gamma=gamma, reduction="none")
    return (losses * weights).mean() if weights is not None else losses.mean()


def multiclass_loss(
    logits: Tensor, labels: Tensor, *, loss: str, gamma: float, weights: Tensor | None, label_smoothing: float
) -> Tensor:
    """task.loss for a softmax head: cross-entropy (class-weighted, smoothed) or the focal loss (class-weighted)."""
    if loss == "focal":
        return focal_loss(logits, labels, gamma=gamma, weights=weights)
    return F.cross_entropy(logits, labels, weight=weights, label_smoothing=label_smoothing)
