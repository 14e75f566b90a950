"""Runs whose tracking server is away: detecting it (after MLflow's retries, or by a quick probe when a run
starts), and at the end of such a run sending what it kept, or saying how to send it later."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import requests

from cnnlab.tracking.store import server_problem

if TYPE_CHECKING:
    from cnnlab.tracking.run import TrackedRun


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
