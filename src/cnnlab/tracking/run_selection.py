"""Which runs take part in a comparison: an MLflow search filter, run statuses, and kinds of run that are no
training result of their own (left out unless asked for)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from cnnlab.errors import CnnlabError
from cnnlab.tracking.run_ids import PAGE_SIZE, all_pages
from cnnlab.tracking.tags import DEBUG_TAG, EVALUATES_TAG, FAST_DEV_RUN_TAG, REPRODUCES_TAG, SWEEP_PARENT_TAG

STATUSES = ("FINISHED", "RUNNING", "FAILED", "KILLED", "SCHEDULED")
DEFAULT_STATUSES = frozenset({"FINISHED", "RUNNING"})
SHOW_LEFT_OUT = "--status, --include or --all shows them"

# Runs that are no training result of their own: left out of a ranking unless --include names their kind.
RUN_KINDS: dict[str, Callable[[dict[str, str]], bool]] = {
    "evaluate": lambda tags: EVALUATES_TAG in tags,  # cnnlab evaluate: another run's model tested again
    "reproduce": lambda tags: REPRODUCES_TAG in tags,  # cnnlab reproduce: another run's recipe trained again
    "debug": lambda tags: DEBUG_TAG in tags or FAST_DEV_RUN_TAG in tags,  # debug=..., fast_dev_run: checks
    "sweep-parent": lambda tags: tags.get(SWEEP_PARENT_TAG) == "true",  # sums up its jobs, trains nothing
}


@dataclass(frozen=True)
class RunSelection:
    """The runs that take part: those matching the MLflow search filter `mlflow_filter`, in one of `statuses`, and
    of the kinds in RUN_KINDS only those `include` names."""

    mlflow_filter: str = ""
    statuses: frozenset[str] = DEFAULT_STATUSES
    include: frozenset[str] = frozenset()

    @classmethod
    def from_flags(cls, *, mlflow_filter: str, statuses: str, include: str, every: bool = False) -> RunSelection:
        """From `cnnlab compare`'s --filter, --status, --include and --all (`every`)."""
        kinds = parse_choices("--include", "all" if every else include, RUN_KINDS) if every or include else set()
        statuses = "all" if every else statuses
        return cls(mlflow_filter.strip(), parse_choices("--status", statuses, STATUSES), frozenset(kinds))

    def search(self, client: MlflowClient, experiment_ids: list[str], where: str = "") -> tuple[list[Run], Counter]:
        """The runs of the experiments that match `where` and take part, and how many were left out for what."""
        clauses = " and ".join(clause for clause in (where, self.mlflow_filter) if clause)
        try:
            runs = all_pages(lambda token: client.search_runs(
                experiment_ids, filter_string=clauses, max_results=PAGE_SIZE, page_token=token
            ))  # fmt: skip
        except MlflowException as err:
            if not self.mlflow_filter or err.error_code != "INVALID_PARAMETER_VALUE":
                raise
            problem = " ".join(err.message.split())
            raise CnnlabError(f"--filter {self.mlflow_filter}: MLflow cannot search with it: {problem}") from None
        reasons = [self.why_left_out(run) for run in runs]
        return [run for run, reason in zip(runs, reasons, strict=True) if not reason], Counter(filter(None, reasons))

    def why_left_out(self, run: Run) -> str | None:
        """The kind or status that keeps the run out; None when it takes part."""
        for kind, is_kind in RUN_KINDS.items():
            if kind not in self.include and is_kind(run.data.tags):
                return kind
        return None if run.info.status in self.statuses else run.info.status


def parse_choices(flag: str, text: str, choices: Iterable[str]) -> frozenset[str]:
    """A comma-separated list of `choices` (in any case), or "all"; anything else names the flag and the choices."""
    canonical = {choice.lower(): choice for choice in choices}
    words = [word.strip().lower() for word in text.split(",") if word.strip()]
    if words == ["all"]:
        return frozenset(canonical.values())
    if not words or any(word not in canonical for word in words):
        raise CnnlabError(f"{flag} {text}: give a comma-separated list of {', '.join(canonical.values())}, or all")
    return frozenset(canonical[word] for word in words)
