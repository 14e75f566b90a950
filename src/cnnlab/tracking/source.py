"""A past run as the source of new work (reproduce, evaluate, predict, resume): its config and checkpoints."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from cnnlab.errors import CnnlabError
from cnnlab.run_folder import is_held
from cnnlab.tasks.checkpoints import checkpoint_run_id
from cnnlab.tracking.run import TrackedRun
from cnnlab.tracking.run_ids import find_run
from cnnlab.tracking.tags import ERROR_TAG, EVALUATES_TAG, EXPLAINS_TAG, REPEAT_TAG, RUN_DIR_TAG, SWEEP_PARENT_TAG

log = logging.getLogger(__name__)


@dataclass
class SourceRun:
    client: MlflowClient
    run: Run
    config: dict[str, Any]  # the resolved config the run trained with (its config.yaml)

    @property
    def run_id(self) -> str:
        return self.run.info.run_id

    def tracked(self) -> TrackedRun:
        """The run, to log more to it after it ended (exports)."""
        return TrackedRun(self.client, self.run_id, self.run.info.experiment_id, self.client.tracking_uri,
                          self.run.info.run_name)  # fmt: skip

    def checkpoint(self, which: str = "best") -> Path:
        """The run's `which` checkpoint (best | last): its local file when the run id stamped in it says it is this
        run's, else its logged artifact. A file of another run (a reused run folder) is never used."""
        local = Path(self.config["run_dir"]) / "checkpoints" / f"{which}.ckpt"
        stamp = checkpoint_run_id(local) if local.is_file() else None
        if stamp == self.run_id:
            return local
        try:
            folder = tempfile.mkdtemp(prefix="cnnlab-ckpt-")
            return Path(self.client.download_artifacts(self.run_id, f"checkpoints/{which}.ckpt", folder))
        except (MlflowException, OSError) as err:
            if local.is_file() and stamp is None:  # written before checkpoints carried their run id
                log.warning("%s carries no run id; using it as run %s's %s checkpoint", local, self.run_id, which)
                return local
            found = f"{local} belongs to run {stamp}" if stamp else f"not at {local}"
            raise CnnlabError(
                f"run {self.run_id} has no {which} checkpoint: {found}, and none was logged as an artifact "
                "(tracking.log_checkpoint=true logs it)"
            ) from err


# Runs made about a trained run; they copy its tags (config included), but trained nothing themselves.
ABOUT_ANOTHER_RUN = {EXPLAINS_TAG: "a `cnnlab explain` run", EVALUATES_TAG: "an evaluation (`cnnlab evaluate`)"}


def load_source_run(client: MlflowClient, run_id: str) -> SourceRun:
    """The training run `run_id`, or with "last" the newest training run of the store."""
    run = _latest_run(client) if run_id == "last" else _get_run(client, run_id)
    for tag, kind in ABOUT_ANOTHER_RUN.items():
        if tag in run.data.tags:
            raise CnnlabError(f"run {run.info.run_id} is {kind} of run {run.data.tags[tag]}; pass that run's id")
    try:
        folder = tempfile.mkdtemp(prefix="cnnlab-config-")
        text = Path(client.download_artifacts(run.info.run_id, "config.yaml", folder)).read_text(encoding="utf-8")
    except (MlflowException, OSError) as err:
        raise CnnlabError(_no_config(client, run)) from err
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as err:
        config = None
        problem = " ".join(str(err).split())[:200]
    else:
        usable = isinstance(config, dict) and {"task", "data", "run_dir"} <= set(config)
        problem = "" if usable else "not a cnnlab config"
    if problem:
        raise CnnlabError(
            f"run {run.info.run_id}: its config.yaml artifact cannot be used ({problem}); it was changed after the "
            "run, or not written by cnnlab train"
        )
    return SourceRun(client, run, upgraded(config))


def upgraded(config: dict[str, Any]) -> dict[str, Any]:
    """A config written by an earlier cnnlab in today's keys: callbacks were fixed (train/lr logged by the task, a
    top-level early_stopping_patience); they are now the callbacks group."""
    config = dict(config)
    patience = config.pop("early_stopping_patience", None)
    if "callbacks" not in config:
        config["callbacks"] = {"lr_monitor": {"logging_interval": "step"}}
        if patience:
            config["callbacks"]["early_stopping"] = {"patience": patience}
    return config


def _no_config(client: MlflowClient, run: Run) -> str:
    """Why a run has no config.yaml: made by another tool, or stopped between its creation and its first records
    (a stale RUNNING run of that kind is marked FAILED, so it does not look alive forever)."""
    run_id, tags = run.info.run_id, run.data.tags
    if tags.get(SWEEP_PARENT_TAG) == "true":
        best = tags.get("cnnlab.best_run_id")
        return (f"run {run_id} is a sweep's parent run, which holds no model; "
                + (f"its best job is run {best}" if best else "use one of its job runs (cnnlab compare --sweep)"))
    if "cnnlab.command" not in tags:
        return f"run {run_id} has no config.yaml artifact: it was not made by cnnlab train"
    folder = tags.get(RUN_DIR_TAG)
    if run.info.status == "RUNNING" and folder and not is_held(Path(folder)):
        client.set_tag(run_id, ERROR_TAG, "interrupted before it started: no config was logged")
        client.set_terminated(run_id, "FAILED")
    return (
        f"run {run_id} was interrupted before it started (no config.yaml was logged), so there is nothing to "
        "resume, evaluate or predict with; train it again"
    )


def _get_run(client: MlflowClient, run_id: str) -> Run:
    """The run of a full id or of a unique start of one (the ids `cnnlab compare` shows)."""
    try:
        run = find_run(client, run_id, label=f"run {run_id}")
    except MlflowException as err:
        raise CnnlabError(_no_run(client, run_id)) from err
    if run is None:
        raise CnnlabError(_no_run(client, run_id))
    return run


def _no_run(client: MlflowClient, run_id: str) -> str:
    return (f"no run {run_id} in {client.tracking_uri}; list runs with `cnnlab compare` or point "
            "MLFLOW_TRACKING_URI at the store that has it")  # fmt: skip


NO_MODEL_TAGS = {REPEAT_TAG, *ABOUT_ANOTHER_RUN}  # a repeat's parent, an explain run, an evaluation


def _latest_run(client: MlflowClient) -> Run:
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        raise CnnlabError(f"resume=last: no run in {client.tracking_uri}; train one first or give a run id")
    # Newest first; a sweep's or a repeat's parent run has no model of its own, an explain run trains none.
    runs = client.search_runs(experiments, order_by=["attributes.start_time DESC"], max_results=50)
    runs = [r for r in runs if r.data.tags.get(SWEEP_PARENT_TAG) != "true" and not NO_MODEL_TAGS & set(r.data.tags)]
    if not runs:
        raise CnnlabError(f"resume=last: no run in {client.tracking_uri}; train one first or give a run id")
    return runs[0]
