"""The resolved config as MLflow params, one per config path (e.g. "optimizer.lr")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlflow.entities import Param
from mlflow.tracking import MlflowClient

from cnnlab.tracking.secrets import Redactor

try:
    from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH
except ImportError:  # older MLflow
    MAX_PARAM_VAL_LENGTH = 500

BATCH = 100  # MLflow's limit of params per log_batch call
# Settings that say where a run's records and files go or how it was started, not how it trains: tags, so that
# the params (MLflow's compare view, `cnnlab compare`) differ only where recipes differ. config.yaml keeps them.
BOOKKEEPING_KEYS = ("run_dir", "resume", "force")
BOOKKEEPING_PREFIXES = ("tracking.", "hydra.")
SETTING_TAG_PREFIX = "cnnlab.setting."


def flatten_config(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested mappings become dotted keys; lists and scalars become their string form."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten_config(value, prefix=f"{path}."))
        else:
            flat[path] = str(value)
    return flat


def is_bookkeeping(key: str) -> bool:
    return key in BOOKKEEPING_KEYS or key.startswith(BOOKKEEPING_PREFIXES)


def config_params(config: Mapping[str, Any]) -> dict[str, str]:
    """Every recipe setting's config path as a param, secrets masked; values over MLflow's length limit are cut
    (config.yaml holds them whole)."""
    redact = Redactor()
    flat = {key: redact(value) for key, value in flatten_config(config).items() if not is_bookkeeping(key)}
    cut = MAX_PARAM_VAL_LENGTH - 3
    return {key: value if len(value) <= MAX_PARAM_VAL_LENGTH else value[:cut] + "..."
            for key, value in sorted(flat.items())}


def bookkeeping_tags(config: Mapping[str, Any], tracking_uri: str) -> dict[str, str]:
    """The bookkeeping settings as cnnlab.setting.<path> tags (run_dir has its own, cnnlab.run_dir); tracking.uri
    is the store actually used (the environment's MLFLOW_TRACKING_URI wins over the config's)."""
    redact = Redactor()
    flat = {key: redact(value) for key, value in flatten_config(config).items()
            if is_bookkeeping(key) and key != "run_dir"}  # fmt: skip
    flat["tracking.uri"] = redact(tracking_uri)
    return {f"{SETTING_TAG_PREFIX}{key}": value for key, value in sorted(flat.items())}


def log_params(client: MlflowClient, run_id: str, config: Mapping[str, Any]) -> None:
    params = [Param(key, value) for key, value in config_params(config).items()]
    for start in range(0, len(params), BATCH):
        client.log_batch(run_id, params=params[start : start + BATCH])
