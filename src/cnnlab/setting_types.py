"""Constrained types for builder signatures: the range a setting must lie in, said once in the annotation and
checked (with the types themselves) before any run exists by `cnnlab.registry.check_settings`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, TypeVar

from annotated_types import Ge, Gt, Interval, MinLen

T = TypeVar("T")

Fraction = Annotated[float, Interval(ge=0, lt=1)]  # a share of a split: 0 (none) up to, not including, all
Probability = Annotated[float, Interval(ge=0, le=1)]
PositiveInt = Annotated[int, Gt(0)]
NonNegativeInt = Annotated[int, Ge(0)]
PositiveFloat = Annotated[float, Gt(0)]
NonNegativeFloat = Annotated[float, Ge(0)]
NonEmpty = Annotated[Sequence[T], MinLen(1)]  # NonEmpty[int]: a list with at least one item
