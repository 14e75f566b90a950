"""Lightning's learning-rate and batch-size finders, with what they found printed and recorded on the run."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytorch_lightning as pl
from pytorch_lightning.callbacks import BatchSizeFinder, LearningRateFinder

from cnnlab.tracking.run import TrackedRun


class RecordedLearningRateFinder(LearningRateFinder):
    """Before training, sweeps the learning rate over a few steps (then restores the weights), sets optimizer.lr
    to the suggestion (the steepest descent of the loss) and logs it as lr_finder/suggestion with the loss-versus-
    rate plot (lr_finder.png)."""

    def __init__(self, run: TrackedRun, resuming: bool, **options) -> None:
        super().__init__(**options)
        self.run = run
        self.resuming = resuming

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.resuming:  # a resumed run keeps the rate it was trained with
            return
        configured = pl_module.lr
        with quiet_logger("pytorch_lightning.tuner.lr_finder"):  # its "not enough points" is said below
            super().on_fit_start(trainer, pl_module)
            suggestion = self.optimal_lr.suggestion() if self.optimal_lr is not None else None
        if not trainer.is_global_zero or self.optimal_lr is None:
            return
        self.run.log_figure(self.optimal_lr.plot(suggest=suggestion is not None), "lr_finder.png")
        if suggestion is None:
            print(f"cnnlab: the learning-rate finder found no suggestion (too few steps, or the loss never fell: raise "
                  f"callbacks.lr_finder.num_training_steps); training with optimizer.lr={configured}")  # fmt: skip
            return
        self.run.log_metrics({"lr_finder/suggestion": suggestion})
        used = "training with it" if self._update_attr else f"training with optimizer.lr={configured}"
        print(f"cnnlab: the learning-rate finder suggests optimizer.lr={suggestion:.3g} ({used}; plot: lr_finder.png)")


class RecordedBatchSizeFinder(BatchSizeFinder):
    """Before training, grows data.batch_size (doubling, or by binary search) while a few steps still fit in
    memory; trains with the largest that did and logs it as tuned/batch_size."""

    def __init__(self, run: TrackedRun, resuming: bool, **options) -> None:
        super().__init__(**options)
        self.run = run
        self.resuming = resuming

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.resuming:  # a resumed run keeps its batches (and so its epochs' samples)
            return
        # A batch larger than the training split is the split (Lightning's search would double past it on a
        # machine that never runs out of memory)
        self._max_val = min(self._max_val, len(trainer.datamodule.train_dataloader().dataset))
        super().on_fit_start(trainer, pl_module)
        if trainer.is_global_zero and self.optimal_batch_size:
            self.run.log_metrics({"tuned/batch_size": float(self.optimal_batch_size)})
            print(f"cnnlab: the batch-size finder picked data.batch_size={self.optimal_batch_size}")


@contextmanager
def quiet_logger(name: str) -> Iterator[None]:
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)
