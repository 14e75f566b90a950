"""How cnnlab stops on a signal. SIGTERM (what SLURM and Kubernetes send) ends a command as Ctrl-C does: the run
is marked KILLED, never left RUNNING, and the exit status is 128 + 15. During fit, Lightning's own handler takes
over: it stops at the next step, after which cnnlab saves a checkpoint (cnnlab.callbacks.FailureCheckpoints).

Neither signal may land inside a write to a database store: an exception raised in the middle of SQLAlchemy's
commit leaves the session's transaction bookkeeping broken, and every later write of the process (the one that
marks the run KILLED included) fails with "Transaction ... is not on the active transaction list". A signal that
arrives there is sent again, to the main thread, once the write has returned."""

from __future__ import annotations

import signal
import threading
from types import FrameType

# Code that must not be interrupted half-way: SQLAlchemy's session and connection handling, Alembic's migrations.
_ATOMIC_PACKAGES = ("/sqlalchemy/", "/alembic/")
_REDELIVERY_DELAY_S = 0.02
_stop_received = threading.Event()


class Terminated(SystemExit):
    """Raised in the main thread when SIGTERM arrives; its code is the shell's for a process killed by SIGTERM."""

    def __init__(self) -> None:
        super().__init__(128 + signal.SIGTERM)

    def __reduce__(self) -> tuple:  # pickled without the code its __init__ sets (from a worker process)
        return (Terminated, ())


def install_stop_handlers() -> None:
    """SIGTERM stops the command as Ctrl-C does; both wait for a database write in progress. Main thread only, as
    Python requires; a Ctrl-C the process was started to ignore stays ignored."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)


def stop_received() -> bool:
    """Whether a SIGTERM or Ctrl-C has reached this process's handlers."""
    return _stop_received.is_set()


def cancel_held_signals() -> None:
    """When the command has ended: a signal still held for a write would stop a process that is already
    stopping (at interpreter exit, as a traceback)."""
    for timer in _held:
        timer.cancel()
    _held.clear()


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    _stop_received.set()
    if _in_store_write(frame):
        _send_again(signum)
        return
    signal.default_int_handler(signum, frame)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _stop_received.set()
    if _lightning_is_fitting(frame):
        return  # Lightning's handler, called with ours, has flagged the trainer; it stops at the next step
    if _in_store_write(frame):
        _send_again(signum)
        return
    raise Terminated()


_held: list[threading.Timer] = []


def _send_again(signum: int) -> None:
    # to the main thread itself, so that a blocking call there wakes as it would have for the first signal
    timer = threading.Timer(_REDELIVERY_DELAY_S, signal.pthread_kill, args=(threading.main_thread().ident, signum))
    timer.daemon = True
    _held.append(timer)
    timer.start()


def _in_store_write(frame: FrameType | None) -> bool:
    return any(package in code.co_filename for code in _stack(frame) for package in _ATOMIC_PACKAGES)


def _lightning_is_fitting(frame: FrameType | None) -> bool:
    """Whether a Lightning fit loop is on the interrupted stack."""
    return any(code.co_name == "_run_stage" and "pytorch_lightning" in code.co_filename for code in _stack(frame))


def _stack(frame: FrameType | None):
    while frame is not None:
        yield frame.f_code
        frame = frame.f_back
