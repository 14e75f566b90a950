"""The --tracking-uri option every command that reads runs takes (MLflow loads only when a client is made)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

DEFAULT_URI = "sqlite:///outputs/mlflow/mlflow.db"  # conf/tracking/mlflow.yaml's uri


def add_tracking_uri_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tracking-uri", help=f"MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else {DEFAULT_URI})"
    )


def client_for(uri: str | None) -> MlflowClient:
    from cnnlab.tracking.store import tracking_client

    return tracking_client(uri)
