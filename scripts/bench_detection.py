"""Benchmark of the detection default (`cnnlab train task=detection`): val mAP@50, test mAP and training time.

Runs the real config in-process into a throw-away MLflow store and writes outputs/bench/detection.json.
usage: python scripts/bench_detection.py [--seeds 0] [OVERRIDES...]
"""

from __future__ import annotations

import argparse
import statistics
import sys

from bench_common import machine, scratch_store, timed_train, write_result

MAP50_BAR = 0.8
TIME_BUDGET_S = 600.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    results = []
    with scratch_store() as tmp:
        for seed in args.seeds:
            overrides = ["task=detection", f"seed={seed}", *args.overrides]
            metrics, wall = timed_train(overrides, tmp / f"seed{seed}")
            results.append({
                "seed": seed, "val_map_50_best": metrics["val/map_50"], "test_map_50": metrics["test/map_50"],
                "test_map": metrics["test/map"], "wall_s": wall,
            })  # fmt: skip
    summary = {
        "machine": machine(),
        "overrides": args.overrides,
        "runs": results,
        "val_map_50_min": min(r["val_map_50_best"] for r in results),
        "wall_s_median": statistics.median(r["wall_s"] for r in results),
    }
    summary["val_map_50_min_over_bar"] = summary["val_map_50_min"] / MAP50_BAR
    summary["wall_median_over_budget"] = summary["wall_s_median"] / TIME_BUDGET_S
    print(f"{'seed':>4}  {'val mAP@50':>10}  {'test mAP@50':>11}  {'test mAP':>8}  {'wall s':>7}")
    for r in results:
        print(
            f"{r['seed']:>4}  {r['val_map_50_best']:>10.4f}  {r['test_map_50']:>11.4f}  {r['test_map']:>8.4f}  "
            f"{r['wall_s']:>7.1f}"
        )
    print(
        f"min val mAP@50 {summary['val_map_50_min']:.4f} ({summary['val_map_50_min_over_bar']:.3f}x the {MAP50_BAR} "
        f"bar); median wall {summary['wall_s_median']:.0f}s "
        f"({summary['wall_median_over_budget']:.2f}x the {TIME_BUDGET_S:.0f}s budget)"
    )
    write_result("detection", summary)
    sys.exit(0 if summary["val_map_50_min"] >= MAP50_BAR else 1)


if __name__ == "__main__":
    main()
