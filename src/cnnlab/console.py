"""What a cnnlab command shows: its own lines, a progress bar and the results. Third-party chatter a user of cnnlab
cannot act on is filtered here, each filter with its reason; everything else (warnings about the user's data or
settings) is shown."""

from __future__ import annotations

import logging
import os
import warnings

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
