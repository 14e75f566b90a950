"""Network inputs as pictures, for the overlays every image task draws."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def viewable(image: np.ndarray, normalize: Mapping[str, Sequence[float]]) -> np.ndarray:
    """A network input (C×H×W, normalised by the data's mean and std) as a picture: H×W×3 in [0, 1], grey
    repeated to RGB."""
    mean = np.asarray(normalize["mean"], dtype=np.float32).reshape(-1, 1, 1)
    std = np.asarray(normalize["std"], dtype=np.float32).reshape(-1, 1, 1)
    pixels = np.clip(image * std + mean, 0, 1).transpose(1, 2, 0)
    return np.repeat(pixels, 3, axis=-1) if pixels.shape[-1] == 1 else pixels
