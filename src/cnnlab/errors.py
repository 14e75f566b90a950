"""The one exception type for mistakes a user can fix, and the faults of the machine that are told the same way."""

import errno


class CnnlabError(Exception):
    """A user-facing error: the message names the setting or file at fault and how to fix it.

    The CLI prints it as one line; anything else is a bug and keeps its traceback.
    """


def pick(setting: str, value: str, choices: dict):
    """choices[value], or a CnnlabError naming `setting` and the valid values."""
    if value not in choices:
        raise CnnlabError(f"{setting}={value} is not valid; use one of: {', '.join(map(str, choices))}")
    return choices[value]


def user_message(err: CnnlabError) -> str:
    """The error's own one-line message, also when a DataLoader worker raised it.

    PyTorch re-raises a worker's exception with the worker's whole traceback as its message; the original
    message is the last line, after the exception's name.
    """
    text = str(err)
    marker = f"{CnnlabError.__module__}.{CnnlabError.__name__}: "
    if "Original Traceback" in text and marker in text:
        text = text.rsplit(marker, 1)[1]
    return " ".join(text.split())


DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def as_user_error(err: BaseException) -> CnnlabError | None:
    """A CnnlabError for faults of the machine a user fixes, not the code (a full disk), else None."""
    if isinstance(err, CnnlabError):
        return err
    if isinstance(err, OSError) and err.errno in DISK_FULL:
        where = f" writing {err.filename}" if err.filename else ""
        return CnnlabError(f"the disk is full{where}; free space there or set run_dir=FOLDER on another disk")
    if isinstance(err, OSError) and err.filename:  # a path the user gave (or its folder) cannot be used as asked
        return CnnlabError(f"{err.filename}: {err.strerror or err}; check the path and its permissions")
    return None
