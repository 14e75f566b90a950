"""Run ids as people type them: a full id or, as git takes commits, a unique start of one; and the shortest start of
an id that no other run shares, so that the ids a table shows are accepted back."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from mlflow.entities import Experiment, Run
from mlflow.exceptions import MlflowException
from mlflow.store.entities.paged_list import PagedList
from mlflow.tracking import MlflowClient

from cnnlab.errors import CnnlabError

FULL_ID = re.compile(r"[0-9a-f]{32}")  # MLflow's run ids: a uuid4 in hex
HEX = re.compile(r"[0-9a-f]+")
MIN_PREFIX = 4  # shorter starts match too many runs to name one
SHOWN_LENGTH = 8  # ids in tables: this long, longer where another run's id starts the same
MAX_CANDIDATES = 5
PAGE_SIZE = 1000
NOT_FOUND = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")  # sqlite says the first, some stores the second

T = TypeVar("T")


def find_run(client: MlflowClient, ref: str, *, label: str) -> Run | None:
    """The run `ref` names: a full run id, or a start of one (MIN_PREFIX hex characters or more) that one active run's
    id has; None when none has. A start several runs share is a CnnlabError naming them, headed by `label`."""
    if FULL_ID.fullmatch(ref) or not HEX.fullmatch(ref):  # full ids, and what is no id at all, go to MLflow as given
        try:
            return client.get_run(ref)
        except MlflowException as err:
            if err.error_code in NOT_FOUND:
                return None
            raise
    if len(ref) < MIN_PREFIX:
        raise CnnlabError(f"{label}: too short to name a run; give at least {MIN_PREFIX} characters of its id")
    store = StoreRunIds(client)
    matches = store.starting_with(ref)
    if len(matches) > 1:
        shown = [f"{store.shortest_unique(run.info.run_id)} ({run.info.run_name})" for run in matches[:MAX_CANDIDATES]]
        more = f", and {len(matches) - MAX_CANDIDATES} more" if len(matches) > MAX_CANDIDATES else ""
        raise CnnlabError(
            f"{label}: {len(matches)} runs have ids starting {ref}: {', '.join(shown)}{more}; give more characters"
        )
    return matches[0] if matches else None


class StoreRunIds:
    """The active runs of a store's active experiments, found by the start of their id.

    MLflow's sqlite, database and file stores search run ids with LIKE, so only the matching runs are read; a store
    that refuses it is listed once (every run) and matched here.
    """

    def __init__(self, client: MlflowClient) -> None:
        self.client = client
        self._experiment_ids: list[str] | None = None
        self._every_run: list[Run] | None = None  # only for a store that cannot search run ids

    def starting_with(self, prefix: str) -> list[Run]:
        """Newest first."""
        if self._every_run is None:
            try:
                return self._search(f"attributes.run_id LIKE '{prefix}%'")
            except MlflowException as err:
                if err.error_code != "INVALID_PARAMETER_VALUE":
                    raise
                self._every_run = self._search("")
        return [run for run in self._every_run if run.info.run_id.startswith(prefix)]

    def shortest_unique(self, run_id: str) -> str:
        """The shortest start of `run_id`, at least SHOWN_LENGTH characters, that no other run's id has."""
        others = [run.info.run_id for run in self.starting_with(run_id[:SHOWN_LENGTH]) if run.info.run_id != run_id]
        return run_id[: max([SHOWN_LENGTH, *(_common_length(run_id, other) + 1 for other in others)])]

    def _search(self, where: str) -> list[Run]:
        if self._experiment_ids is None:
            self._experiment_ids = [experiment.experiment_id for experiment in active_experiments(self.client)]
        if not self._experiment_ids:
            return []
        return all_pages(lambda token: self.client.search_runs(
            self._experiment_ids, filter_string=where, max_results=PAGE_SIZE, page_token=token
        ))  # fmt: skip


def active_experiments(client: MlflowClient) -> list[Experiment]:
    """Newest first."""
    return all_pages(lambda token: client.search_experiments(
        max_results=PAGE_SIZE, order_by=["creation_time DESC"], page_token=token
    ))  # fmt: skip


def all_pages(search: Callable[[str | None], PagedList[T]]) -> list[T]:
    """Every item of an MLflow search, page by page (`search` takes the page token)."""
    items: list[T] = []
    token = None
    while True:
        page = search(token)
        items.extend(page)
        token = page.token
        if not token:
            return items


def _common_length(a: str, b: str) -> int:
    return next((index for index, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
