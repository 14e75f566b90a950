"""Secrets never reach MLflow: the values of secret-looking environment variables (passwords, tokens, keys) and
the passwords in URLs are masked in every param, tag and text artifact cnnlab logs, wherever they come from
(a `${oc.env:...}` interpolation, a command line, an error message)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

MASK = "***"
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|TOKEN|SECRET|API_KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIAL", re.IGNORECASE)
URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]+):(?P<password>[^@/\s]+)@", re.IGNORECASE)
MIN_LENGTH = 4  # shorter values ("1", "true") would mask ordinary text


def environment_snapshot() -> dict[str, str]:
    """A copy of the environment that other threads cannot change under us.

    Iterating os.environ reads each name back after listing them; a library thread (MLflow's telemetry, for one)
    deleting a variable in between made that a KeyError that failed whole runs at random. Listing the names is
    one step under the GIL; a name gone by the time it is read is simply left out.
    """
    snapshot = {}
    for name in list(os.environ):
        value = os.environ.get(name)
        if value is not None:
            snapshot[name] = value
    return snapshot


def secret_values(environment: Mapping[str, str] | None = None) -> list[str]:
    """The values of environment variables whose names say they are secret, longest first."""
    environment = environment_snapshot() if environment is None else environment
    values = {value for name, value in environment.items() if SECRET_NAME.search(name) and len(value) >= MIN_LENGTH}
    return sorted(values, key=len, reverse=True)


class Redactor:
    """Masks secrets in text; reads the environment once, however many values it masks."""

    def __init__(self, environment: Mapping[str, str] | None = None) -> None:
        self.secrets = secret_values(environment)

    def __call__(self, text: str) -> str:
        for value in self.secrets:
            text = text.replace(value, MASK)
        return URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)


def redact(text: str) -> str:
    """`text` with secret values and URL passwords masked."""
    return Redactor()(text)
