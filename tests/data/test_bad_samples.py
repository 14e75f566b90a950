"""data.on_bad_sample=skip: each skipped sample is recorded once, however many epochs, workers or resumes meet it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cnnlab.data.bad_samples import BadSamples
from cnnlab.errors import CnnlabError


def test_a_sample_met_again_is_recorded_and_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    record = tmp_path / "bad_samples.txt"
    first = BadSamples("skip")
    first.record_file = record
    with caplog.at_level(logging.WARNING, logger="cnnlab.data.bad_samples"):
        for _ in range(3):  # three epochs
            first.handle(CnnlabError("a.png: cannot read image"))
    assert sum("a.png" in r.message for r in caplog.records) == 1
    resumed = BadSamples("skip")  # the same run, resumed in a new process: meets it again
    resumed.record_file = record
    resumed.handle(CnnlabError("a.png: cannot read image"))
    resumed.handle(CnnlabError("b.png: cannot read image"))
    assert resumed.recorded() == ["a.png: cannot read image", "b.png: cannot read image"]
    assert record.read_text() == "a.png: cannot read image\nb.png: cannot read image\n"


def test_fail_points_at_the_switch() -> None:
    with pytest.raises(CnnlabError, match="or set data.on_bad_sample=skip"):
        BadSamples("fail").handle(CnnlabError("a.png: cannot read image"))
