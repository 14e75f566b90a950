"""Weight averaging (EMA, SWA) that validates, tests and serves the averaged weights."""

from __future__ import annotations

import warnings
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import EMAWeightAveraging, StochasticWeightAveraging
from pytorch_lightning.trainer.states import TrainerFn

from cnnlab.tasks.schedules import LR_KEY


class EMA(EMAWeightAveraging):
    """Lightning's EMA of the weights: validation runs on the average, checkpoints hold it as their state_dict
    (the raw weights ride along for resuming), and the average is what training ends with.

    Lightning reloads the raw weights whenever this callback sees a checkpoint, also for `trainer.test(ckpt_path=
    best)` after fit, which would test the raw weights; outside fitting the checkpoint's state_dict (the average)
    is kept.
    """

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if trainer.state.fn == TrainerFn.FITTING:
            super().on_load_checkpoint(trainer, pl_module, checkpoint)


class SWA(StochasticWeightAveraging):
    """Lightning's stochastic weight averaging. From swa_epoch_start it swaps the run's schedule for its own
    constant (annealed) rate, which is logged as train/lr like every schedule's; cnnlab's schedules all step per
    batch, so Lightning's warning that SWA replaces a per-step schedule says nothing here."""

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="SWA is currently only supported every epoch")
            super().on_train_epoch_start(trainer, pl_module)
        for config in trainer.lr_scheduler_configs:
            if config.scheduler is self._swa_scheduler:
                config.name = LR_KEY
