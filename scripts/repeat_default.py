"""The default job, again and again, as users run it: `cnnlab train` in fresh processes from the repository root,
offline, into the local store under outputs/, without the variables a test runner or CI sets (MLflow switches
its telemetry off under those, which hid a race that failed one offline run in four).

Counts the runs that did not end in exit 0 with a FINISHED MLflow run, and prints each failure's last error line.
usage: python scripts/repeat_default.py [--runs 30] [--telemetry] [OVERRIDES...]
  --telemetry: with MLflow's telemetry switched on (MLFLOW_DISABLE_TELEMETRY=false), as a user may choose.
Writes outputs/bench/repeat_default.json.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # this script's own MLflow client stays quiet

from bench_common import machine, write_result  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from cnnlab.tracking.secrets import environment_snapshot  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CNNLAB = str(Path(sys.executable).with_name("cnnlab"))
TEST_RUNNER_VARIABLES = re.compile(r"^(PYTEST_.*|CI|GITHUB_ACTIONS|BUILD_ID|JENKINS_URL|TRAVIS|GITLAB_CI)$")
RUN_LINE = re.compile(r"MLflow: run (\w+) ")


def user_environment(telemetry: bool) -> dict[str, str]:
    env = {name: value for name, value in environment_snapshot().items() if not TEST_RUNNER_VARIABLES.match(name)}
    env.pop("MLFLOW_TRACKING_URI", None)  # the default: outputs/mlflow
    env.pop("MLFLOW_DISABLE_TELEMETRY", None)  # cnnlab's own default decides, as for users
    if telemetry:
        env["MLFLOW_DISABLE_TELEMETRY"] = "false"
    return env


def run_once(overrides: list[str], env: dict[str, str]) -> dict:
    started = time.perf_counter()
    done = subprocess.run([CNNLAB, "train", *overrides], cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    found = RUN_LINE.search(done.stdout)
    status = None
    if found:
        client = MlflowClient(f"sqlite:///{ROOT / 'outputs/mlflow/mlflow.db'}")
        status = client.get_run(found.group(1)).info.status
    errors = [line for line in done.stderr.splitlines() if "Error" in line or line.startswith("cnnlab: error")]
    return {"exit": done.returncode, "status": status, "seconds": round(seconds, 1),
            "error": errors[-1] if errors else None, "run_id": found.group(1) if found else None}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--telemetry", action="store_true")
    parser.add_argument("overrides", nargs="*")
    options = parser.parse_args()
    env = user_environment(options.telemetry)
    results = []
    for number in range(1, options.runs + 1):
        result = run_once(["trainer.enable_progress_bar=false", *options.overrides], env)
        results.append(result)
        ok = result["exit"] == 0 and result["status"] == "FINISHED"
        print(f"run {number}/{options.runs}: exit {result['exit']}, {result['status']}, {result['seconds']} s"
              + ("" if ok else f"  <- {result['error']}"), flush=True)  # fmt: skip
    failed = [r for r in results if not (r["exit"] == 0 and r["status"] == "FINISHED")]
    print(f"{len(failed)} of {len(results)} runs failed" + (" (telemetry on)" if options.telemetry else ""))
    summary = {"machine": machine(), "telemetry": options.telemetry, "overrides": options.overrides}
    write_result("repeat_default", {**summary, "runs": results, "failed": len(failed)})
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
