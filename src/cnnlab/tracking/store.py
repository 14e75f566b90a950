"""Where runs go: the tracking URI (MLFLOW_TRACKING_URI wins over config) and experiments with a known artifact root."""

from __future__ import annotations

import os
from pathlib import Path

from mlflow.tracking import MlflowClient


def resolve_tracking_uri(configured: str) -> str:
    """MLFLOW_TRACKING_URI when set, else the configured URI; a local sqlite file gets its folder created."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or configured
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        uri = f"sqlite:///{path.resolve()}"
    return uri


def ensure_experiment(client: MlflowClient, name: str, artifact_root: str | None) -> str:
    """The id of experiment `name`, created with artifacts under `artifact_root/<name>` for a local store."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = None
    # A remote server chooses its own artifact store; a local store keeps artifacts beside its database.
    if artifact_root and client.tracking_uri.startswith(("sqlite:", "file:", "/")):
        location = (Path(artifact_root) / name).resolve().as_uri()
    return client.create_experiment(name, artifact_location=location)


DEFAULT_URI = "sqlite:///outputs/mlflow/mlflow.db"  # conf/tracking/mlflow.yaml's uri


def tracking_client(uri: str | None = None) -> MlflowClient:
    """A client for `uri` when given, else for MLFLOW_TRACKING_URI, else for the local store under outputs/."""
    return MlflowClient(uri or resolve_tracking_uri(DEFAULT_URI))
