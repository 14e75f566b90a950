"""The shared DataModule for labelled images: subclasses say where the splits come from, this does the rest."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from cnnlab.data.base import SplitDataModule
from cnnlab.data.epochs import mixed_seed
from cnnlab.data.transforms import build_batch_augmentation, build_transforms
from cnnlab.errors import CnnlabError
from cnnlab.setting_types import PositiveInt


class ImageClassificationData(SplitDataModule):
    task = "classification"

    def __init__(
        self,
        *,
        image_size: PositiveInt | None,
        normalize: Mapping[str, Sequence[float]],
        augment: Sequence[Mapping[str, Any]] | None = None,
        batch_augment: Sequence[Mapping[str, Any]] | None = None,
        **loader: Any,  # batch_size and the DataLoader options of SplitDataModule
    ) -> None:
        """augment: albumentations per sample (in the loader); batch_augment: kornia per training batch (after it
        reaches the device), on the normalised images."""
        super().__init__(**loader)
        self.image_size = image_size
        self.normalize = {"mean": list(normalize["mean"]), "std": list(normalize["std"])}
        self.train_transform = build_transforms(
            augment=augment, normalize=normalize, image_size=image_size, train=True, seed=self.seed
        )
        self.eval_transform = build_transforms(augment=None, normalize=normalize, image_size=image_size, train=False)
        self.train_is_fixed = not augment  # no draw per sample: in-memory images can be transformed once
        self.batch_augmentation = build_batch_augmentation(batch_augment)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if self.batch_augmentation is None or self.trainer is None or not self.trainer.training:
            return batch
        images, labels = batch
        epoch = self.trainer.current_epoch
        self._batch_in_epoch = self._batch_in_epoch + 1 if getattr(self, "_epoch", None) == epoch else 0
        self._epoch = epoch
        # The draws depend on (seed, epoch, batch) only, never on what ran before: a resumed run repeats an
        # uninterrupted one. fork_rng leaves the global generators (dropout's) as they were. With overfit_batches
        # every epoch has the same batches and draws (epoch 0's, as per-sample augmentations under Lightning's
        # sampler), so that the few batches can be learnt by heart.
        draws_of = 0 if self.trainer.overfit_batches else epoch
        seed = mixed_seed(self.seed, draws_of, self._batch_in_epoch, self.trainer.global_rank)
        with torch.no_grad(), torch.random.fork_rng(devices=[images.device] if images.is_cuda else []):
            torch.manual_seed(seed)
            try:
                return self.batch_augmentation.to(images.device)(images), labels
            except Exception as err:  # kornia's own error types too, e.g. a colour transform on grey images
                detail = " ".join(str(err).split())[:300]
                shape = tuple(images.shape)
                raise CnnlabError(f"data.batch_augment failed on a batch of shape {shape}: {detail}") from err

    def facts(self) -> dict[str, Any]:
        """What models need to know about this data: classes, channels, input size, normalisation, and how many
        training samples each class has (for task.class_weights=auto)."""
        self.setup()
        image, _ = self.splits.train[0]
        return {
            "num_classes": len(self.splits.class_names),
            "class_names": list(self.splits.class_names),
            "in_channels": int(image.shape[0]),
            "image_size": (int(image.shape[1]), int(image.shape[2])),
            "normalize": self.normalize,
            "class_counts": np.bincount(self.labels_of_train(), minlength=len(self.splits.class_names)).tolist(),
        }
