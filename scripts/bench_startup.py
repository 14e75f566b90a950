"""Start-up cost: `cnnlab train` to the end of its first optimizer step vs importing torch and Lightning.

Both run as fresh processes, alternating, several repeats (after one warm-up of each, which fills the OS file
cache and creates the scratch MLflow store). The cnnlab time is the run's own `time/startup_s` metric: seconds from
the process's kernel start time to the end of step 1, so interpreter start-up counts on both sides.
Ratio = median cnnlab / median import (target <= 1.3). Writes outputs/bench/startup.json.
usage: python scripts/bench_startup.py [--repeats 3] [OVERRIDES...]   (default: the default job)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_common import machine, scratch_store, write_result
from mlflow.tracking import MlflowClient

BIN = Path(sys.executable).parent
BASELINE = [sys.executable, "-c", "import torch, pytorch_lightning"]


def time_baseline() -> float:
    start = time.perf_counter()
    subprocess.run(BASELINE, check=True)
    return time.perf_counter() - start


def time_cnnlab(overrides: list[str], store: Path, repeat: int) -> float:
    run_dir = store / f"run{repeat}"
    settings = ["trainer.max_epochs=1", "trainer.enable_progress_bar=false", "tracking.log_model=false"]
    command = [str(BIN / "cnnlab"), "train", f"run_dir={run_dir}", f"hydra.run.dir={run_dir}", *settings, *overrides]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    experiments = [e.experiment_id for e in client.search_experiments()]
    run = client.search_runs(experiments, order_by=["start_time DESC"], max_results=1)[0]
    shutil.rmtree(run_dir, ignore_errors=True)
    return run.data.metrics["time/startup_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    baseline, cnnlab = [], []
    with scratch_store() as store:
        time_baseline(), time_cnnlab(args.overrides, store, -1)  # warm-up
        for repeat in range(args.repeats):
            baseline.append(time_baseline())
            cnnlab.append(time_cnnlab(args.overrides, store, repeat))
            print(f"repeat {repeat}: import {baseline[-1]:.2f} s, cnnlab to first step {cnnlab[-1]:.2f} s")
    ratio = statistics.median(cnnlab) / statistics.median(baseline)
    print(f"median: import torch+lightning {statistics.median(baseline):.2f} s, cnnlab train to first step "
          f"{statistics.median(cnnlab):.2f} s, ratio {ratio:.2f} (target <= 1.3)")  # fmt: skip
    write_result("startup", {
        "machine": machine(), "overrides": args.overrides, "import_s": baseline, "cnnlab_first_step_s": cnnlab,
        "ratio": ratio, "target": 1.3,
    })  # fmt: skip


if __name__ == "__main__":
    main()
