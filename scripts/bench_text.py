"""Kim (2014) CNN-rand on the shared TREC and SST-2 data, each recipe as a `cnnlab repeat` over several seeds: the
mean test accuracy with its 95 % confidence interval, and where Kim's number lies against it (above / inside /
below).

Every repeat goes to the store outputs/bench/text-mlflow.db, so an interrupted benchmark continues where it stopped
(finished seeds are kept). Writes outputs/bench/text.json. Needs ../shared/data (or $CNNLAB_SHARED_DATA).
usage: python scripts/bench_text.py [--recipes trec trec_maxnorm1.5 sst2 sst2_sentences] [--seeds 5] [--jobs 1]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from bench_common import machine, write_result

STORE = Path("outputs/bench/text-mlflow.db")
# Kim (2014), Table 2, CNN-rand test accuracy (SST-2 trained on phrases and sentences).
RECIPES = {
    "trec": (["experiment=trec_cnn_rand"], 0.912, "4,906 of 5,452 questions (10 % held out for validation)"),
    "trec_maxnorm1.5": (["experiment=trec_cnn_rand", "backbone.max_norm=1.5"], 0.912,
                        "as trec, with Kim's max-norm (his 3 on non-inverted dropout is 1.5 here)"),
    "sst2": (["experiment=sst2_cnn_rand"], 0.827,
             "as Kim: the 6,920 training sentences and 60,447 more of their phrases (dev for validation)"),
    "sst2_sentences": (["experiment=sst2_cnn_rand", "data.extra_train=[]"], 0.827,
                       "the 6,920 training sentences only (dev for validation)"),
}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    STORE.parent.mkdir(parents=True, exist_ok=True)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{STORE}"
    from cnnlab.config import composed_job
    from cnnlab.preflight import check_choices
    from cnnlab.repeat import repeat

    rows = {}
    for name in args.recipes:
        overrides, kim, trained_on = RECIPES[name]
        config = composed_job([*overrides, "trainer.enable_progress_bar=false", "tracking.log_model=false"])
        check_choices(config)
        start = time.perf_counter()
        result = repeat(config, [config["seed"] + i for i in range(args.seeds)], {"test/acc": kim}, jobs=args.jobs)
        found = result.intervals["test/acc"]
        rows[name] = {
            "overrides": overrides, "trained_on": trained_on, "kim": kim, "seeds": found.n, "mean": found.mean,
            "std": found.std, "ci_low": found.low, "ci_high": found.high, "kim_is": result.verdicts["test/acc"],
            "parent_run_id": result.parent_run_id, "wall_s_this_call": time.perf_counter() - start,
            "seed_runs": result.seed_runs,
        }  # fmt: skip
    print(f"{'recipe':<16} {'n':>2} {'mean':>7} {'95 % CI':>17} {'Kim':>6} {'Kim is':>7}  trained on")
    for name, row in rows.items():
        print(f"{name:<16} {row['seeds']:>2} {row['mean']:>7.4f} [{row['ci_low']:.4f}, {row['ci_high']:.4f}] "
              f"{row['kim']:>6.3f} {row['kim_is']:>7}  {row['trained_on']}")  # fmt: skip
    write_result("text", {"machine": machine(), "recipes": rows})


if __name__ == "__main__":
    main()
