"""Secrets never reach MLflow: the values of secret-looking environment variables (passwords, tokens, keys) and
the passwords in URLs are masked in every param, tag and text artifact cnnlab logs, wherever they come from
(a `${oc.env:...}` interpolation, a command line, an error message)."""

from __future__ import annotations

import os
import re

MASK = "***"
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|TOKEN|SECRET|API_KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIAL", re.IGNORECASE)
URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]+):(?P<password>[^@/\s]+)@", re.IGNORECASE)
MIN_LENGTH = 4  # shorter values ("1", "true") would mask ordinary text


def secret_values() -> list[str]:
    """The values of environment variables whose names say they are secret, longest first."""
    values = {value for name, value in os.environ.items() if SECRET_NAME.search(name) and len(value) >= MIN_LENGTH}
    return sorted(values, key=len, reverse=True)


def redact(text: str) -> str:
    """`text` with secret values and URL passwords masked."""
    for value in secret_values():
        text = text.replace(value, MASK)
    return URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
