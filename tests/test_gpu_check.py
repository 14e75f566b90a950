"""scripts/gpu_check.py in its --quick mode, on whatever device this machine has: every part runs and writes its
tables, so the check is ready when a GPU machine is (make gpu-check)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from cnnlab.tasks import TASKS

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def test_the_quick_gpu_check_measures_every_part(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)  # reproduce writes its run folder under ./outputs
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "restored-after-the-test")  # the check sets its own scratch store
    monkeypatch.syspath_prepend(str(SCRIPTS))
    import gpu_check

    assert gpu_check.main(["--quick", "--out", str(tmp_path / "out")]) == 0
    result = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    (model,) = result["throughput"]
    rates = result["throughput"][model]["images_per_s"]
    assert set(rates) == {"fp32 eager", "bf16-mixed", "bf16 + channels_last"} and min(rates.values()) > 0
    assert result["throughput"][model]["plain_loop"]["cnnlab_ratio"] > 0
    assert set(result["tasks"]) == set(TASKS.names())
    for name, row in result["tasks"].items():
        assert row["wall_s"] > 0 and row["best"] is not None and row["test"], name
    assert 0 <= result["tasks"]["classification"]["starvation"] < 1  # --quick times one task's steps
    again = result["reproduce"]  # on the CPU, deterministic: every metric exactly
    assert again["exit_status"] == 0 and again["matching"] == again["metrics"] > 0 and again["max_abs_difference"] == 0
    table = (tmp_path / "out" / "gpu_check.md").read_text()
    assert all(f"| {name} |" in table for name in TASKS.names()) and "| resnet18 | bf16 + channels_last |" in table
    sys.modules.pop("gpu_check", None)
