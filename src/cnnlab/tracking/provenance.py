"""Tags that say where a run came from: code version, git state, command line."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import cnnlab

SOURCE_DIR = Path(cnnlab.__file__).resolve().parent


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


def provenance_tags() -> dict[str, str]:
    commit, dirty = git_state()
    return {
        "cnnlab.version": cnnlab.__version__,
        "cnnlab.git_commit": commit,
        "cnnlab.git_dirty": str(dirty).lower(),
        "mlflow.source.git.commit": commit,
        # The CLI puts "cnnlab train" in argv[0] so the tag reads as the command the user typed.
        "cnnlab.command": " ".join([Path(sys.argv[0]).name, shlex.join(sys.argv[1:])]).strip(),
    }
