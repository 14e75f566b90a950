"""Hydra wiring: the `train` app, and a pre-flight check that makes bad overrides one line."""

from __future__ import annotations

import difflib
import logging
import math
import os
import re
import sys

import hydra
from hydra import compose, initialize_config_dir
from hydra._internal.utils import get_args_parser  # the parser hydra.main itself uses: same flags, same errors
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from cnnlab.config_files import CONFIG_DIR, CONFIG_NAME, config_groups, group_options
from cnnlab.errors import CnnlabError, as_user_error, user_message

log = logging.getLogger(__name__)


def check_overrides(args: list[str]) -> None:
    """Composes the config the command line asks for (the first job of a sweep) and fails in one line if it can't."""
    job = first_job(args)
    if job is None:
        return
    try:
        with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
            compose(CONFIG_NAME, overrides=job)
    except (HydraException, OmegaConfBaseException) as err:
        raise CnnlabError(unknown_key_message(err, job) or one_line(err)) from err


def first_job(args: list[str]) -> list[str] | None:
    """The overrides of the command line's first job (the first value of each sweep), its config group choices
    checked; None when the command line asks for help or a listing rather than a run."""
    parsed = get_args_parser().parse_args(args)
    if parsed.help or parsed.hydra_help or parsed.cfg or parsed.info or parsed.shell_completion:
        return None
    own = [o for o in parsed.overrides if not o.lstrip("+~").startswith(("hydra.", "hydra/"))]
    try:
        overrides = OverridesParser.create().parse_overrides(own)
    except HydraException as err:
        raise CnnlabError(
            f"cannot parse the overrides: {one_line(err)}; quote a value that holds = , [ ] {{ }} or spaces, e.g. "
            "data.root='/my data/a=b,c'"
        ) from err
    groups = set(config_groups())
    job: list[str] = []
    for override in overrides:
        if override.is_sweep_override() and not _is_listable(override):
            # an interval for a sampling sweeper: its lower end stands in for the values it will sample
            start = getattr(override.value(), "start", None)
            if start is not None:
                job.append(f"{override.get_key_element()}={start}")
            continue
        values = list(override.sweep_string_iterator()) if override.is_sweep_override() else [override.value()]
        if override.key_or_group in groups and not override.is_delete():
            options = group_options(override.key_or_group)
            picked = [v for value in values for v in (value if isinstance(value, list) else [value])]  # [a,b]
            for value in picked:
                if value is not None and str(value) not in options:
                    raise CnnlabError(
                        f"{override.key_or_group}={value} is not an option; valid choices: {', '.join(options)}"
                    )
        first = values[0] if override.is_sweep_override() else override.get_value_element_as_str()
        job.append(f"{override.get_key_element()}={first}" if not override.is_delete() else override.input_line)
    return job


def composed_job(args: list[str]) -> dict:
    """The resolved config of one job the overrides compose (a sweep is refused); run_dir is the caller's to set."""
    from cnnlab.dispatch import resolve

    try:
        overrides = OverridesParser.create().parse_overrides(args)
    except HydraException as err:
        raise CnnlabError(f"cannot parse the overrides: {one_line(err)}") from err
    for override in overrides:
        if override.is_sweep_override():
            raise CnnlabError(
                f"{override.input_line}: a sweep; this command trains one config (cnnlab train -m sweeps)"
            )
        if override.key_or_group.startswith(("hydra.", "hydra/")):
            raise CnnlabError(f"{override.input_line}: Hydra's own settings apply to cnnlab train only")
    check_overrides(args)
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        return resolve(compose(CONFIG_NAME, overrides=[*args, "run_dir=outputs/repeats"]))


def composed_tracking_uri(args: list[str]) -> str:
    """tracking.uri of the config the command line composes (its first job's)."""
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        return str(compose(CONFIG_NAME, overrides=first_job(args) or []).tracking.uri)


def unknown_key_message(err: BaseException, overrides: list[str]) -> str | None:
    """For an override of a key the config lacks (a typo such as trainer.max_epoch=3), the closest existing keys;
    Hydra's own advice, to add it with `+`, is the wrong fix for a typo."""
    text = one_line(err)
    match = re.search(r"Could not override '([^']+)'", text)
    if not match or "not in struct" not in text:
        return None
    key = match.group(1)
    parent, _, leaf = key.rpartition(".")
    rest = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") != key]
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        config = compose(CONFIG_NAME, overrides=rest)
    node = OmegaConf.select(config, parent) if parent else config
    while parent and not isinstance(node, DictConfig):  # e.g. callbacks.ema.decay without ema picked: list callbacks'
        parent = parent.rpartition(".")[0]
        node = OmegaConf.select(config, parent) if parent else config
    keys = [f"{parent}.{k}" if parent else str(k) for k in node]
    close = difflib.get_close_matches(key, keys, n=3, cutoff=0.6)
    suggestion = f"did you mean {' or '.join(close)}?" if close else f"valid keys: {', '.join(keys)}"
    return f"{key} is not a setting here; {suggestion} (a setting the config does not list is added with +{key}=...)"


def _is_listable(override) -> bool:
    try:
        iter(override.sweep_string_iterator())
    except Exception:  # interval/range sweeps are not enumerable
        return False
    return True


def one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    cause = err.__cause__
    if cause is not None and str(cause) and str(cause) not in str(err):
        text += f" ({' '.join(str(cause).split())})"
    return text


@hydra.main(config_path=str(CONFIG_DIR), config_name=CONFIG_NAME, version_base="1.3")
def hydra_train_app(cfg: DictConfig) -> float | None:
    """The Hydra entry point; returns the best monitored validation score, the value sweepers optimise."""
    from cnnlab.dispatch import train  # here, not at the top: `cnnlab train --help` needs no torch

    # One job of a sweep must not end the sweep: its run is already FAILED; the sweeper gets NaN.
    in_sweep = HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        metrics = train(cfg)
    except Exception as err:
        error = as_user_error(err)
        if error is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
            if not in_sweep:
                raise
        else:
            print(f"cnnlab: error: {user_message(error)}", file=sys.stderr)
            if in_sweep:
                return math.nan
            raise SystemExit(1) from None
        log.exception("job %s failed; the sweep goes on", HydraConfig.get().job.num)
        return math.nan
    return metrics.get(cfg.task.monitor, math.nan)  # what sweepers optimise; none for a fast_dev_run smoke test
