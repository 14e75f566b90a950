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
