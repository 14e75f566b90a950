"""What a cnnlab command shows: its own lines, a progress bar and the results. Third-party chatter a user of cnnlab
cannot act on is filtered here, each filter with its reason; everything else (warnings about the user's data or
settings) is shown."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

# Lightning's INFO lines: "Seed set to", GPU/TPU availability, the LitLogger and litmodels tips, "Loading
# train_dataloader to estimate the number of stepping batches", the model summary (kept as the run's
# model_summary.txt artifact, where its FLOPs column reads 0 for lack of an example input). Warnings still show.
LIGHTNING_LOGGERS = ("pytorch_lightning", "lightning_fabric", "lightning.pytorch", "lightning.fabric")


def quiet_third_party() -> None:
    """Called once by the CLI, before a command runs."""
    quiet_lightning()
    # MLflow's INFO ("Creating initial MLflow database tables...") describes its own housekeeping. MLflow sets its
    # logger's level from this variable when it is imported, which the CLI does only when a command needs it.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    logging.getLogger("mlflow").setLevel(os.environ["MLFLOW_LOGGING_LEVEL"].upper())
    # MLflow draws a progress bar for every artifact it downloads (a run's config, a checkpoint): noise around one
    # line of result.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # Lightning 2.6 calls a torch pytree API that torch 2.14 deprecates; it says so on every run, and only a newer
    # Lightning can change it.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*", category=FutureWarning)


def quiet_lightning() -> None:
    """Also called where Lightning is used (training, evaluation): importing Lightning sets its loggers back to
    INFO, and the CLI imports it only when a command needs it."""
    for name in LIGHTNING_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"  # as on the console (conf/hydra/job_logging)


@contextmanager
def kept_in(path: Path) -> Iterator[None]:
    """While the block runs, what the command prints and logs also goes to `path` (a run's train.log): progress
    bars as their last state, and how the block ended when it raised."""
    with open(path, "a", encoding="utf-8") as file:
        handler = logging.StreamHandler(file)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root = logging.getLogger()
        root.addHandler(handler)
        out, err = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Tee(out, file), _Tee(err, file)
        try:
            yield
        except BaseException as error:
            file.write(f"stopped: {type(error).__name__}: {error}\n")
            raise
        finally:
            sys.stdout, sys.stderr = out, err
            root.removeHandler(handler)


class _Tee:
    """A text stream that also appends each complete line to `copy`. A line redrawn with \\r keeps its last
    state; what is drawn with terminal control sequences (a progress bar live on a terminal) is not copied."""

    def __init__(self, stream: TextIO, copy: TextIO) -> None:
        self.stream, self.copy, self.pending = stream, copy, ""

    def write(self, text: str) -> int:
        if "\x1b" not in text:
            self._copy(text)
        return self.stream.write(text)

    def _copy(self, text: str) -> None:
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            self.copy.write(line.rsplit("\r", 1)[-1] + "\n")
        if lines:
            self.copy.flush()

    def __getattr__(self, name: str):  # flush, isatty, fileno, encoding: the terminal's
        return getattr(self.stream, name)
