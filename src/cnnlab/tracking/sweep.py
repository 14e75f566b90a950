"""One MLflow parent run per Hydra sweep, with every job's run nested under it.

SweepRuns is a Hydra callback (conf/train.yaml: hydra.callbacks). When a multirun starts it creates the parent run
and hands its id to the jobs through the environment (inherited by joblib workers and SLURM jobs alike); each job's
train() nests its run under it. When the sweep ends the parent gets the best job, a summary table and plots, and
the terminal the best job's run, score and overrides.
"""

from __future__ import annotations

import atexit
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from cnnlab.tracking.tags import OVERRIDES_TAG, SWEEP_PARENT_TAG

if TYPE_CHECKING:
    from cnnlab.tracking.run import TrackedRun

PARENT_ENV = "CNNLAB_SWEEP_PARENT_RUN_ID"
# Jobs of the last sweep in this process that did not finish: `cnnlab train -m` exits non-zero when there are any.
last_sweep_failures = 0


def sweep_parent_run_id() -> str | None:
    """The parent run of the sweep this job belongs to; None outside a multirun."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    return os.environ.get(PARENT_ENV)


def sweep_job_number() -> int:
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get().job.num


STUDY_TAG = "cnnlab.optuna_study"  # on a sweep's parent run: the Optuna study (storage and name) it belongs to


def optuna_study_key(config: DictConfig) -> str | None:
    """'<study name>@<storage>' for a sweep of cnnlab's Optuna sweeper with a persistent storage, else None."""
    sweeper = config.hydra.sweeper
    if not str(sweeper.get("_target_", "")).endswith("cnnlab_optuna.sweeper.OptunaSweeper") or not sweeper.storage:
        return None
    storage = re.sub(r"//[^/@]*@", "//", str(sweeper.storage))  # no user or password in a tag
    return f"{sweeper.study_name}@{storage}"


def study_parent(client, experiment_id: str, uri: str, study: str, created: TrackedRun | None = None):
    """The oldest sweep parent run of the study, reopened when it had ended (a resumed study keeps its parent);
    `created`, a parent this process just made, is deleted when an older one exists."""
    from cnnlab.tracking.run import TrackedRun, reopen_run

    runs = client.search_runs([experiment_id], filter_string=f"tags.`{STUDY_TAG}` = '{study}'",
                              order_by=["attributes.start_time ASC"], max_results=1)  # fmt: skip
    if not runs or (created is not None and runs[0].info.run_id == created.run_id):
        return None
    run = runs[0]
    if created is not None:
        client.delete_run(created.run_id)
    if run.info.status != "RUNNING":
        return reopen_run(client, run.info.run_id, uri, [])
    return TrackedRun(client, run.info.run_id, experiment_id, uri, run.info.run_name)


class SweepRuns(Callback):
    def __init__(self) -> None:
        self.parent: TrackedRun | None = None
        self.failed_jobs = 0

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # MLflow and Lightning load only when a sweep starts: Hydra sets this callback up for `--help` too
        from mlflow.tracking import MlflowClient

        from cnnlab.tracking.provenance import provenance_tags
        from cnnlab.tracking.run import TrackedRun
        from cnnlab.tracking.store import check_store, ensure_experiment, resolve_tracking_uri

        tracking = OmegaConf.to_container(config.tracking, resolve=True)
        task = OmegaConf.to_container(config.task, resolve=True)
        uri = resolve_tracking_uri(tracking["uri"])
        check_store(uri)  # creates a new sqlite store's tables under a lock (jobs may open it at once)
        client = MlflowClient(uri)
        experiment_id = ensure_experiment(client, tracking["experiment"], tracking["artifact_root"])
        overrides = list(config.hydra.overrides.task)
        sweeper = str(config.hydra.sweeper.get("_target_", "")).rsplit(".", 1)[-1]
        tags = {
            **provenance_tags(),
            SWEEP_PARENT_TAG: "true",
            "cnnlab.sweeper": sweeper,
            OVERRIDES_TAG: " ".join(overrides),
            "cnnlab.task": task["name"],
            "cnnlab.monitor": task["monitor"],
            "cnnlab.monitor_mode": task["monitor_mode"],
        }
        study = optuna_study_key(config)
        if study:
            tags[STUDY_TAG] = study
        self.parent = study_parent(client, experiment_id, uri, study) if study else None
        if self.parent is None:
            name = f"sweep-{tracking['run_name'] or task['name']}"
            run = client.create_run(experiment_id, run_name=name, tags=tags)
            self.parent = TrackedRun(client, run.info.run_id, experiment_id, uri, run.info.run_name)
            if study:  # two workers starting one study at the same moment: both keep the older parent
                self.parent = study_parent(client, experiment_id, uri, study, created=self.parent) or self.parent
        else:
            print(f"MLflow: reopening the study's sweep parent run {self.parent.run_id}")
        self.sweep_dir = Path(str(config.hydra.sweep.dir)).resolve()
        self.parent.log_text("\n".join(overrides) + "\n", "sweep_overrides.txt")
        os.environ[PARENT_ENV] = self.parent.run_id
        atexit.register(self._end_if_interrupted)
        print(f"MLflow: sweep parent run {self.parent.run_id} in {uri}")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from cnnlab.tracking.sweep_summary import job_results, launched_jobs, summarise

        if self.parent is None:
            return
        parent, self.parent = self.parent, None
        os.environ.pop(PARENT_ENV, None)
        atexit.unregister(self._end_if_interrupted)
        jobs = job_results(parent)  # of every process and session of a study that shares the parent
        # This command's jobs: those in its sweep folder. A job stopped by a bad setting never made a run: count
        # jobs by the folders Hydra made for them.
        mine = [job for job in jobs if Path(job["run_dir"]).resolve().is_relative_to(self.sweep_dir)]
        launched = max(len(mine), launched_jobs(self.sweep_dir))
        finished = sum(job["status"] == "FINISHED" for job in mine)
        self.failed_jobs = launched - finished
        global last_sweep_failures
        last_sweep_failures = self.failed_jobs
        best_job_line = summarise(parent, jobs)
        if not any(job["status"] == "RUNNING" for job in jobs):  # else a worker on another machine still runs
            done = any(job["status"] == "FINISHED" for job in jobs)
            parent.client.set_terminated(parent.run_id, "FINISHED" if done else "FAILED")
        pruned = sum("cnnlab.pruned" in job["tags"] for job in mine)
        print(f"MLflow: sweep {parent.run_id}: {finished} of {launched} jobs finished"
              + (f" ({pruned} pruned early)" if pruned else ""))
        print(best_job_line)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        # Every job, swept or not, starts here; each job of a multirun times its start-up from it
        from hydra.types import RunMode

        from cnnlab.tracking.callbacks import mark_job_start

        mark_job_start(OmegaConf.select(config, "hydra.mode") == RunMode.MULTIRUN)

    def _end_if_interrupted(self) -> None:
        """At exit without on_multirun_end (Ctrl-C, a crash): neither the parent nor a job of this command stays
        RUNNING. Hydra's joblib launcher kills its workers on Ctrl-C, before their jobs can end their runs (each has
        the last epoch's checkpoints/last.ckpt to resume from)."""
        from cnnlab.tracking.sweep_summary import job_results

        if self.parent is None:
            return
        for job in job_results(self.parent):  # of this command only: other machines may share a study's parent
            if job["status"] == "RUNNING" and Path(job["run_dir"]).resolve().is_relative_to(self.sweep_dir):
                self.parent.client.set_terminated(job["run_id"], "KILLED")
        self.parent.client.set_terminated(self.parent.run_id, "KILLED")
