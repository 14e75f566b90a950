"""What the debug modes (conf/debug/) add to a run beyond Trainer arguments: a profiler whose report becomes an
artifact, and the verdict of an overfitting check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.profilers import AdvancedProfiler, Profiler, PyTorchProfiler, SimpleProfiler

from cnnlab.errors import CnnlabError
from cnnlab.tracking.run import TrackedRun

PROFILERS = {"simple": SimpleProfiler, "advanced": AdvancedProfiler, "pytorch": PyTorchProfiler}
PROFILE_DIR = "profile"
OVERFIT_LOSS = 0.05  # a training loss this low on a few batches: the model, loss and labels can fit


def profiler(choice: Any, run_dir: Path) -> Profiler | None:
    """trainer.profiler=simple|advanced|pytorch as Lightning's profiler writing its report into the run folder."""
    if choice is None or isinstance(choice, Profiler):
        return choice
    if choice not in PROFILERS:
        raise CnnlabError(f"trainer.profiler={choice} is not valid; use one of: {', '.join(PROFILERS)} (or null)")
    return PROFILERS[choice](dirpath=run_dir / PROFILE_DIR, filename="profile")


def log_profile(run: TrackedRun, run_dir: Path) -> None:
    """The profiler's reports (one per stage: fit-profile.txt, test-profile.txt) as the run's profile/ artifact."""
    folder = run_dir / PROFILE_DIR
    if folder.is_dir():
        for report in sorted(folder.iterdir()):
            if report.is_file():
                run.log_file(report, PROFILE_DIR)
        print(f"cnnlab: the profile of this run is in {folder} (and the run's {PROFILE_DIR}/ artifact)")


def overfit_verdict(trainer: pl.Trainer) -> str | None:
    """With trainer.overfit_batches: whether the training loss on those few batches came close to 0."""
    if not trainer.overfit_batches:
        return None
    loss = trainer.callback_metrics.get("train/loss_epoch")
    if loss is None:
        return None
    head = (f"cnnlab: overfit check: training loss {float(loss):.3g} on {trainer.overfit_batches} batches after "
            f"{trainer.current_epoch} epochs; ")  # fmt: skip
    if float(loss) <= OVERFIT_LOSS:
        return head + "the model can fit its data"
    return head + ("not near 0: check the labels, the loss and optimizer.lr, or train longer "
                   "(trainer.max_epochs)")  # fmt: skip
