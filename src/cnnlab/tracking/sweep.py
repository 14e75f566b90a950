"""One MLflow parent run per Hydra sweep, with every job's run nested under it.

SweepRuns is a Hydra callback (conf/train.yaml: hydra.callbacks). When a multirun starts it creates the parent run
and hands its id to the jobs through the environment (inherited by joblib workers and SLURM jobs alike); each job's
train() nests its run under it. When the sweep ends the parent gets the best job, a summary table and plots, and
the terminal the best job's run, score and overrides.
"""

from __future__ import annotations

import atexit
import os
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
        name = f"sweep-{tracking['run_name'] or task['name']}"
        run = client.create_run(experiment_id, run_name=name, tags=tags)
        self.parent = TrackedRun(client, run.info.run_id, experiment_id, uri, run.info.run_name)
        self.parent.log_text("\n".join(overrides) + "\n", "sweep_overrides.txt")
        os.environ[PARENT_ENV] = run.info.run_id
        atexit.register(self._end_if_interrupted)
        print(f"MLflow: sweep parent run {run.info.run_id} in {uri}")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from cnnlab.tracking.sweep_summary import job_results, launched_jobs, summarise

        if self.parent is None:
            return
        parent, self.parent = self.parent, None
        os.environ.pop(PARENT_ENV, None)
        atexit.unregister(self._end_if_interrupted)
        jobs = job_results(parent)
        # A job stopped by a bad setting never made a run: count jobs by the folders Hydra made for them.
        launched = max(len(jobs), launched_jobs(Path(config.hydra.sweep.dir)))
        finished = sum(job["status"] == "FINISHED" for job in jobs)
        self.failed_jobs = launched - finished
        global last_sweep_failures
        last_sweep_failures = self.failed_jobs
        best_job_line = summarise(parent, jobs)
        parent.client.set_terminated(parent.run_id, "FINISHED" if finished else "FAILED")
        print(f"MLflow: sweep {parent.run_id}: {finished} of {launched} jobs finished")
        print(best_job_line)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        # Every job, swept or not, starts here; each job of a multirun times its start-up from it
        from hydra.types import RunMode

        from cnnlab.tracking.callbacks import mark_job_start

        mark_job_start(OmegaConf.select(config, "hydra.mode") == RunMode.MULTIRUN)

    def _end_if_interrupted(self) -> None:
        """At exit without on_multirun_end (Ctrl-C, a crash): the parent must not stay RUNNING."""
        if self.parent is not None:
            self.parent.client.set_terminated(self.parent.run_id, "KILLED")
