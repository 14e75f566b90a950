"""The shared store of tracking=mlflow_postgres: an MLflow tracking server on a database (PostgreSQL), serving the
artifacts itself, started by `cnnlab server` from the config's `tracking.server` settings.

Jobs on every machine talk HTTP to the server (tracking.uri) and never touch the database or the artifact folder:
only the server needs the database driver, credentials and the artifact store.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cnnlab.errors import CnnlabError
from cnnlab.registry import check_value, keyword_hints
from cnnlab.setting_types import PositiveInt
from cnnlab.tracking.secrets import URL_PASSWORD

DEFAULT_PORT = 5000


@dataclass(frozen=True)
class ServerSettings:
    """conf/tracking/mlflow_postgres.yaml's `server:` block."""

    backend_store_uri: str  # postgresql://USER@HOST:PORT/DATABASE; the password from ~/.pgpass or PGPASSWORD
    artifacts_destination: str  # a folder every server process can write (or s3://…, gs://…)
    host: str = "127.0.0.1"  # the interface it listens on; 0.0.0.0: every interface
    workers: PositiveInt = 4
    allowed_hosts: str | None = None  # Host headers the server answers (comma-separated); None: MLflow's default

    @classmethod
    def of(cls, tracking: dict[str, Any]) -> ServerSettings:
        server = tracking.get("server")
        if not isinstance(server, dict):
            raise CnnlabError("this tracking config has no server settings; use tracking=mlflow_postgres")
        unknown = sorted(set(server) - {field.name for field in fields(cls)})
        if unknown:
            raise CnnlabError(f"tracking.server.{unknown[0]} is not a server setting; use "
                              f"{', '.join(field.name for field in fields(cls))}")  # fmt: skip
        for name in ("backend_store_uri", "artifacts_destination"):
            if not str(server.get(name) or "").strip():
                raise CnnlabError(f"tracking.server.{name} is empty; see conf/tracking/mlflow_postgres.yaml")
        hints = keyword_hints(cls)
        for name, value in server.items():
            check_value(f"tracking.server.{name}", value, hints[name])
        return cls(**server)


def listening_port(uri: str) -> int:
    """The port of tracking.uri (http://HOST:PORT), the one the server listens on and every job reaches."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CnnlabError(f"tracking.uri={uri} is not the server's http://HOST:PORT address, e.g. http://head:5000")
    try:
        return parts.port or DEFAULT_PORT
    except ValueError as err:
        raise CnnlabError(f"tracking.uri={uri}: {err}; e.g. http://head:5000") from err


def artifacts_destination(settings: ServerSettings) -> str:
    """A local or shared folder made absolute (the server's cwd must not matter) and created; URLs as they are."""
    destination = settings.artifacts_destination
    if "://" in destination:
        return destination
    folder = Path(destination).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder)


def server_command(uri: str, settings: ServerSettings) -> list[str]:
    """`mlflow server` with the database backend and the artifacts served through it (--serve-artifacts)."""
    destination = artifacts_destination(settings)
    mlflow = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
    return [
        mlflow, "server", "--backend-store-uri", settings.backend_store_uri,
        "--artifacts-destination", destination, "--serve-artifacts",
        "--host", settings.host, "--port", str(listening_port(uri)), "--workers", str(settings.workers),
        *(["--allowed-hosts", settings.allowed_hosts] if settings.allowed_hosts else []),
    ]  # fmt: skip


def without_password(uri: str) -> str:
    return URL_PASSWORD.sub(r"\g<scheme>\g<user>:***@", uri)


def check_database(uri: str, timeout_s: int = 5) -> None:
    """Connect once before the server starts: its own error would be a page of traceback per worker."""
    import sqlalchemy
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

    shown = without_password(uri)
    arguments = {"connect_timeout": timeout_s} if uri.startswith("postgresql") else {}
    try:
        engine = sqlalchemy.create_engine(uri, connect_args=arguments)
    except (ArgumentError, NoSuchModuleError) as err:
        raise CnnlabError(f"tracking.server.backend_store_uri={shown}: {err}; e.g. "
                          "postgresql://cnnlab@127.0.0.1:5432/mlflow") from err  # fmt: skip
    except ImportError as err:
        raise CnnlabError(f"tracking.server.backend_store_uri={shown}: the driver is missing ({err}); "
                          "pip install 'cnnlab[postgres]'") from err  # fmt: skip
    try:
        with engine.connect():
            pass
    except SQLAlchemyError as err:
        reason = " ".join(str(getattr(err, "orig", err) or err).split())[:300]
        raise CnnlabError(f"cannot reach the database {shown} ({reason}); start PostgreSQL there, create the "
                          "database (createdb) or fix tracking.server.backend_store_uri") from err  # fmt: skip
    finally:
        engine.dispose()
