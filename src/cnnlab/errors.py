"""The one exception type for mistakes a user can fix."""


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
