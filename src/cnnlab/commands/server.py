"""`cnnlab server [OVERRIDES...]`: the MLflow tracking server of tracking=mlflow_postgres (a PostgreSQL backend,
artifacts served by the server), started from the config's tracking.server settings; jobs on any machine then
train with tracking=mlflow_postgres tracking.uri=http://THIS_HOST:PORT."""

from __future__ import annotations

import os
import sys

from cnnlab.commands.parsing import CommandParser


def main(args: list[str]) -> int:
    parser = CommandParser(prog="cnnlab server", description=__doc__.split(":", 1)[1].strip())
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="tracking settings, e.g. tracking.server.backend_store_uri=postgresql://… "
                             "tracking.server.host=0.0.0.0 tracking.uri=http://head:5000")  # fmt: skip
    options = parser.parse_args(args)

    from cnnlab.config import composed_job
    from cnnlab.tracking.server import (
        ServerSettings,
        artifacts_destination,
        check_database,
        server_command,
        without_password,
    )

    overrides = list(options.overrides)
    if not any(o.startswith("tracking=") for o in overrides):
        overrides.insert(0, "tracking=mlflow_postgres")
    tracking = composed_job(overrides)["tracking"]
    uri = os.environ.get("MLFLOW_TRACKING_URI") or tracking["uri"]  # when set, where the jobs report: here
    settings = ServerSettings.of(tracking)
    command = server_command(uri, settings)
    check_database(settings.backend_store_uri)
    where = f"runs in {without_password(settings.backend_store_uri)}, artifacts in {artifacts_destination(settings)}"
    print(f"cnnlab: MLflow server for {uri} on {settings.host}, {where}", file=sys.stderr)
    sys.stderr.flush()
    os.execv(command[0], command)  # the server owns the process from here: Ctrl-C stops it as it stops mlflow
