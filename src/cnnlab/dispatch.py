"""`train(cfg)`: what one command line (one job of a sweep) asks for: a resumed run, k-fold cross-validation, or one
run. The three live below this module and never import it."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError, MissingMandatoryValue

from cnnlab.crossval import cross_validate
from cnnlab.errors import CnnlabError
from cnnlab.preflight import check_choices
from cnnlab.resume import resume_run
from cnnlab.tracking.sweep import sweep_job_number, sweep_parent_run_id
from cnnlab.train import command_overrides, default_run_name, train_config


def train(cfg: DictConfig) -> dict[str, float]:
    """Trains and tests one configuration in one MLflow run (with data.cv_folds > 1: one per fold, nested).

    Returns the test metrics of the best checkpoint plus its monitored validation score (task.monitor).
    """
    config = resolve(cfg)
    if config.get("resume"):
        return resume_run(config["resume"], config["tracking"]["uri"], command_overrides(), config.get("force", False))
    check_choices(config)
    parent_run_id = sweep_parent_run_id()  # set when this is one job of a sweep
    if parent_run_id and not config["tracking"]["run_name"]:  # jobs of one sweep often share every choice
        config["tracking"]["run_name"] = f"{default_run_name(config)}-job{sweep_job_number()}"
    if config["data"].get("cv_folds", 0) > 1 and config["data"].get("fold") is None:
        return cross_validate(config, parent_run_id)
    return train_config(config, parent_run_id)


def resolve(cfg: DictConfig) -> dict[str, Any]:
    """The config as plain data, with a missing or unresolvable value named in one line."""
    try:
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as err:
        raise CnnlabError(f"{err.full_key} must be set, e.g. {err.full_key}=VALUE on the command line") from err
    except InterpolationResolutionError as err:
        raise CnnlabError(f"{err.full_key}: {str(err).splitlines()[0]}") from err


