"""Hydra callbacks the tests load into a `cnnlab` process (`+hydra.callbacks.NAME._target_=tests.process_hooks.X`),
so that a fault lands at a point the process itself signals, never at a moment a polling test happened to pick."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


class InterruptAtJob(Callback):
    """Ctrl-C (SIGINT to its own process) as job `job` of a sweep starts."""

    def __init__(self, job: int) -> None:
        self.job = job

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if config.hydra.job.num == self.job:
            os.kill(os.getpid(), signal.SIGINT)


class PauseAfterFirstEpoch(Callback):
    """After the run logs its first val/acc: writes `reached`, then waits (up to 10 minutes) for `resume` to exist."""

    def __init__(self, reached: str, resume: str) -> None:
        self.reached, self.resume = Path(reached), Path(resume)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        from cnnlab.tracking.run import TrackedRun

        log_points, hook = TrackedRun.log_points, self

        def pausing(run: TrackedRun, batch) -> None:
            log_points(run, batch)
            if any(point.key == "val/acc" for point in batch) and not hook.reached.exists():
                hook.reached.touch()
                deadline = time.monotonic() + 600
                while not hook.resume.exists() and time.monotonic() < deadline:
                    time.sleep(0.05)

        TrackedRun.log_points = pausing


class RetryEvery(Callback):
    """MLflow's HTTP retries at most `seconds` apart (urllib3 doubles the wait, up to two minutes): a restarted
    server is found within seconds of answering, not up to the restart's own length later."""

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        from urllib3.util.retry import Retry

        backoff, cap = Retry.get_backoff_time, self.seconds
        Retry.get_backoff_time = lambda retry: min(backoff(retry), cap)


class MeetPeers(Callback):
    """Each process's first job waits (up to 2 minutes) until `peers` processes have started theirs, so that
    processes sharing a sweep surely overlap (a fast starter cannot run every trial before the others ask)."""

    def __init__(self, folder: str, peers: int) -> None:
        self.folder, self.peers, self.met = Path(folder), int(peers), False

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if self.met:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / str(os.getpid())).touch()
        deadline = time.monotonic() + 120
        while len(list(self.folder.iterdir())) < self.peers and time.monotonic() < deadline:
            time.sleep(0.05)
        self.met = True


class TouchAfterFirstEpoch(Callback):
    """Touches `folder`/<job number> once the job's run has logged its first val/acc: the job is training."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        from cnnlab.tracking.run import TrackedRun

        log_points, marker = TrackedRun.log_points, self.folder / str(config.hydra.job.num)
        self.folder.mkdir(parents=True, exist_ok=True)

        def touching(run: TrackedRun, batch) -> None:
            log_points(run, batch)
            if any(point.key == "val/acc" for point in batch):
                marker.touch()

        TrackedRun.log_points = touching
