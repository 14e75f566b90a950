"""Tags that say where a run came from: code version, git state, command line."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import cnnlab

SOURCE_DIR = Path(cnnlab.__file__).resolve().parent
COMMAND_ENV = "CNNLAB_COMMAND"  # how the CLI names the running command ("cnnlab train"), for the command tag
# The whole command line, where the runs are made by another process than the one it started (joblib workers)
COMMAND_LINE_ENV = "CNNLAB_COMMAND_LINE"


def git_state(path: Path = SOURCE_DIR) -> tuple[str, bool | None]:
    """(commit, dirty) of the git checkout holding `path`; ("unknown", None) outside one."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(path), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError):
        return "unknown", None
    return commit, dirty


# Packages whose versions can change a run's numbers; `cnnlab reproduce` warns when any differs.
PACKAGES = ("torch", "torchvision", "pytorch_lightning", "torchmetrics", "numpy", "albumentations", "mlflow")
ENV_TAG_PREFIX = "cnnlab.env."


def environment_tags() -> dict[str, str]:
    """cnnlab.env.<package> versions, the Python version and the device the run trains on."""
    import importlib.metadata

    import torch

    tags = {f"{ENV_TAG_PREFIX}python": sys.version.split()[0]}
    for package in PACKAGES:
        try:
            tags[f"{ENV_TAG_PREFIX}{package}"] = importlib.metadata.version(package.replace("_", "-"))
        except importlib.metadata.PackageNotFoundError:
            tags[f"{ENV_TAG_PREFIX}{package}"] = "absent"
    tags[f"{ENV_TAG_PREFIX}device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return tags


def pip_command(then: dict[str, str], now: dict[str, str]) -> str | None:
    """The pip command that installs the package versions a run recorded (its cnnlab.env.* tags) where they differ
    from `now`'s; None when none differs. Python itself and the device are not pip's to change."""
    pins = [
        f"{package.replace('_', '-')}=={then[key]}"
        for package in PACKAGES
        if (key := f"{ENV_TAG_PREFIX}{package}") in then and then[key] != now.get(key) and then[key] != "absent"
    ]
    return f"pip install {' '.join(pins)}" if pins else None


def command_line() -> str:
    """The command as the user typed it (COMMAND_ENV names a command that ran through another, e.g. make)."""
    if os.environ.get(COMMAND_LINE_ENV):
        return os.environ[COMMAND_LINE_ENV]
    return " ".join([os.environ.get(COMMAND_ENV) or Path(sys.argv[0]).name, shlex.join(sys.argv[1:])])


def provenance_tags() -> dict[str, str]:
    commit, dirty = git_state()
    return {
        **environment_tags(),
        "cnnlab.version": cnnlab.__version__,
        "cnnlab.git_commit": commit,
        "cnnlab.git_dirty": str(dirty).lower(),
        "mlflow.source.git.commit": commit,
        # The CLI puts "cnnlab train" in argv[0] so the tag reads as the command the user typed.
        "cnnlab.command": command_line(),
    }
