"""scikit-learn's digits: 1,797 real 8x8 handwritten digits shipped inside scikit-learn (no network)."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

from cnnlab.data.base import Splits
from cnnlab.data.datasets import ImageArrayDataset
from cnnlab.data.image_classification import ImageClassificationData
from cnnlab.data.splits import three_way_split
from cnnlab.setting_types import Fraction


class DigitsData(ImageClassificationData):
    def __init__(
        self, *, val_fraction: Fraction = 0.15, test_fraction: Fraction = 0.15, split_seed: int = 0, **common
    ) -> None:
        super().__init__(**common)
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.split_seed = split_seed

    def describe(self) -> str:
        return "digits"

    def load_splits(self) -> Splits:
        digits = load_digits()
        # Pixel values are 0..16; scale to uint8 so the image pipeline sees ordinary 8-bit grayscale.
        images = np.round(digits.images * (255 / 16)).astype(np.uint8)[..., None]
        train, val, test = three_way_split(digits.target, self.val_fraction, self.test_fraction, self.split_seed)
        make = lambda idx, tf, fixed: ImageArrayDataset(images[idx], digits.target[idx], tf, fixed)  # noqa: E731
        return Splits(
            train=make(train, self.train_transform, self.train_is_fixed),
            val=make(val, self.eval_transform, True),
            test=make(test, self.eval_transform, True),
            class_names=[str(n) for n in digits.target_names],
        )
