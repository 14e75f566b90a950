"""What a run records about where it came from, and how `reproduce` gets its package versions back."""

from __future__ import annotations

from pathlib import Path

from cnnlab.tracking.provenance import ENV_TAG_PREFIX, environment_tags, pip_command


def test_pip_command_pins_only_the_packages_that_differ() -> None:
    now = environment_tags()
    then = {**now, f"{ENV_TAG_PREFIX}torch": "2.3.1", f"{ENV_TAG_PREFIX}pytorch_lightning": "2.4.0",
            f"{ENV_TAG_PREFIX}python": "3.10.4", f"{ENV_TAG_PREFIX}device": "NVIDIA H100"}  # fmt: skip
    assert pip_command(then, now) == "pip install torch==2.3.1 pytorch-lightning==2.4.0"
    assert pip_command(now, now) is None
    assert pip_command({f"{ENV_TAG_PREFIX}mlflow": "absent"}, now) is None


def test_the_lock_file_pins_what_this_environment_runs() -> None:
    """requirements.lock (make's pip constraints) holds exact versions, and those of the packages a run records
    are the ones installed here: a lock that drifted from the tested environment would pin untested versions."""
    lock = Path(__file__).parents[2] / "requirements.lock"
    pins = dict(line.split("==", 1) for line in lock.read_text().splitlines() if line and not line.startswith("#"))
    assert all(version and "," not in version for version in pins.values())
    for key, version in environment_tags().items():
        package = key.removeprefix(ENV_TAG_PREFIX).replace("_", "-")
        if package in pins:
            assert pins[package] == version, f"{package}: lock {pins[package]}, installed {version}"
