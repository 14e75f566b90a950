"""Benchmark of the embedded default (`cnnlab train`): test accuracy and wall time over several seeds.

Runs the real config in-process into a throw-away MLflow store and writes outputs/bench/default.json.
usage: python scripts/bench_default.py [--seeds 0 1 2] [OVERRIDES...]
"""

from __future__ import annotations

import argparse
import statistics
import sys

from bench_common import machine, scratch_store, timed_train, write_result

ACCURACY_BAR = 0.98
TIME_BUDGET_S = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    results = []
    with scratch_store() as tmp:
        for seed in args.seeds:
            metrics, wall = timed_train([f"seed={seed}", *args.overrides], tmp / f"seed{seed}")
            results.append({"seed": seed, "test_acc": metrics["test/acc"], "wall_s": wall})
    accuracies = [r["test_acc"] for r in results]
    summary = {
        "machine": machine(),
        "overrides": args.overrides,
        "runs": results,
        "test_acc_mean": statistics.mean(accuracies),
        "test_acc_min": min(accuracies),
        "wall_s_median": statistics.median(r["wall_s"] for r in results),
    }
    summary["acc_min_over_bar"] = summary["test_acc_min"] / ACCURACY_BAR
    summary["wall_median_over_budget"] = summary["wall_s_median"] / TIME_BUDGET_S
    print(f"{'seed':>4}  {'test/acc':>8}  {'wall s':>7}")
    for r in results:
        print(f"{r['seed']:>4}  {r['test_acc']:>8.4f}  {r['wall_s']:>7.1f}")
    print(
        f"mean acc {summary['test_acc_mean']:.4f}, min {summary['test_acc_min']:.4f} "
        f"({summary['acc_min_over_bar']:.3f}x the {ACCURACY_BAR} bar); median wall {summary['wall_s_median']:.1f}s "
        f"({summary['wall_median_over_budget']:.2f}x a {TIME_BUDGET_S:.0f}s budget)"
    )
    write_result("default", summary)
    sys.exit(0 if summary["test_acc_min"] >= ACCURACY_BAR else 1)


if __name__ == "__main__":
    main()
