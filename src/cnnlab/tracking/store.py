"""Where runs go: the tracking URI (MLFLOW_TRACKING_URI wins over config), checked in one line before a run
exists, and experiments with a known artifact root."""

from __future__ import annotations

import fcntl
import os
import re
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import requests
from mlflow.tracking import MlflowClient

from cnnlab.errors import CnnlabError

DEFAULT_URI = "sqlite:///outputs/mlflow/mlflow.db"  # conf/tracking/mlflow.yaml's uri
REMOTE_SCHEMES = ("http", "https")
PROBE_SECONDS = 5  # a tracking server that does not answer /health within this is treated as unreachable


def uri_source() -> str:
    """The setting a user changes to pick another store."""
    return "MLFLOW_TRACKING_URI" if os.environ.get("MLFLOW_TRACKING_URI") else "tracking.uri"


def resolve_tracking_uri(configured: str) -> str:
    """MLFLOW_TRACKING_URI when set, else the configured URI; a local sqlite file gets its folder created."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or configured
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise CnnlabError(
                f"{uri_source()}={uri}: cannot create the folder {path.parent} ({err.strerror}); point it at a "
                "folder you can write"
            ) from err
        uri = f"sqlite:///{path.resolve()}"
    return uri


def browse_hint(uri: str) -> str:
    """How to look at store `uri` in the MLflow UI."""
    if is_remote(uri):
        return f"open {uri} in a browser"
    default = Path(DEFAULT_URI.removeprefix("sqlite:///")).resolve()  # what `make ui` serves, from this folder
    if uri == f"sqlite:///{default}" and Path("Makefile").is_file():
        return "browse with `make ui`"
    return f"browse with `mlflow ui --backend-store-uri {shlex.quote(uri)}`"


def is_remote(uri: str) -> bool:
    return urlparse(uri).scheme in REMOTE_SCHEMES


def check_store(uri: str) -> None:
    """Opens a local or database store once (creating it if new); a URI that cannot work is one line. Remote
    servers are probed when a run starts (server_problem), where being away has a fallback."""
    if is_remote(uri):
        return
    database = Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None
    if database is not None and not os.access(database.parent, os.W_OK):  # sqlite writes a journal beside it
        raise CnnlabError(
            f"{uri_source()}={uri}: cannot write in {database.parent} (read-only); point it at a folder you can write"
        )
    try:
        with creating(database):
            MlflowClient(uri).search_experiments(max_results=1)
    except Exception as err:  # MLflow, SQLAlchemy and the registry each raise their own types
        detail = " ".join(str(err).split())[:240]
        raise CnnlabError(
            f"{uri_source()}={uri} is not a usable MLflow store ({type(err).__name__}: {detail}); use e.g. "
            "sqlite:///outputs/mlflow/mlflow.db or http://HOST:PORT"
        ) from err


@contextmanager
def creating(database: Path | None) -> Iterator[None]:
    """One process at a time creates a sqlite store's tables: two doing it at once make MLflow's migrations fail
    in one of them ("duplicate column name")."""
    if database is None:
        yield
        return
    with open(database.with_name(f".{database.name}.lock"), "w") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        yield


def server_problem(uri: str, seconds: float = PROBE_SECONDS) -> str | None:
    """Why the tracking server at `uri` cannot be used now (None when its /health answers), within `seconds`.

    MLflow's client would retry for minutes before saying so.
    """
    try:
        response = requests.get(f"{uri.rstrip('/')}/health", timeout=(seconds / 2, seconds / 2))
    except requests.Timeout:
        return f"no answer within {seconds:g} s"
    except requests.ConnectionError as err:
        reason = re.search(r"\[Errno -?\d+\] [^'\")\]]+", str(err))  # e.g. [Errno 111] Connection refused
        return reason.group(0) if reason else "cannot connect"
    except requests.RequestException as err:
        return type(err).__name__
    return None if response.ok else f"/health answered HTTP {response.status_code}"


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


def tracking_client(uri: str | None = None) -> MlflowClient:
    """A client for `uri` when given, else for MLFLOW_TRACKING_URI, else for the local store under outputs/."""
    uri = uri or resolve_tracking_uri(DEFAULT_URI)
    check_store(uri)
    if is_remote(uri) and (problem := server_problem(uri)):
        raise CnnlabError(f"cannot reach the tracking server {uri} ({problem}); start it, or check {uri_source()}")
    return MlflowClient(uri)


def unreachable(err: BaseException) -> bool:
    """Whether `err` says the tracking server could not be reached (after MLflow's own retries)."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
            return True
        if "Max retries exceeded" in str(seen) or "Connection refused" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
