"""Hydra sweep overrides -> Optuna distributions: `choice(a,b)` / `a,b`, `range(1,9)`, `interval(0,1)`,
`tag(log, interval(1e-4, 1e-1))`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep

from cnnlab.errors import CnnlabError

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution


def to_distribution(override: Override) -> BaseDistribution:
    # optuna loads here, not with the module: Hydra imports every plugin module to list them, even for --help
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    sweep = override.value()
    if isinstance(sweep, ChoiceSweep):
        return CategoricalDistribution([_plain(v) for v in sweep.list])
    if isinstance(sweep, RangeSweep):
        if all(isinstance(x, int) for x in (sweep.start, sweep.stop, sweep.step)):
            return IntDistribution(sweep.start, sweep.stop - 1, step=sweep.step)
        return CategoricalDistribution(list(override.sweep_iterator()))
    if isinstance(sweep, IntervalSweep):
        log = "log" in sweep.tags
        if isinstance(sweep.start, int) and isinstance(sweep.end, int):
            return IntDistribution(sweep.start, sweep.end, log=log)
        return FloatDistribution(float(sweep.start), float(sweep.end), log=log)
    raise ValueError(f"{override.input_line}: not a sweep Optuna can sample")


def split_arguments(arguments: list[str]) -> tuple[dict[str, BaseDistribution], list[str]]:
    """(searched key -> distribution, fixed overrides passed to every trial as given). A key given twice takes its
    last value: `optimizer.lr=0.01` on the command line pins a key the sweep's own params search."""
    space: dict[str, BaseDistribution] = {}
    fixed: list[str] = []
    overrides = OverridesParser.create().parse_overrides(arguments)
    given = {o.get_key_element(): o for o in overrides}  # a later override of a key wins (the command line's)
    for override in given.values():
        if override.is_sweep_override():
            try:
                space[override.get_key_element()] = to_distribution(override)
            except ValueError as err:  # Optuna's: a reversed interval, a log scale reaching 0
                raise CnnlabError(f"{override.input_line}: {err}") from None
        else:
            fixed.append(override.input_line)
    return space, fixed


def _plain(value: object) -> object:
    """Categorical choices must be None, bool, int, float or str."""
    return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)
