"""`cnnlab train resume=RUN_ID|last [key=value ...]`: continue a run from its last checkpoint, in the same MLflow
run, with its own config; dotted overrides (e.g. trainer.max_epochs=40 to extend it) may change settings."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from cnnlab.errors import CnnlabError
from cnnlab.preflight import check_choices
from cnnlab.tasks.checkpoints import checkpoint_field
from cnnlab.tracking.source import load_source_run
from cnnlab.tracking.store import resolve_tracking_uri, tracking_client
from cnnlab.train import ResumePoint, train_config


def resume_run(run_ref: str, tracking_uri: str, overrides: list[str], force: bool = False) -> dict[str, float]:
    client = tracking_client(resolve_tracking_uri(tracking_uri))
    source = load_source_run(client, run_ref)
    changes = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") not in ("resume", "force")]
    config = with_overrides(source.config, changes)
    check_choices(config)
    checkpoint = source.checkpoint("last")
    if source.run.info.status == "FINISHED":  # a stopped run with every epoch done still needs its test
        check_epochs_left(source.run_id, checkpoint, config["trainer"].get("max_epochs"))
    print(f"resuming run {source.run_id} from {checkpoint}")
    point = ResumePoint(source.run_id, checkpoint, changes, status=source.run.info.status, force=force)
    return train_config(config, resume=point)


def check_epochs_left(run_id: str, checkpoint: Path, max_epochs: int | None) -> None:
    """Resuming a finished run that has trained all its epochs would only test it again, logging its test metrics
    twice."""
    epoch = checkpoint_field(checkpoint, "epoch")
    if epoch is not None and max_epochs is not None and max_epochs > 0 and epoch + 1 >= max_epochs:
        raise CnnlabError(
            f"run {run_id} has trained all its {max_epochs} epochs; to train it longer, resume it with "
            f"trainer.max_epochs={max_epochs * 2} (or any number above {max_epochs})"
        )


def with_overrides(config: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """A copy of the resolved `config` with `key.path=value` overrides applied (values parsed as YAML)."""
    changed = copy.deepcopy(config)
    for override in overrides:
        key, sep, value = override.lstrip("+~").partition("=")
        node = changed
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        if not sep or isinstance(node.get(leaf), dict):
            raise CnnlabError(
                f"{override}: a resumed run keeps its config groups; only settings can change, "
                "e.g. trainer.max_epochs=40"
            )
        node[leaf] = yaml.safe_load(value)
    return changed
