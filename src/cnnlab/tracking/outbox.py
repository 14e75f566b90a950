"""Tracking-server outages. MLflow's HTTP client retries a failed request itself (MLFLOW_HTTP_REQUEST_MAX_RETRIES,
default 7, exponential backoff: about 4 minutes), which carries a run over a server restart. When it gives up, the
run goes on offline: every record it would have sent (metrics, tags, artifacts, the final status) is appended to
RUN_DIR/mlflow-outbox/, sent at the end of the run if the server is back, else by `cnnlab upload RUN_DIR`.

A run whose server cannot be reached when it starts is created offline: its first records create it (experiment,
name, tags, params) under a placeholder id, which the upload maps to the id the server gives it."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

OUTBOX = "mlflow-outbox"
RECORDS = "records.jsonl"
SENT = "sent"  # how many records have reached the server, so a second upload never repeats one
SERVER = "tracking_uri"  # where the records belong
RUN_IDS = "run_ids.json"  # placeholder id of a run created offline -> the id the server gave it
OFFLINE_PREFIX = "offline-"
PARAMS_PER_CALL = 100  # MLflow's limit for one log_batch


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

    def add_run(self, run_id: str, *, experiment: str, run_name: str, tags: Mapping[str, str]) -> None:
        """A run created while the server was away, known until the upload by the placeholder `run_id`."""
        self._append({"op": "create", "run_id": run_id, "experiment": experiment, "run_name": run_name,
                      "tags": dict(tags)})  # fmt: skip

    def add_params(self, run_id: str, params: Mapping[str, str]) -> None:
        self._append({"op": "params", "run_id": run_id, "params": dict(params)})

    def send(self, client: MlflowClient) -> int:
        """Sends the records not sent yet, in order; returns how many. Raises if the server is still away."""
        records, sent = self._records(), self._sent()
        run_ids = self._run_ids()
        for index in range(sent, len(records)):
            record = records[index]
            if record["op"] == "create":
                run_ids[record["run_id"]] = _create_run(client, record)
                _write_atomically(self.folder / RUN_IDS, json.dumps(run_ids))
            else:
                _send_one(client, {**record, "run_id": run_ids.get(record["run_id"], record["run_id"])})
            (self.folder / SENT).write_text(str(index + 1))
        return len(records) - sent

    def server_run_id(self, run_id: str) -> str:
        """The id the server gave a run created offline (the id itself for any other run)."""
        return self._run_ids().get(run_id, run_id)

    def _run_ids(self) -> dict[str, str]:
        path = self.folder / RUN_IDS
        return json.loads(path.read_text()) if path.is_file() else {}

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


def _write_atomically(path: Path, text: str) -> None:
    staging = path.with_suffix(".tmp")
    staging.write_text(text)
    os.replace(staging, path)


def _create_run(client: MlflowClient, record: dict[str, Any]) -> str:
    from cnnlab.tracking.store import ensure_experiment

    experiment_id = ensure_experiment(client, record["experiment"], None)
    return client.create_run(experiment_id, run_name=record["run_name"], tags=record["tags"]).info.run_id


def _send_one(client: MlflowClient, record: dict[str, Any]) -> None:
    run_id = record["run_id"]
    if record["op"] == "params":
        params = [Param(key, value) for key, value in record["params"].items()]
        for start in range(0, len(params), PARAMS_PER_CALL):
            client.log_batch(run_id, params=params[start : start + PARAMS_PER_CALL])
        return
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
