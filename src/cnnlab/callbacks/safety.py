"""Training callbacks that keep failures safe (tracking callbacks live in cnnlab.tracking): seeds per epoch, so a
resumed run repeats the uninterrupted one; a stop on a non-finite loss that names the step; a checkpoint when
the run is interrupted."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.exceptions import SIGTERMException

from cnnlab.data.epochs import mixed_seed
from cnnlab.errors import CnnlabError
from cnnlab.tasks.checkpoints import RUN_KEY
from cnnlab.tracking.run import TrackedRun

INTERRUPTED_CHECKPOINT = "interrupted.ckpt"


class EpochSeeds(pl.Callback):
    """Seeds torch, numpy and random from (seed, epoch) before each epoch's first step (dropout and any other draw
    the network makes), so a run resumed at an epoch boundary trains exactly as an uninterrupted one. The data's
    shuffle and augmentations are seeded per epoch and sample by the DataModule (cnnlab.data.epochs)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int) -> None:
        if batch_idx == 0:
            seed = mixed_seed(self.seed, trainer.current_epoch, trainer.global_rank)
            torch.manual_seed(seed)
            np.random.seed(seed)
            random.seed(seed)


class StampRunId(pl.Callback):
    """Writes the MLflow run id into every checkpoint, so commands that read a run's checkpoint from its folder can
    tell it from another run's file left in a reused folder."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict) -> None:
        checkpoint[RUN_KEY] = self.run_id


class NonFiniteLoss(pl.Callback):
    """Stops training at the first step whose loss is NaN or infinite, naming the step and what to try."""

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is None:
            return
        value = float(loss.detach())
        if not math.isfinite(value):
            raise CnnlabError(
                f"the training loss is {value} at step {trainer.global_step} (epoch {trainer.current_epoch}, batch "
                f"{batch_idx}); lower optimizer.lr or set trainer.gradient_clip_val; {last_good_checkpoint(trainer)}"
            )


def last_good_checkpoint(trainer: pl.Trainer) -> str:
    """Where the end of the last full epoch was saved, if an epoch has ended."""
    for callback in trainer.checkpoint_callbacks:
        last = Path(callback.dirpath or "") / "last.ckpt"
        if callback.dirpath and last.is_file():
            return f"the last good checkpoint is {last}"
    return "no epoch had ended, so there is no checkpoint to go back to"


class FailureCheckpoints(pl.Callback):
    """When fit stops on an exception: on Ctrl-C or SIGTERM saves checkpoints/interrupted.ckpt (the weights at the
    interruption); on any failure logs the last good checkpoint (last.ckpt, end of the last full epoch) to MLflow."""

    def __init__(self, run: TrackedRun, checkpoint_dir: Path, *, log_checkpoint: bool) -> None:
        self.run = run
        self.checkpoint_dir = checkpoint_dir
        self.log_checkpoint = log_checkpoint

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        interrupted = isinstance(exception, (KeyboardInterrupt, SIGTERMException))
        if interrupted and trainer.world_size == 1:  # saving is collective under DDP, and the other ranks went on
            trainer.save_checkpoint(self.checkpoint_dir / INTERRUPTED_CHECKPOINT)
        last = self.checkpoint_dir / "last.ckpt"
        if trainer.is_global_zero and self.log_checkpoint and last.is_file():
            self.run.log_file(last, "checkpoints")
