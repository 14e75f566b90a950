"""SIGTERM (what SLURM and Kubernetes send) ends a cnnlab command as Ctrl-C does: the run is marked KILLED, never
left RUNNING, and the exit status is 128 + 15. During fit, Lightning's own handler takes over: it stops at the next
step, after which cnnlab saves a checkpoint (cnnlab.callbacks.FailureCheckpoints)."""

from __future__ import annotations

import signal
from types import FrameType


class Terminated(SystemExit):
    """Raised in the main thread when SIGTERM arrives; its code is the shell's for a process killed by SIGTERM."""

    def __init__(self) -> None:
        super().__init__(128 + signal.SIGTERM)


def stop_on_sigterm() -> None:
    """Installs the handler (main thread only, as Python requires)."""
    signal.signal(signal.SIGTERM, _raise_terminated)


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    if _lightning_is_fitting(frame):
        return  # Lightning's handler, called with ours, has flagged the trainer; it stops at the next step
    raise Terminated()


def _lightning_is_fitting(frame: FrameType | None) -> bool:
    """Whether a Lightning fit loop is on the interrupted stack."""
    while frame is not None:
        if frame.f_code.co_name == "_run_stage" and "pytorch_lightning" in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False
