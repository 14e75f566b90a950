"""`cnnlab upload RUN_DIR`: sends what a run kept while its tracking server was unreachable (RUN_DIR/mlflow-outbox:
metrics, tags, artifacts, final status) to that server, in order; records already sent are never sent twice."""

from __future__ import annotations

from pathlib import Path

from cnnlab.commands.parsing import CommandParser
from cnnlab.errors import CnnlabError


def main(args: list[str]) -> int:
    parser = CommandParser(prog="cnnlab upload", description=__doc__.split(":", 1)[1].strip())
    parser.add_argument("run_dir", help="the run folder the outage message named")
    parser.add_argument("--tracking-uri", help="send to this server instead of the one the run used")
    options = parser.parse_args(args)

    from mlflow.tracking import MlflowClient

    from cnnlab.tracking.outbox import Outbox
    from cnnlab.tracking.store import is_remote, server_problem

    outbox = Outbox.of_run_dir(options.run_dir)
    if not (outbox.folder / "records.jsonl").is_file():
        raise CnnlabError(f"{Path(options.run_dir)}: no mlflow-outbox with records; nothing to upload")
    uri = options.tracking_uri or outbox.tracking_uri()
    if is_remote(uri) and (problem := server_problem(uri)):
        raise CnnlabError(f"cannot reach {uri} ({problem}); try again when it is up, or send to another server with "
                          "--tracking-uri URI")  # fmt: skip
    try:
        sent = outbox.send(MlflowClient(uri))
    except Exception as err:
        raise CnnlabError(f"cannot reach {uri} ({' '.join(str(err).split())[:200]}); try again when it is up") from err
    print(f"sent {sent} records to {uri}; nothing left to upload")
    return 0
