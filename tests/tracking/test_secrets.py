"""Masking secrets reads the environment safely while other threads change it (MLflow's telemetry thread deleted
a variable mid-iteration and failed one offline run in four)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest

from cnnlab.tracking.secrets import MASK, Redactor, environment_snapshot, redact


@pytest.fixture
def churning_environment() -> Iterator[None]:
    """A thread that keeps adding and deleting environment variables, as MLflow's telemetry did."""
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            for i in range(50):
                os.environ[f"CNNLAB_CHURN_{i}"] = "x"
            for i in range(50):
                os.environ.pop(f"CNNLAB_CHURN_{i}", None)

    thread = threading.Thread(target=churn, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def test_masking_survives_variables_deleted_by_another_thread(churning_environment, monkeypatch) -> None:
    monkeypatch.setenv("CNNLAB_TEST_TOKEN", "planted-secret-42")
    for _ in range(3000):  # the old os.environ.items() loop failed within a few hundred of these
        assert redact("token planted-secret-42") == f"token {MASK}"


def test_the_snapshot_is_a_plain_copy(monkeypatch) -> None:
    monkeypatch.setenv("CNNLAB_TEST_PASSWORD", "hunter2-long")
    snapshot = environment_snapshot()
    monkeypatch.delenv("CNNLAB_TEST_PASSWORD")
    assert snapshot["CNNLAB_TEST_PASSWORD"] == "hunter2-long"
    assert Redactor(snapshot)("pw hunter2-long and https://me:pw9@host/x") == f"pw {MASK} and https://me:{MASK}@host/x"
