"""What N seeds of one config say about a metric: mean, sample standard deviation and a Student-t confidence
interval for the mean, and where a published number lies against that interval."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    n: int
    mean: float
    std: float  # sample standard deviation (n - 1 in the denominator), the one the t interval uses
    low: float
    high: float

    def verdict(self, reference: float) -> str:
        """Where `reference` lies: above, inside or below the interval (its ends count as inside)."""
        if reference > self.high:
            return "above"
        if reference < self.low:
            return "below"
        return "inside"


def interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """mean ± t(1 - (1 - confidence) / 2, n - 1) · s / √n over at least two values."""
    from scipy.stats import t

    n = len(values)
    if n < 2:
        raise ValueError(f"a confidence interval needs at least two values, got {n}")
    mean = math.fsum(values) / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(t.ppf(1 - (1 - confidence) / 2, n - 1)) * std / math.sqrt(n)
    return Interval(n, mean, std, mean - half, mean + half)
