"""Sweep scheduling side by side: one Optuna study of trials with uneven lengths (trainer.max_epochs drawn from
1-6) run by 2 workers in batches (hydra.sweeper.asynchronous=false with the joblib launcher: each batch waits for
its slowest trial), asynchronously (a worker takes the next trial as soon as it is free), and asynchronously with
median pruning; each for two trial lengths: short (digits at their native 8x8) and long (digits at 64x64, about
4x longer epochs). Prints wall time, the share of worker-slot time spent idle between the first job's start and the
last job's end (a job's span: from its config written by Hydra to its last file written), the same share while
trials were still queued, and the epochs pruning saved; writes outputs/bench/sweep.json.
usage: python scripts/bench_sweep.py [--trials 20] [--jobs 2] [--lengths short long]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import machine, write_result

CNNLAB = str(Path(sys.executable).with_name("cnnlab"))
MODES = {
    "batches": ["hydra.sweeper.asynchronous=false", "hydra/launcher=joblib"],
    "asynchronous": [],
    "asynchronous+median pruning": ["hydra.sweeper.pruner=median", "hydra.sweeper.pruner_startup_trials=2"],
}
LENGTHS = {"short": [], "long": ["data.image_size=64"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--lengths", nargs="+", default=list(LENGTHS), choices=list(LENGTHS))
    args = parser.parse_args()
    rows: dict[str, dict[str, dict]] = {length: {} for length in args.lengths}
    for length in args.lengths:
        for mode, extra in MODES.items():
            with tempfile.TemporaryDirectory() as folder:
                rows[length][mode] = run_sweep(Path(folder), args.trials, args.jobs, [*LENGTHS[length], *extra])
            print(f"{length} {mode}: {rows[length][mode]}", flush=True)
    print(f"\n{'trials':<6} {'mode':<28} {'wall s':>7} {'vs batches':>10} {'idle':>6} {'queued':>7} {'job s':>6} "
          f"{'epochs':>7} {'pruned':>6}")  # fmt: skip
    for length, modes in rows.items():
        base = modes["batches"]["wall_s"]
        for mode, row in modes.items():
            print(f"{length:<6} {mode:<28} {row['wall_s']:>7.1f} {row['wall_s'] / base:>10.2f} "
                  f"{row['idle_share']:>6.1%} {row['idle_share_while_queued']:>7.1%} {row['median_job_s']:>6.1f} "
                  f"{row['epochs_trained']:>7} {row['pruned']:>6}")  # fmt: skip
    write_result("sweep", {"machine": machine(), "trials": args.trials, "jobs": args.jobs, "lengths": rows})


def run_sweep(folder: Path, trials: int, jobs: int, extra: list[str]) -> dict:
    from mlflow.tracking import MlflowClient

    store = f"sqlite:///{folder}/mlflow.db"
    launcher = [f"hydra.launcher.n_jobs={jobs}"] if "hydra/launcher=joblib" in extra else []
    command = [CNNLAB, "train", "-m", "sweep=optuna", f"hydra.sweeper.n_trials={trials}",
               f"hydra.sweeper.n_jobs={jobs}", *launcher, "trainer.max_epochs=range(1,7)",
               "trainer.enable_progress_bar=false", "tracking.log_model=false",
               "tracking.log_checkpoint=false", *extra]  # fmt: skip
    env = {**os.environ, "MLFLOW_TRACKING_URI": store, "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"sweep failed ({' '.join(extra)}):\n{done.stderr[-3000:]}")
    client = MlflowClient(store)
    runs = [r for r in client.search_runs([e.experiment_id for e in client.search_experiments()])
            if "mlflow.parentRunId" in r.data.tags]  # fmt: skip
    spans = job_spans(folder / "outputs" / "multirun")
    first, last = min(start for start, _ in spans), max(end for _, end in spans)
    busy = sum(end - start for start, end in spans)
    epochs = sum(len(client.get_metric_history(r.info.run_id, "val/acc")) for r in runs)
    # While trials were still waiting to start (up to the last job's start): idle there is the scheduler's doing;
    # after it, a worker with nothing left to run waits for the others' last trials whatever the scheduler.
    queued = max(start for start, _ in spans)
    busy_queued = sum(max(0.0, min(end, queued) - start) for start, end in spans)
    return {"wall_s": wall, "idle_share": 1 - busy / (jobs * (last - first)),
            "idle_share_while_queued": 1 - busy_queued / (jobs * (queued - first)), "epochs_trained": epochs,
            "median_job_s": statistics.median(end - start for start, end in spans),
            "pruned": sum("cnnlab.pruned" in r.data.tags for r in runs), "runs": len(runs)}  # fmt: skip


def job_spans(multirun: Path) -> list[tuple[float, float]]:
    """(start, end) of every job, setup included: Hydra writes the job's .hydra/config.yaml as it starts, and the
    job's last file (its train.log, checkpoints) is written as it ends."""
    spans = []
    for marker in multirun.glob("*/*/*/.hydra/config.yaml"):
        job = marker.parent.parent
        spans.append((marker.stat().st_mtime, max(f.stat().st_mtime for f in job.rglob("*") if f.is_file())))
    return spans


if __name__ == "__main__":
    main()
