"""One config trained under several seeds, each seed a child run of one parent run that gets, for every final
metric, the mean, standard deviation and 95 % confidence interval over the seeds (repeat/<metric>_mean, _std,
_ci_low, _ci_high), and given a published number, whether it lies above, inside or below that interval.

A repeat is found again by its config: the same config (the seed, where runs are written and tracking settings
aside) on the same git commit reopens the same parent, every seed that finished counts as it is, and a seed that
was interrupted continues from its last checkpoint. Asking for more seeds later trains only the new ones.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from cnnlab.errors import CnnlabError
from cnnlab.run_folder import claimed
from cnnlab.seed_statistics import Interval, interval
from cnnlab.tracking.names import MACHINE_METRICS
from cnnlab.tracking.provenance import git_state
from cnnlab.tracking.run import TrackedRun, tracked_run
from cnnlab.tracking.store import resolve_tracking_uri, tracking_client
from cnnlab.tracking.tags import OVERRIDES_TAG, REPEAT_SEEDS_TAG, REPEAT_TAG, RUN_DIR_TAG
from cnnlab.train import ResumePoint, choice_tags, train_config

REPEATS_DIR = Path("outputs/repeats")
SUMMARY_FILE = "repeat_summary.csv"
SEEDS_FILE = "repeat_seeds.csv"
VERDICT_TAG = "cnnlab.repeat.verdict."  # + metric: above | inside | below, of this call's --reference
REFERENCE_TAG = "cnnlab.repeat.reference."  # + metric: the number that verdict placed
# Settings that do not change what a seed trains: left out of the fingerprint that finds a repeat again.
NOT_RECIPE = ("seed", "run_dir", "tracking", "resume", "force")


@dataclass
class RepeatResult:
    parent_run_id: str
    seed_runs: dict[int, str]  # seed -> its finished child run
    intervals: dict[str, Interval]
    verdicts: dict[str, str] = field(default_factory=dict)  # metric -> above | inside | below (the reference)
    trained: list[int] = field(default_factory=list)  # seeds this call trained (the others had finished before)


def repeat(
    config: dict[str, Any], seeds: list[int], references: dict[str, float], jobs: int = 1, overrides: str = ""
) -> RepeatResult:
    """Trains `config` under each seed not finished yet (`jobs` at a time), then summarises every seed's run."""
    if config["data"].get("cv_folds", 0) > 1:
        raise CnnlabError("cnnlab repeat trains one run per seed; set data.cv_folds=0 (or use cv_folds on its own)")
    tracking = config["tracking"]
    client = tracking_client(resolve_tracking_uri(tracking["uri"]))
    fingerprint = config_fingerprint(config)
    previous = previous_parent(client, tracking["experiment"], fingerprint)
    name = recipe_name(config)
    folder = Path(previous.data.tags[RUN_DIR_TAG]) if previous else REPEATS_DIR / f"{name}-{fingerprint[:8]}"
    with claimed(folder, previous.info.run_id if previous else None) as owned:
        parent_config = {**config, "run_dir": str(owned.path)}
        with tracked_run(
            tracking_uri=tracking["uri"],
            experiment=tracking["experiment"],
            run_name=f"repeat-{name}",
            config=parent_config,
            tags=parent_tags(parent_config, fingerprint, seeds, overrides),
            artifact_root=tracking["artifact_root"],
            resume_run_id=previous.info.run_id if previous else None,
            run_dir=str(owned.path),
        ) as parent:
            owned.record(parent.run_id)
            if previous:
                print(f"cnnlab: continuing repeat {parent.run_id}: finished seeds are kept")
            parent.set_tags({REPEAT_SEEDS_TAG: ",".join(map(str, seeds))})  # a resumed repeat may ask for more
            done = finished_seeds(client, parent.run_id)
            todo = [seed for seed in seeds if seed not in done]
            jobs_to_run = [seed_job(client, config, seed, parent.run_id, owned.path) for seed in todo]
            if references and not done and jobs_to_run:  # one seed first: a misnamed reference costs one seed only
                run_seeds(jobs_to_run[:1], parent.run_id, 1)
                jobs_to_run, done = jobs_to_run[1:], finished_seeds(client, parent.run_id)
            check_reference_names(references, done)
            run_seeds(jobs_to_run, parent.run_id, jobs)
            done = finished_seeds(client, parent.run_id)
            runs = {seed: done[seed] for seed in seeds if seed in done}
            result = summarise(parent, runs, references)
            result.trained = todo
    return result


def parent_tags(config: dict[str, Any], fingerprint: str, seeds: list[int], overrides: str) -> dict[str, str]:
    tags = {**choice_tags(config), REPEAT_TAG: fingerprint, REPEAT_SEEDS_TAG: ",".join(map(str, seeds))}
    tags.pop("cnnlab.seed")  # the parent trains no seed of its own
    return {**tags, OVERRIDES_TAG: overrides} if overrides else tags


def config_fingerprint(config: dict[str, Any]) -> str:
    """What the seeds share: the recipe and the code's git commit."""
    recipe = {key: value for key, value in config.items() if key not in NOT_RECIPE}
    text = json.dumps({"recipe": recipe, "commit": git_state()[0]}, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()


def recipe_name(config: dict[str, Any]) -> str:
    backbone = config["backbone"]
    return f"{backbone.get('model') or backbone['name']}-{config['data']['name']}"


def previous_parent(client: MlflowClient, experiment: str, fingerprint: str) -> Run | None:
    """The newest parent run of a repeat of this fingerprint, if the experiment has one."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return None
    runs = client.search_runs([found.experiment_id], filter_string=f"tags.`{REPEAT_TAG}` = '{fingerprint}'",
                              order_by=["attributes.start_time DESC"], max_results=1)  # fmt: skip
    return runs[0] if runs else None


def children(client: MlflowClient, parent_run_id: str) -> list[Run]:
    """The parent's child runs, newest first."""
    parent = client.get_run(parent_run_id)
    return client.search_runs([parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
                              order_by=["attributes.start_time DESC"], max_results=10000)  # fmt: skip


def finished_seeds(client: MlflowClient, parent_run_id: str) -> dict[int, Run]:
    """seed -> the newest FINISHED child run trained with it."""
    done: dict[int, Run] = {}
    for run in children(client, parent_run_id):
        seed = run.data.tags.get("cnnlab.seed")
        if run.info.status == "FINISHED" and seed is not None and seed.lstrip("-").isdigit():
            done.setdefault(int(seed), run)
    return done


@dataclass(frozen=True)
class SeedJob:
    seed: int
    config: dict[str, Any]
    resume: ResumePoint | None  # an interrupted child run of this seed, continued from its last checkpoint


def seed_job(client: MlflowClient, config: dict[str, Any], seed: int, parent_run_id: str, folder: Path) -> SeedJob:
    """The seed's child run: its interrupted run continued when it left a checkpoint, else a new one."""
    from cnnlab.tracking.source import load_source_run

    child = copy.deepcopy(config)
    child["seed"] = seed
    child["run_dir"] = str(folder / f"seed{seed}")
    child["tracking"]["run_name"] = f"{recipe_name(config)}-s{seed}"
    for run in children(client, parent_run_id):
        if run.data.tags.get("cnnlab.seed") != str(seed) or run.info.status not in ("KILLED", "RUNNING"):
            continue
        try:  # a run killed before its first checkpoint starts again from scratch
            source = load_source_run(client, run.info.run_id)
            checkpoint = source.checkpoint("last")
        except (CnnlabError, MlflowException):
            break
        # The parent's folder lock, held by this process, says no other process trains this repeat: force is safe.
        point = ResumePoint(run.info.run_id, checkpoint, [], status=run.info.status, force=True)
        print(f"cnnlab: seed {seed}: continuing run {run.info.run_id} from {checkpoint}")
        return SeedJob(seed, source.config, point)
    return SeedJob(seed, child, None)


def run_seeds(jobs_to_run: list[SeedJob], parent_run_id: str, jobs: int) -> None:
    """Each seed's run, in this process one after another, or `jobs` at a time in joblib's worker processes."""
    if jobs <= 1 or len(jobs_to_run) <= 1:
        for job in jobs_to_run:
            train_seed(job, parent_run_id)
        return
    from joblib import Parallel, delayed

    Parallel(n_jobs=min(jobs, len(jobs_to_run)), backend="loky")(
        delayed(train_seed)(job, parent_run_id) for job in jobs_to_run
    )


def train_seed(job: SeedJob, parent_run_id: str) -> None:
    from cnnlab.console import quiet_third_party

    quiet_third_party()  # a joblib worker starts bare
    train_config(job.config, parent_run_id=parent_run_id, resume=job.resume)


def summarise(parent: TrackedRun, runs: dict[int, Run], references: dict[str, float]) -> RepeatResult:
    """Logs each metric's interval over the seeds (and the verdict of each reference) to the parent."""
    values: dict[str, list[float]] = {}
    for run in runs.values():
        for key, value in run.data.metrics.items():
            if not key.startswith(MACHINE_METRICS):
                values.setdefault(key, []).append(value)
    intervals = {key: interval(v) for key, v in sorted(values.items()) if len(v) == len(runs) >= 2}
    check_references(references, values, intervals)
    metrics: dict[str, float] = {}
    for key, found in intervals.items():
        metrics |= {f"repeat/{key}_mean": found.mean, f"repeat/{key}_std": found.std,
                    f"repeat/{key}_ci_low": found.low, f"repeat/{key}_ci_high": found.high}  # fmt: skip
    verdicts = {key: intervals[key].verdict(value) for key, value in references.items() if key in intervals}
    parent.log_metrics({**metrics, "repeat/seeds": float(len(runs))})
    set_verdicts(parent, references, verdicts)
    parent.log_text(summary_table(intervals, references, verdicts), SUMMARY_FILE)
    parent.log_text(seeds_table(runs, sorted(intervals)), SEEDS_FILE)
    return RepeatResult(parent.run_id, {seed: run.info.run_id for seed, run in runs.items()}, intervals, verdicts)


def set_verdicts(parent: TrackedRun, references: dict[str, float], verdicts: dict[str, str]) -> None:
    """This call's references and verdicts as tags, replacing an earlier call's: a verdict stays true only for the
    interval it was drawn against, and the seeds (so the interval) may have changed since."""
    tags = {f"{VERDICT_TAG}{key}": verdict for key, verdict in verdicts.items()}
    tags |= {f"{REFERENCE_TAG}{key}": repr(references[key]) for key in verdicts}
    for key in parent.client.get_run(parent.run_id).data.tags:
        if key.startswith((VERDICT_TAG, REFERENCE_TAG)) and key not in tags:
            parent.client.delete_tag(parent.run_id, key)
    parent.set_tags(tags)


def check_reference_names(references: dict[str, float], done: dict[int, Run]) -> None:
    """Before the other seeds train: a reference must name a metric the finished seeds report."""
    reported = set.intersection(*(set(run.data.metrics) for run in done.values())) if done else set()
    for key in references:
        if done and key not in reported:
            tests = ", ".join(sorted(k for k in reported if k.startswith("test/") and k.count("/") == 1)) or "none"
            raise CnnlabError(f"--reference {key}: not a metric the seeds report; test metrics: {tests} (finished "
                              "seeds are kept: rerun with the right name)")  # fmt: skip


def check_references(references: dict[str, float], values: dict[str, list[float]], intervals: dict) -> None:
    """A reference must name a metric every seed reports, on its scale (0.912, not 91.2, for an accuracy)."""
    for key, reference in references.items():
        if key not in intervals:
            tests = ", ".join(k for k in intervals if k.startswith("test/")) or "none"
            raise CnnlabError(f"--reference {key}: not a metric every seed reports; test metrics: {tests} (the seeds "
                              "are kept: rerun with the right name to summarise without training)")  # fmt: skip
        if 1 < reference <= 100 and all(0 <= v <= 1 for v in values[key]):
            raise CnnlabError(f"--reference {key}={reference:g}: {key} is a fraction (the seeds report values in "
                              f"[0, 1]); give {reference / 100:g}")  # fmt: skip


def summary_table(intervals: dict[str, Interval], references: dict[str, float], verdicts: dict[str, str]) -> str:
    lines = ["metric,n,mean,std,ci_low,ci_high,reference,verdict"]
    for key, found in intervals.items():
        reference = references.get(key)
        lines.append(f"{key},{found.n},{found.mean!r},{found.std!r},{found.low!r},{found.high!r},"
                     f"{'' if reference is None else repr(reference)},{verdicts.get(key, '')}")  # fmt: skip
    return "\n".join(lines) + "\n"


def seeds_table(runs: dict[int, Run], keys: list[str]) -> str:
    lines = [",".join(["seed", "run_id", *keys])]
    for seed, run in sorted(runs.items()):
        lines.append(",".join([str(seed), run.info.run_id, *(repr(run.data.metrics[key]) for key in keys)]))
    return "\n".join(lines) + "\n"
