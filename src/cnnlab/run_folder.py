"""A run's folder belongs to one run. A new run claims the folder it is given, or, when that folder already holds
another run (a reused run_dir, two jobs started in the same second), the first free `<folder>-2`, `-3`, ...; the
process training in it holds an OS lock on its owner file, so a second process cannot resume the same run at the
same time, and a lock nobody holds tells a run left RUNNING by a killed process."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cnnlab.errors import CnnlabError

log = logging.getLogger(__name__)
OWNER_FILE = ".cnnlab-run"  # JSON {run_id, pid, host}; flock-ed by the process training in the folder
MAX_SUFFIX = 1000


@dataclass
class RunFolder:
    path: Path
    handle: IO[str]  # the open owner file; closing it releases the lock
    previous_owner: str | None = None  # the run id the owner file named when a resume took the folder over

    def record(self, run_id: str) -> None:
        """Names `run_id` as the folder's run, in the file this process holds locked."""
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(json.dumps({"run_id": run_id, "pid": os.getpid(), "host": socket.gethostname()}))
        self.handle.flush()


def owner(folder: Path) -> dict[str, Any]:
    """What the folder's owner file says ({} when it has none or it cannot be read)."""
    try:
        return json.loads((folder / OWNER_FILE).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}


@contextmanager
def claimed(requested: Path, resume_run_id: str | None = None) -> Iterator[RunFolder]:
    """The folder this run writes to, locked for as long as the block runs.

    A resumed run takes its own folder back (refused while another process holds it); any other run, new or
    resumed, gets the requested folder if no run has used it, else the first free numbered sibling.
    """
    folder = _own_folder(requested, resume_run_id) if resume_run_id else None
    folder = folder or _free_folder(requested)
    if folder.path != requested:
        log.warning("run_dir %s already holds another run's files; this run writes to %s", requested, folder.path)
        print(f"cnnlab: run_dir {requested} already holds another run; this run writes to {folder.path}")
    try:
        yield folder
    finally:
        folder.handle.close()


def _own_folder(requested: Path, run_id: str) -> RunFolder | None:
    if not (requested / OWNER_FILE).is_file() and _used(requested):
        return None  # checkpoints of a run from before folders had owners: not provably this run's
    requested.mkdir(parents=True, exist_ok=True)
    handle = open(requested / OWNER_FILE, "a+", encoding="utf-8")  # noqa: SIM115  (held for the whole run)
    if not _lock(handle):
        handle.close()
        holder = owner(requested)
        raise CnnlabError(
            f"run {run_id} is being trained now in {requested} (process {holder.get('pid', '?')} on "
            f"{holder.get('host', '?')}); wait for it to end, or stop it first"
        )
    previous = owner(requested).get("run_id")
    if previous not in (None, run_id):
        handle.close()
        return None  # the folder was reused by another run since
    return RunFolder(requested, handle, previous_owner=previous)


def _free_folder(requested: Path) -> RunFolder:
    for number in range(1, MAX_SUFFIX):
        candidate = requested if number == 1 else requested.with_name(f"{requested.name}-{number}")
        if _used(candidate):
            continue
        candidate.mkdir(parents=True, exist_ok=True)
        try:  # O_EXCL: of two processes claiming the same folder, exactly one creates the owner file
            descriptor = os.open(candidate / OWNER_FILE, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
        except FileExistsError:
            continue
        handle = os.fdopen(descriptor, "w+", encoding="utf-8")
        _lock(handle)
        return RunFolder(candidate, handle)
    raise CnnlabError(f"run_dir={requested}: {MAX_SUFFIX} numbered copies are all in use; set run_dir=NEW_FOLDER")


def _used(folder: Path) -> bool:
    """Whether a run has claimed the folder or left checkpoints in it (Hydra's own files do not count)."""
    checkpoints = folder / "checkpoints"
    return (folder / OWNER_FILE).exists() or (checkpoints.is_dir() and any(checkpoints.iterdir()))


def _lock(handle: IO[str]) -> bool:
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def is_held(folder: Path) -> bool:
    """Whether a live process holds the folder's lock (False when it has no owner file)."""
    try:
        with open(folder / OWNER_FILE, encoding="utf-8") as handle:
            if not _lock(handle):
                return True
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    except OSError:
        return False
    return False
