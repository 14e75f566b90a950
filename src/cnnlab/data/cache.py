"""Generated datasets on disk: written whole or not at all, in a folder named by their settings."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_atomically(root: Path, fill: Callable[[Path], None]) -> None:
    """Runs fill(staging folder), then renames it to root: readers see the whole dataset or none of it."""
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        fill(staging)
        try:
            os.rename(staging, root)
        except OSError:  # a concurrent writer got there first: its identical copy wins
            if not root.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def settings_key(settings: dict) -> str:
    """A short hash naming the cache folder of one set of generator settings."""
    return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
