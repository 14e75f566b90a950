"""Benchmark of the embedded default (`cnnlab train`): test accuracy and wall time over several seeds.

Runs the real config in-process into a throw-away MLflow store and writes outputs/bench/default.json.
usage: python scripts/bench_default.py [--seeds 0 1 2] [OVERRIDES...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from omegaconf import open_dict

from cnnlab.config import CONFIG_DIR, CONFIG_NAME
from cnnlab.train import train

ACCURACY_BAR = 0.98
TIME_BUDGET_S = 60.0


def run_once(seed: int, overrides: list[str], workdir: Path) -> dict[str, float]:
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(CONFIG_NAME, overrides=[f"seed={seed}", "trainer.enable_progress_bar=false", *overrides])
    with open_dict(cfg):
        cfg.run_dir = str(workdir / f"seed{seed}")
    start = time.perf_counter()
    metrics = train(cfg)
    return {"seed": seed, "test_acc": metrics["test/acc"], "wall_s": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
        results = [run_once(seed, args.overrides, Path(tmp)) for seed in args.seeds]
    accuracies = [r["test_acc"] for r in results]
    times = [r["wall_s"] for r in results]
    summary = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "overrides": args.overrides,
        "runs": results,
        "test_acc_mean": statistics.mean(accuracies),
        "test_acc_min": min(accuracies),
        "wall_s_median": statistics.median(times),
        "acc_min_over_bar": min(accuracies) / ACCURACY_BAR,
        "wall_median_over_budget": statistics.median(times) / TIME_BUDGET_S,
    }
    print(f"{'seed':>4}  {'test/acc':>8}  {'wall s':>7}")
    for r in results:
        print(f"{r['seed']:>4}  {r['test_acc']:>8.4f}  {r['wall_s']:>7.1f}")
    print(
        f"mean acc {summary['test_acc_mean']:.4f}, min {summary['test_acc_min']:.4f} "
        f"({summary['acc_min_over_bar']:.3f}x the {ACCURACY_BAR} bar); median wall {summary['wall_s_median']:.1f}s "
        f"({summary['wall_median_over_budget']:.2f}x a {TIME_BUDGET_S:.0f}s budget)"
    )
    out = Path("outputs/bench/default.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))
    print(f"wrote {out}")
    sys.exit(0 if summary["test_acc_min"] >= ACCURACY_BAR else 1)


if __name__ == "__main__":
    main()
