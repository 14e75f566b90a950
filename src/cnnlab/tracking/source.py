"""A past run as the source of new work (reproduce, evaluate, predict, resume): its config and checkpoints."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from cnnlab.errors import CnnlabError
from cnnlab.tracking.run import SWEEP_PARENT_TAG


@dataclass
class SourceRun:
    client: MlflowClient
    run: Run
    config: dict[str, Any]  # the resolved config the run trained with (its config.yaml)

    @property
    def run_id(self) -> str:
        return self.run.info.run_id

    def checkpoint(self, which: str = "best") -> Path:
        """The run's `which` checkpoint (best | last): its local file if still there, else its logged artifact."""
        local = Path(self.config["run_dir"]) / "checkpoints" / f"{which}.ckpt"
        if local.is_file():
            return local
        try:
            folder = tempfile.mkdtemp(prefix="cnnlab-ckpt-")
            return Path(self.client.download_artifacts(self.run_id, f"checkpoints/{which}.ckpt", folder))
        except (MlflowException, OSError) as err:
            raise CnnlabError(
                f"run {self.run_id} has no {which} checkpoint: not at {local} and not logged as an artifact "
                "(tracking.log_checkpoint=true logs it)"
            ) from err


def load_source_run(client: MlflowClient, run_id: str) -> SourceRun:
    """The run `run_id`, or with "last" the newest training run (not a sweep parent) of the store."""
    run = _latest_run(client) if run_id == "last" else _get_run(client, run_id)
    try:
        folder = tempfile.mkdtemp(prefix="cnnlab-config-")
        config = yaml.safe_load(Path(client.download_artifacts(run.info.run_id, "config.yaml", folder)).read_text())
    except (MlflowException, OSError) as err:
        raise CnnlabError(
            f"run {run.info.run_id} has no config.yaml artifact: it was not made by cnnlab train"
        ) from err
    return SourceRun(client, run, config)


def _get_run(client: MlflowClient, run_id: str) -> Run:
    try:
        return client.get_run(run_id)
    except MlflowException as err:
        raise CnnlabError(
            f"no run {run_id} in {client.tracking_uri}; list runs with `cnnlab compare` or point "
            "MLFLOW_TRACKING_URI at the store that has it"
        ) from err


def _latest_run(client: MlflowClient) -> Run:
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        raise CnnlabError(f"resume=last: no run in {client.tracking_uri}; train one first or give a run id")
    # Newest first; a sweep's parent run has no model of its own.
    runs = client.search_runs(experiments, order_by=["attributes.start_time DESC"], max_results=50)
    runs = [r for r in runs if r.data.tags.get(SWEEP_PARENT_TAG) != "true"]
    if not runs:
        raise CnnlabError(f"resume=last: no run in {client.tracking_uri}; train one first or give a run id")
    return runs[0]
