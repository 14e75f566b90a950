"""The MLflow run lifecycle: create, hand Lightning a logger bound to it, and always end it with a status."""

from __future__ import annotations

import logging
import os
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
from mlflow.tracking.context.registry import resolve_tags
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID
from mlflow.utils.time import get_current_time_millis
from pytorch_lightning.loggers import Logger
from pytorch_lightning.utilities.exceptions import SIGTERMException
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from cnnlab.distributed import RUN_ENV, is_rank_zero
from cnnlab.signals import Terminated
from cnnlab.tracking.names import unique_run_name
from cnnlab.tracking.outbox import OFFLINE_PREFIX, Outbox
from cnnlab.tracking.params import bookkeeping_tags, config_params, log_params
from cnnlab.tracking.provenance import provenance_tags
from cnnlab.tracking.secrets import Redactor, redact
from cnnlab.tracking.store import ensure_experiment, is_remote, resolve_tracking_uri, server_problem, unreachable
from cnnlab.tracking.tags import ERROR_TAG, RESUMES_TAG

log = logging.getLogger(__name__)
MAX_TAG_LENGTH = 5000


class RunLogger(Logger):
    """Lightning's view of a TrackedRun: metrics go through it (and its outbox while the server is away); params
    and the run's status are the TrackedRun's (the whole config is logged once, the status set once at the end).

    Points are held until Lightning saves the logger (after each of its own logging calls, and at the end), so the
    points of one step, Lightning's and those of callbacks that log directly (lr_monitor, device_stats), reach the
    store in one request, not one each: each request costs a round trip, and retries while a server is away.
    """

    MAX_POINTS = 1000  # MLflow's limit of metrics per log_batch request

    def __init__(self, tracked: TrackedRun) -> None:
        super().__init__()
        self.tracked = tracked
        self._points: list[Metric] = []

    @property
    def name(self) -> str:
        return self.tracked.experiment_id

    @property
    def version(self) -> None:
        """None: the progress bar shows no `v_num` (the run id is printed when the run ends)."""
        return None

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """No-op: the whole resolved config is logged once, by config path, when the run starts."""

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self._points += points(metrics, step or 0)
        if len(self._points) >= self.MAX_POINTS:
            self.save()

    @rank_zero_only
    def save(self) -> None:
        if self._points:
            batch, self._points = self._points, []
            self.tracked.log_points(batch)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        self.save()


def points(metrics: Mapping[str, float], step: int) -> list[Metric]:
    """MLflow metric points of `metrics` at `step`, stamped now (text values are not metrics)."""
    timestamp = get_current_time_millis()
    return [Metric(key, float(value), timestamp, step) for key, value in metrics.items() if not isinstance(value, str)]


@dataclass
class TrackedRun:
    client: MlflowClient
    run_id: str
    experiment_id: str
    tracking_uri: str
    run_name: str = ""
    outbox: Outbox | None = None  # remote stores: where records go while the server cannot be reached
    offline: bool = False

    def logger(self) -> RunLogger:
        return RunLogger(self)

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        self.log_points(points(metrics, step))

    def log_points(self, batch: Sequence[Metric]) -> None:
        self._deliver(lambda: self.client.log_batch(self.run_id, metrics=list(batch)),
                      lambda outbox: outbox.add_metrics(self.run_id, list(batch)))  # fmt: skip

    def set_tags(self, tags: Mapping[str, str]) -> None:
        redact = Redactor()
        masked = {key: redact(str(value)) for key, value in tags.items()}
        self._deliver(lambda: [self.client.set_tag(self.run_id, k, v) for k, v in masked.items()],
                      lambda outbox: outbox.add_tags(self.run_id, masked))  # fmt: skip

    def log_text(self, text: str, artifact_file: str) -> None:
        masked = redact(text)
        self._deliver(lambda: self.client.log_text(self.run_id, masked, artifact_file),
                      lambda outbox: outbox.add_text(self.run_id, masked, artifact_file))  # fmt: skip

    def log_yaml(self, data: Any, artifact_file: str) -> None:
        self.log_text(yaml.safe_dump(data, sort_keys=False), artifact_file)

    def log_file(self, path: str | Path, artifact_path: str | None = None) -> None:
        self._deliver(lambda: self.client.log_artifact(self.run_id, str(path), artifact_path),
                      lambda outbox: outbox.add_file(self.run_id, path, artifact_path))  # fmt: skip

    def log_figure(self, figure: Any, artifact_file: str) -> None:
        self._deliver(lambda: self.client.log_figure(self.run_id, figure, artifact_file),
                      lambda outbox: outbox.add_figure(self.run_id, figure, artifact_file))  # fmt: skip

    def end(self, status: str) -> None:
        self._deliver(lambda: self.client.set_terminated(self.run_id, status),
                      lambda outbox: outbox.add_status(self.run_id, status))  # fmt: skip

    def _deliver(self, send: Callable[[], Any], keep: Callable[[Outbox], None]) -> None:
        """send() to the tracking server; once it cannot be reached, keep(outbox) for the rest of the run."""
        if not self.offline:
            try:
                send()
                return
            except Exception as err:
                if self.outbox is None or not unreachable(err):
                    raise
                self.offline = True
                log.warning("tracking server %s unreachable (%s); the run goes on, keeping its records in %s",
                            self.tracking_uri, " ".join(str(err).split())[:200], self.outbox.folder)  # fmt: skip
        keep(self.outbox)

    def ui_hint(self) -> str:
        if self.offline:
            return f"run {self.run_id} kept offline for {self.tracking_uri}"
        return f"run {self.run_id} (experiment {self.experiment_id}) in {self.tracking_uri}"


class SilentRun(TrackedRun):
    """The run as a DDP rank other than 0 sees it: logging through it does nothing, and it opens no store
    (ranks racing rank 0 to create a sqlite store would corrupt its migrations)."""

    def logger(self) -> bool:
        return False  # Trainer(logger=False): Lightning's MLflow logger would open the store on construction

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        pass

    def log_points(self, batch: Sequence[Metric]) -> None:
        pass

    def set_tags(self, tags: Mapping[str, str]) -> None:
        pass

    def log_text(self, text: str, artifact_file: str) -> None:
        pass

    def log_file(self, path: str | Path, artifact_path: str | None = None) -> None:
        pass

    def log_figure(self, figure: Any, artifact_file: str) -> None:
        pass


@contextmanager
def tracked_run(
    *,
    tracking_uri: str,
    experiment: str,
    run_name: str,
    config: Mapping[str, Any],
    tags: Mapping[str, str],
    artifact_root: str | None = None,
    parent_run_id: str | None = None,
    resume_run_id: str | None = None,
    resume_changes: Sequence[str] = (),
    run_dir: str | None = None,
) -> Iterator[TrackedRun]:
    """A new run with params, tags and config.yaml logged; FINISHED on success, KILLED on Ctrl-C, else FAILED.

    With a remote store and a run_dir, records the server cannot take (it went away) wait in run_dir's outbox.

    resume_run_id reopens that run instead (status back to RUNNING); its params stay as first logged (MLflow
    params are immutable), the overrides given on resuming become cnnlab.resume.<key> tags, config.yaml is updated.
    """
    uri = resolve_tracking_uri(tracking_uri)
    if not is_rank_zero():  # DDP ranks > 0: rank 0 owns the run (and the store); Lightning logs from rank 0 only
        yield SilentRun(None, os.environ.get(RUN_ENV, ""), "", uri)
        return
    client = MlflowClient(uri)
    outbox = Outbox.of_run_dir(run_dir, uri) if run_dir and is_remote(uri) else None
    if resume_run_id:
        tracked = reopen_run(client, resume_run_id, uri, resume_changes)
    else:
        redact = Redactor()
        all_tags = {key: redact(str(value)) for key, value in resolve_tags({**provenance_tags(), **tags}).items()}
        all_tags.update(bookkeeping_tags(config, uri))
        if parent_run_id:  # the MLflow UI shows the run nested under its parent
            all_tags[MLFLOW_PARENT_RUN_ID] = parent_run_id
        problem = server_problem(uri) if outbox is not None else None
        if problem:
            tracked = start_offline(client, outbox, experiment, run_name, all_tags, problem)
        else:
            experiment_id = ensure_experiment(client, experiment, artifact_root)
            run_name = unique_run_name(client, experiment_id, run_name)
            run = client.create_run(experiment_id, run_name=run_name, tags=all_tags)
            tracked = TrackedRun(client, run.info.run_id, experiment_id, uri, run.info.run_name)
    tracked.outbox = outbox
    try:
        if tracked.offline and not resume_run_id:
            outbox.add_params(tracked.run_id, config_params(config))
        elif not resume_run_id:
            log_params(client, tracked.run_id, config)
        tracked.log_yaml(with_store(config, uri), "config.yaml")
        yield tracked
    except (KeyboardInterrupt, SystemExit) as stop:
        # Lightning turns Ctrl-C into SystemExit(1) after its own graceful shutdown, and SIGTERM into
        # SIGTERMException, a SystemExit without a code.
        finished = isinstance(stop, SystemExit) and stop.code in (0, None) and not isinstance(stop, SIGTERMException)
        tracked.end("FINISHED" if finished else "KILLED")
        finish_offline(tracked)
        if type(stop) is SystemExit and not finished:  # Lightning's exit(1) after Ctrl-C: said as the interrupt it is
            raise KeyboardInterrupt from stop
        if isinstance(stop, SIGTERMException):  # Lightning's stop on SIGTERM carries no exit status
            raise Terminated from stop
        raise
    except BaseException as error:
        tracked.set_tags({ERROR_TAG: f"{type(error).__name__}: {error}"[:MAX_TAG_LENGTH]})
        tracked.end("FAILED")
        finish_offline(tracked)
        raise
    else:
        tracked.end("FINISHED")
        finish_offline(tracked)


def with_store(config: Mapping[str, Any], uri: str) -> dict[str, Any]:
    """The config as logged: tracking.uri is the store the run went to (MLFLOW_TRACKING_URI wins over the
    config's)."""
    if not isinstance(config.get("tracking"), Mapping):
        return dict(config)
    return {**config, "tracking": {**config["tracking"], "uri": uri}}


def finish_offline(run: TrackedRun) -> None:
    """After a run that went offline: sends what it kept if the server is back, else says how to send it later."""
    if run.outbox is None or run.outbox.pending() == 0:
        return
    problem = server_problem(run.tracking_uri)  # seconds, where MLflow's own retries take minutes
    if problem is None:
        try:
            sent = run.outbox.send(run.client)
        except Exception as err:
            if not unreachable(err):
                raise
        else:
            print(f"tracking server is back: sent {sent} records kept during the outage "
                  f"(run {run.outbox.server_run_id(run.run_id)})")  # fmt: skip
            return
    print(
        f"cnnlab: the tracking server {run.tracking_uri} is unreachable; run {run.run_id} finished locally and "
        f"its last {run.outbox.pending()} records are kept in {run.outbox.folder}; send them with: "
        f"cnnlab upload {run.outbox.folder.parent}",
        file=sys.stderr,
    )


def start_offline(
    client: MlflowClient, outbox: Outbox, experiment: str, run_name: str, tags: Mapping[str, str], problem: str
) -> TrackedRun:
    """A run created in the outbox, under a placeholder id, because its server cannot be reached now: training
    goes on, and the run is created on the server when the records are sent (at the end, or by cnnlab upload)."""
    run_id = f"{OFFLINE_PREFIX}{uuid.uuid4().hex}"
    outbox.add_run(run_id, experiment=experiment, run_name=run_name, tags=tags)
    log.warning("tracking server %s unreachable (%s); training offline as run %s, records kept in %s",
                client.tracking_uri, problem, run_id, outbox.folder)  # fmt: skip
    print(f"cnnlab: tracking server {client.tracking_uri} unreachable ({problem}); training offline, the run's "
          f"records are kept in {outbox.folder}", file=sys.stderr)  # fmt: skip
    return TrackedRun(client, run_id, "", client.tracking_uri, run_name, outbox=outbox, offline=True)


def reopen_run(client: MlflowClient, run_id: str, uri: str, changes: Sequence[str]) -> TrackedRun:
    run = client.get_run(run_id)
    client.update_run(run_id, status="RUNNING")
    if ERROR_TAG in run.data.tags:  # the error that stopped it is history once it runs again
        client.delete_tag(run_id, ERROR_TAG)
    resumes = int(run.data.tags.get(RESUMES_TAG, "0")) + 1
    client.set_tag(run_id, RESUMES_TAG, str(resumes))
    for change in changes:
        key, _, value = change.lstrip("+~").partition("=")
        client.set_tag(run_id, f"cnnlab.resume.{key}", redact(value)[:MAX_TAG_LENGTH])
    return TrackedRun(client, run_id, run.info.experiment_id, uri, run.info.run_name)
