"""Tracking-server outages. MLflow's HTTP client retries a failed request itself (MLFLOW_HTTP_REQUEST_MAX_RETRIES,
default 7, exponential backoff: about 4 minutes), which carries a run over a server restart. When it gives up, the
run goes on offline: every record it would have sent (metrics, tags, artifacts, the final status) is appended to
RUN_DIR/mlflow-outbox/, sent at the end of the run if the server is back, else by `cnnlab upload RUN_DIR`."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

OUTBOX = "mlflow-outbox"
RECORDS = "records.jsonl"
SENT = "sent"  # how many records have reached the server, so a second upload never repeats one
SERVER = "tracking_uri"  # where the records belong


class Outbox:
    def __init__(self, folder: Path, tracking_uri: str | None = None) -> None:
        self.folder = folder
        self._tracking_uri = tracking_uri

    @classmethod
    def of_run_dir(cls, run_dir: str | Path, tracking_uri: str | None = None) -> Outbox:
        return cls(Path(run_dir) / OUTBOX, tracking_uri)

    def tracking_uri(self) -> str | None:
        """The server the records were meant for."""
        path = self.folder / SERVER
        return path.read_text().strip() if path.is_file() else self._tracking_uri

    def pending(self) -> int:
        return len(self._records()) - self._sent()

    def add_metrics(self, run_id: str, metrics: Sequence[Metric]) -> None:
        rows = [[m.key, m.value, m.timestamp, m.step] for m in metrics]
        self._append({"op": "metrics", "run_id": run_id, "metrics": rows})

    def add_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        self._append({"op": "tags", "run_id": run_id, "tags": dict(tags)})

    def add_file(self, run_id: str, path: str | Path, artifact_path: str | None) -> None:
        """Copies the file now: it may change (last.ckpt) or vanish before the upload."""
        kept = self._new_file(Path(path).name)
        shutil.copy2(path, kept)
        self._append({"op": "artifact", "run_id": run_id, "file": str(kept), "artifact_path": artifact_path})

    def add_text(self, run_id: str, text: str, artifact_file: str) -> None:
        kept = self._new_file(Path(artifact_file).name)
        kept.write_text(text, encoding="utf-8")
        self._append({"op": "artifact", "run_id": run_id, "file": str(kept), "artifact_path": _folder(artifact_file)})

    def add_figure(self, run_id: str, figure: Any, artifact_file: str) -> None:
        kept = self._new_file(Path(artifact_file).name)
        figure.savefig(kept)
        self._append({"op": "artifact", "run_id": run_id, "file": str(kept), "artifact_path": _folder(artifact_file)})

    def add_status(self, run_id: str, status: str) -> None:
        self._append({"op": "status", "run_id": run_id, "status": status})

    def send(self, client: MlflowClient) -> int:
        """Sends the records not sent yet, in order; returns how many. Raises if the server is still away."""
        records, sent = self._records(), self._sent()
        for index in range(sent, len(records)):
            _send_one(client, records[index])
            (self.folder / SENT).write_text(str(index + 1))
        return len(records) - sent

    def _new_file(self, name: str) -> Path:
        kept = self.folder / "files" / str(len(self._records())) / name
        kept.parent.mkdir(parents=True, exist_ok=True)
        return kept

    def _append(self, record: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self._tracking_uri and not (self.folder / SERVER).is_file():
            (self.folder / SERVER).write_text(self._tracking_uri + "\n")
        with open(self.folder / RECORDS, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
            out.flush()
            os.fsync(out.fileno())  # a record written is a record kept, even if the process dies next

    def _records(self) -> list[dict[str, Any]]:
        path = self.folder / RECORDS
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.is_file() else []

    def _sent(self) -> int:
        path = self.folder / SENT
        return int(path.read_text()) if path.is_file() else 0


def _folder(artifact_file: str) -> str | None:
    parent = str(Path(artifact_file).parent)
    return None if parent == "." else parent


def _send_one(client: MlflowClient, record: dict[str, Any]) -> None:
    run_id = record["run_id"]
    if record["op"] == "metrics":
        metrics = [Metric(key, value, timestamp, step) for key, value, timestamp, step in record["metrics"]]
        client.log_batch(run_id, metrics=metrics)
    elif record["op"] == "tags":
        for key, value in record["tags"].items():
            client.set_tag(run_id, key, value)
    elif record["op"] == "artifact":
        client.log_artifact(run_id, record["file"], record["artifact_path"])
    elif record["op"] == "status":
        client.set_terminated(run_id, record["status"])
