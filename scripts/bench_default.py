"""Benchmark of the embedded default (`cnnlab train`): test accuracy and wall time of train() (data, 60 epochs,
test, tracking, model) over several seeds, for two augmentation pipelines side by side in one run:

- per-sample: the albumentations Affine in the DataLoader, each image through its pipeline every epoch (the default
  until 2026-11-27);
- batch (the default): images transformed once and kept as tensors, kornia's RandomAffine on each training batch.

Seeds alternate between the two. Runs the real config in-process into a throw-away MLflow store and writes
outputs/bench/default.json. usage: python scripts/bench_default.py [--seeds 0 1 2 3 4] [OVERRIDES...]
"""

from __future__ import annotations

import argparse
import statistics
import sys

from bench_common import machine, scratch_store, timed_train, write_result

ACCURACY_BAR = 0.99  # mean test accuracy over the seeds
PIPELINES = {
    "per-sample": ["data.augment=[{Affine: {translate_px: [-1, 1], rotate: [-10, 10], scale: [0.9, 1.1], p: 0.7}}]",
                   "data.batch_augment=[]"],  # fmt: skip
    "batch": [],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    results = {name: [] for name in PIPELINES}
    with scratch_store() as tmp:
        for seed in args.seeds:
            for name, pipeline in PIPELINES.items():
                overrides = [f"seed={seed}", *pipeline, *args.overrides]
                metrics, wall = timed_train(overrides, tmp / f"{name}-seed{seed}")
                results[name].append({"seed": seed, "test_acc": metrics["test/acc"], "wall_s": wall})
                print(f"{name:>10} seed {seed}: test/acc {metrics['test/acc']:.4f}, {wall:.1f} s", flush=True)
    summary = {"machine": machine(), "overrides": args.overrides, "runs": results}
    for name, runs in results.items():
        summary[name] = {"test_acc_mean": statistics.mean(r["test_acc"] for r in runs),
                         "test_acc_min": min(r["test_acc"] for r in runs),
                         "wall_s_median": statistics.median(r["wall_s"] for r in runs)}  # fmt: skip
    speedup = summary["per-sample"]["wall_s_median"] / summary["batch"]["wall_s_median"]
    summary["speedup"] = speedup
    for name in PIPELINES:
        row = summary[name]
        print(f"{name:>10}: mean acc {row['test_acc_mean']:.4f} (min {row['test_acc_min']:.4f}), "
              f"median train() {row['wall_s_median']:.1f} s")  # fmt: skip
    print(f"batch vs per-sample: {speedup:.2f}x faster (target >= 2); mean acc bar {ACCURACY_BAR}")
    write_result("default", summary)
    sys.exit(0 if summary["batch"]["test_acc_mean"] >= ACCURACY_BAR else 1)


if __name__ == "__main__":
    main()
