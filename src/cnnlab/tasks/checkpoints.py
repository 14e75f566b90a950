"""Reading checkpoints safely: tensors and plain data only (torch.load(weights_only=True)), and weights only
into the task and network that wrote them."""

from __future__ import annotations

import logging
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from cnnlab.errors import CnnlabError

log = logging.getLogger(__name__)
TASK_KEY = "cnnlab_task"  # the name of the task that wrote a checkpoint, stored by BaseTask.on_save_checkpoint
RUN_KEY = "cnnlab_run_id"  # the MLflow run whose training wrote it, stored by cnnlab.callbacks.StampRunId


def checkpoint_field(path: str | Path, key: str) -> Any:
    """One top-level entry of a checkpoint (None when absent or unreadable). Memory-mapped: the weights are not
    read."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True).get(key)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, AttributeError):
        return None


def checkpoint_run_id(path: str | Path) -> str | None:
    """The run id stamped in a checkpoint (None for one written before stamping, or one that cannot be read)."""
    return checkpoint_field(path, RUN_KEY)


def read_checkpoint(path: str | Path, setting: str = "init_from") -> dict[str, Any]:
    """A checkpoint's contents; a file holding pickled objects besides data is refused (loading it could run code)."""
    path = Path(path)
    if path.is_dir():
        raise CnnlabError(f"{setting}={path} is a folder; give a .ckpt file from a run's checkpoints/ folder")
    if not path.is_file():
        raise CnnlabError(f"{setting}={path}: no such file; give a .ckpt from a run's checkpoints/ folder")
    if not zipfile.is_zipfile(path):  # torch.save writes zip archives since torch 1.6
        raise CnnlabError(f"{setting}={path} is not a checkpoint (not a file torch.save wrote); give a .ckpt file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CnnlabError(
            f"{setting}={path}: refused: it holds pickled Python objects besides tensors and plain data, and "
            "loading those could run code; use a checkpoint written by cnnlab, or save a state_dict"
        ) from err
    except (RuntimeError, EOFError, OSError) as err:
        raise CnnlabError(f"{setting}={path}: not a readable checkpoint ({str(err).splitlines()[0]})") from err


def load_initial_weights(task: torch.nn.Module, path: str | Path, task_name: str) -> None:
    """Starts `task` from the weights of a checkpoint written by the same task with the same network."""
    checkpoint = read_checkpoint(path)
    written_by = checkpoint.get(TASK_KEY)
    if written_by != task_name:
        source = f"task={written_by}" if written_by else "no cnnlab task"
        raise CnnlabError(
            f"init_from={path} was written by {source}, but this run is task={task_name}; "
            f"give a checkpoint of a {task_name} run"
        )
    trained_on = checkpoint.get("hyper_parameters", {}).get("class_names")
    if trained_on is not None and list(trained_on) != list(getattr(task, "class_names", trained_on)):
        # the output layer's rows follow the class order: by name they would mean other classes
        log.warning("init_from=%s was trained on classes %s, this data has %s: the output layer starts from rows "
                    "of other classes (fine-tuning retrains it)", path, list(trained_on), task.class_names)  # fmt: skip
    try:
        task.load_state_dict(checkpoint["state_dict"])
    except (KeyError, RuntimeError) as err:
        detail = " ".join(str(err).split())[:300]
        raise CnnlabError(
            f"init_from={path}: its weights do not fit this backbone ({detail}); use a checkpoint of the same backbone"
        ) from err
