"""albumentations pipelines from config."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.data.transforms import build_transforms
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
