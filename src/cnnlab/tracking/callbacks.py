"""Lightning callback that puts a run's files into MLflow: model summary, best checkpoint, the task's figures
and text files."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.model_summary import ModelSummary

from cnnlab.models.layer_table import format_layer_table, layer_table
from cnnlab.tracking.datasets import log_splits
from cnnlab.tracking.run import TrackedRun

log = logging.getLogger(__name__)


def layers_section(task: pl.LightningModule, batch: Any) -> str:
    """The per-layer table of the task's network for the batch's first example, or why there is none."""
    try:
        example = task.serving_example(batch)[:1]
        unit = "tokens" if example.ndim == 2 else "px"
        rows = layer_table(task.serving_network(), example)
    except Exception as err:  # noqa: BLE001 - a network the tracer cannot follow costs the table, not the run
        return f"Layers: not traced ({type(err).__name__}: {err})"
    heading = f"Layers (one example of shape {tuple(example.shape[1:])}; feature maps as H×W×C):"
    return f"{heading}\n{format_layer_table(rows, unit)}"


class MlflowArtifacts(pl.Callback):
    def __init__(self, run: TrackedRun, *, log_checkpoint: bool = True) -> None:
        self.run = run
        self.summary: str | None = None  # the model summary, until the first batch adds the layer table
        self.log_checkpoint = log_checkpoint
        self.skipped_reported = 0

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.summary = str(ModelSummary(pl_module, max_depth=3)) if trainer.is_global_zero else None

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, *_: Any) -> None:
        """model_summary.txt, with every layer's output shape and receptive field for one of the first batch's
        examples (the input the network really gets), logged once."""
        if self.summary is None:
            return
        summary, self.summary = self.summary, None
        self.run.log_text(f"{summary}\n\n{layers_section(pl_module, batch)}\n", "model_summary.txt")

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.summary is not None:  # no training batch ran (limit_train_batches=0)
            self.run.log_text(self.summary, "model_summary.txt")
            self.summary = None
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        if trainer.is_global_zero and self.log_checkpoint and best:
            self.run.log_file(best, "checkpoints")
        self._log_skipped(trainer)

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._log_queued(trainer, pl_module)
        self._log_skipped(trainer)

    def _log_skipped(self, trainer: pl.Trainer) -> None:
        """data.on_bad_sample=skip: how many samples were skipped (metric data/skipped_samples) and why."""
        bad_samples = getattr(trainer.datamodule, "bad_samples", None)
        skipped = bad_samples.recorded() if bad_samples is not None else []
        if skipped and trainer.is_global_zero and len(skipped) != self.skipped_reported:
            self.skipped_reported = len(skipped)  # after fit and after test: said once, unless test found more
            self.run.log_metrics({"data/skipped_samples": len(skipped)})
            self.run.log_text("\n".join(skipped) + "\n", "bad_samples.txt")
            log.warning("skipped %d bad sample(s); the list is the run's bad_samples.txt artifact", len(skipped))

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._log_queued(trainer, pl_module)

    def _log_queued(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Saves the figures (confusion matrices, overlays) and texts the task queued, and frees them."""
        figures = pl_module.pop_figures()  # a cnnlab task (BaseTask) queues them
        for name, figure in figures.items():
            if trainer.is_global_zero:
                self.run.log_figure(figure, name)
            plt.close(figure)
        texts = pl_module.pop_texts()
        for name, text in texts.items():
            if trainer.is_global_zero:
                self.run.log_text(text, name)


class DatasetInputs(pl.Callback):
    """Logs the data's splits as the run's MLflow dataset inputs once they are set up (when fit starts)."""

    def __init__(self, run: TrackedRun, data_settings: Mapping[str, Any]) -> None:
        self.run = run
        self.data_settings = data_settings

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero and getattr(trainer.datamodule, "splits", None) is not None:
            log_splits(self.run, trainer.datamodule, self.data_settings)


class StartupTime(pl.Callback):
    """`time/startup_s`: seconds from the job's start to the end of its first optimizer step (job_age). Logged
    when fit ends: MLflow's compare page plots the first metric a run logged by default, and runs are not to be
    compared by how long they took to start."""

    def __init__(self, run: TrackedRun) -> None:
        self.run = run
        self.seconds: float | None = None

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args) -> None:
        if self.seconds is None:
            self.seconds = job_age()

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.seconds is not None and trainer.is_global_zero:
            self.run.log_metrics({"time/startup_s": self.seconds})


IMPORTED_AT = time.monotonic()
# When the current job of a multirun started (its jobs share one process, or a worker does several); None for a
# single run, whose start-up is the process's own.
job_started_at: float | None = None


def mark_job_start(multirun: bool) -> None:
    """Called as each Hydra job starts (SweepRuns.on_job_start)."""
    global job_started_at
    job_started_at = time.monotonic() if multirun else None


def job_age() -> float:
    """Seconds since this job started: a single run's since the process started (interpreter start-up counts),
    each job of a multirun since its own start, so that the jobs of a sweep are timed alike."""
    return process_age() if job_started_at is None else time.monotonic() - job_started_at


def process_age() -> float:
    """Seconds since this process started (Linux: the kernel's start time, so interpreter start-up counts);
    elsewhere, since this module was imported."""
    try:
        # /proc/self/stat field 22 is the start time in clock ticks after boot; the command name may hold spaces
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.monotonic() - IMPORTED_AT


class RankConsistency(pl.Callback):
    """Under DDP: checks that every rank trains the same config (run_dir aside, which torchrun ranks compose
    themselves) and tags the run with the world size and each rank's config digest."""

    def __init__(self, run: TrackedRun, config: dict) -> None:
        trained = {key: value for key, value in config.items() if key != "run_dir"}
        self.digest = int(hashlib.sha1(json.dumps(trained, sort_keys=True).encode()).hexdigest()[:15], 16)
        self.run = run

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.world_size == 1:
            return
        digests = trainer.strategy.all_gather(torch.tensor(self.digest, dtype=torch.int64)).flatten().tolist()
        if trainer.is_global_zero:
            self.run.set_tags({"cnnlab.world_size": str(trainer.world_size),
                               "cnnlab.ddp.config_digests": ",".join(f"{d:x}" for d in digests)})  # fmt: skip
        if len(set(digests)) > 1:
            raise RuntimeError(f"DDP ranks train different configs (digests {digests}); check the launch command")
