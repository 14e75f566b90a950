"""A Hydra callback for tests: Ctrl-C (SIGINT to its own process) as job N of a sweep starts, so an interruption
lands at a point the sweep itself defines, never at a moment a polling test happened to pick."""

from __future__ import annotations

import os
import signal
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


class InterruptAtJob(Callback):
    def __init__(self, job: int) -> None:
        self.job = job

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if config.hydra.job.num == self.job:
            os.kill(os.getpid(), signal.SIGINT)
