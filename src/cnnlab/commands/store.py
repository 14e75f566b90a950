"""The tracking store a command reads: --tracking-uri, else MLFLOW_TRACKING_URI, else the config's local store."""

from __future__ import annotations

import argparse

from mlflow.tracking import MlflowClient

from cnnlab.tracking.store import resolve_tracking_uri

DEFAULT_URI = "sqlite:///outputs/mlflow/mlflow.db"  # conf/tracking/mlflow.yaml's uri


def add_tracking_uri_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tracking-uri", help=f"MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else {DEFAULT_URI})"
    )


def client_for(tracking_uri: str | None) -> MlflowClient:
    if tracking_uri:
        return MlflowClient(tracking_uri)
    return MlflowClient(resolve_tracking_uri(DEFAULT_URI))
