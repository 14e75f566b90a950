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

from cnnlab.errors import CnnlabError
from cnnlab.tracking import TrackedRun

INTERRUPTED_CHECKPOINT = "interrupted.ckpt"


class EpochSeeds(pl.Callback):
    """Seeds torch, numpy, random and the training transform from (seed, epoch) when each epoch starts.

    The randomness of epoch e (shuffle order, augmentations, dropout) then depends on nothing that came before, so
    a run resumed from the end of epoch k trains epochs k+1.. exactly as an uninterrupted run does. Transforms in
    DataLoader workers keep their own per-worker seeds: with data.num_workers > 0 resumes are statistically, not
    bitwise, the same.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        seed = (self.seed * 1_000_003 + trainer.current_epoch * 7919 + trainer.global_rank) % 2**32
        torch.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)
        transform = getattr(trainer.datamodule, "train_transform", None)
        if hasattr(transform, "set_random_seed"):  # an albumentations Compose run in this process
            transform.set_random_seed(seed)


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
                f"{batch_idx}); lower optimizer.lr or set trainer.gradient_clip_val; the last good checkpoint is "
                "checkpoints/last.ckpt in the run folder"
            )


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
