"""The --tracking-uri option every command that reads runs takes."""

from __future__ import annotations

import argparse

from cnnlab.tracking.store import DEFAULT_URI, tracking_client

client_for = tracking_client


def add_tracking_uri_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tracking-uri", help=f"MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else {DEFAULT_URI})"
    )
