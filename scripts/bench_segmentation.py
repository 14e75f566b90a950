"""Benchmark of the segmentation default (`cnnlab train task=segmentation`): val/test mIoU and wall time.

Runs the real config in-process into a throw-away MLflow store and writes outputs/bench/segmentation.json.
usage: python scripts/bench_segmentation.py [--seeds 0] [OVERRIDES...]
"""

from __future__ import annotations

import argparse
import statistics
import sys

from bench_common import machine, scratch_store, timed_train, write_result

MIOU_BAR = 0.85


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    results = []
    with scratch_store() as tmp:
        for seed in args.seeds:
            overrides = ["task=segmentation", f"seed={seed}", *args.overrides]
            metrics, wall = timed_train(overrides, tmp / f"seed{seed}")
            results.append({
                "seed": seed, "val_miou_best": metrics["val/miou"], "test_miou": metrics["test/miou"],
                "test_dice": metrics["test/dice"], "wall_s": wall,
            })  # fmt: skip
    summary = {
        "machine": machine(),
        "overrides": args.overrides,
        "runs": results,
        "val_miou_min": min(r["val_miou_best"] for r in results),
        "wall_s_median": statistics.median(r["wall_s"] for r in results),
    }
    summary["val_miou_min_over_bar"] = summary["val_miou_min"] / MIOU_BAR
    print(f"{'seed':>4}  {'val mIoU':>8}  {'test mIoU':>9}  {'test Dice':>9}  {'wall s':>7}")
    for r in results:
        print(
            f"{r['seed']:>4}  {r['val_miou_best']:>8.4f}  {r['test_miou']:>9.4f}  {r['test_dice']:>9.4f}  "
            f"{r['wall_s']:>7.1f}"
        )
    print(
        f"min val mIoU {summary['val_miou_min']:.4f} ({summary['val_miou_min_over_bar']:.3f}x the {MIOU_BAR} bar); "
        f"median wall {summary['wall_s_median']:.0f}s"
    )
    write_result("segmentation", summary)
    sys.exit(0 if summary["val_miou_min"] >= MIOU_BAR else 1)


if __name__ == "__main__":
    main()
