"""albumentations pipelines (per sample) and kornia batch augmentation from config."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from cnnlab.data import build_data
from cnnlab.data.transforms import build_batch_augmentation, build_transforms
from cnnlab.errors import CnnlabError

NORMALIZE = {"mean": [0.5], "std": [0.5]}


def test_eval_pipeline_skips_augmentations_and_normalises() -> None:
    pipeline = build_transforms(
        augment=[{"VerticalFlip": {"p": 1.0}}], normalize=NORMALIZE, image_size=None, train=False
    )
    image = np.zeros((4, 4, 1), np.uint8)
    image[0] = 255
    out = pipeline(image=image)["image"]
    assert out.shape == (1, 4, 4) and out[0, 0, 0] == 1.0 and out[0, 3, 0] == -1.0


def test_train_pipeline_applies_augmentations_and_resizes() -> None:
    pipeline = build_transforms(augment=[{"VerticalFlip": {"p": 1.0}}], normalize=NORMALIZE, image_size=8, train=True)
    image = np.zeros((4, 4, 1), np.uint8)
    image[0] = 255
    out = pipeline(image=image)["image"]
    assert out.shape == (1, 8, 8) and out[0, -1, 0] == 1.0 and out[0, 0, 0] == -1.0


def test_unknown_transform_and_bad_arguments_are_named() -> None:
    with pytest.raises(CnnlabError, match="'Sparkle' is not an albumentations transform"):
        build_transforms(augment=[{"Sparkle": {}}], normalize=NORMALIZE, image_size=None, train=True)
    with pytest.raises(CnnlabError, match="bad settings for HorizontalFlip"):
        build_transforms(augment=[{"HorizontalFlip": {"wobble": 3}}], normalize=NORMALIZE, image_size=None, train=True)


def batch_augmented(data, images: torch.Tensor, epoch: int = 0, training: bool = True) -> torch.Tensor:
    data.trainer = SimpleNamespace(training=training, current_epoch=epoch, global_rank=0, overfit_batches=0)
    return data.on_after_batch_transfer((images, torch.zeros(len(images), dtype=torch.long)), 0)[0]


def test_batch_augmentation_draws_from_seed_epoch_and_batch_only_and_only_in_training() -> None:
    settings = {
        "name": "digits", "batch_size": 8, "num_workers": 0, "image_size": None, "normalize": NORMALIZE,
        "augment": [], "batch_augment": [{"RandomAffine": {"degrees": 30, "translate": [0.25, 0.25], "p": 1.0}}],
    }  # fmt: skip
    images = torch.rand(8, 1, 8, 8)
    first, again = build_data(settings), build_data(settings)
    state = torch.get_rng_state()
    batches = [batch_augmented(first, images) for _ in range(2)]
    assert torch.equal(torch.get_rng_state(), state)  # dropout's generator untouched
    assert not torch.equal(batches[0], images) and not torch.equal(batches[0], batches[1])  # each batch its draws
    assert torch.equal(batch_augmented(again, images), batches[0])  # nothing but (seed, epoch, batch) decides
    assert not torch.equal(batch_augmented(again, images, epoch=1), batches[0])
    assert torch.equal(batch_augmented(again, images, training=False), images)  # validation, test, predict


def test_batch_augmentation_settings_are_checked_when_built() -> None:
    with pytest.raises(CnnlabError, match="'Nope' is not a kornia.augmentation transform"):
        build_batch_augmentation([{"Nope": {}}])
    with pytest.raises(CnnlabError, match="bad settings for RandomAffine: translate out of bounds"):
        build_batch_augmentation([{"RandomAffine": {"degrees": 0, "translate": [2, 2]}}])
    assert build_batch_augmentation([]) is None
