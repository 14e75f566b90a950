"""Kim (2014) CNN-rand on the shared TREC and SST-2 data, each recipe as a `cnnlab repeat` over several seeds: the
mean test accuracy with its 95 % confidence interval, and where Kim's number lies against it (above / inside /
below).

Every repeat goes to the store outputs/bench/text-mlflow.db, so an interrupted benchmark continues where it stopped
(finished seeds are kept). Writes outputs/bench/text.json. Needs ../shared/data (or $CNNLAB_SHARED_DATA).
usage: python scripts/bench_text.py [--recipes trec trec_maxnorm1.5 sst2 sst2_phrases] [--seeds 5] [--jobs 1]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from bench_common import machine, write_result

STORE = Path("outputs/bench/text-mlflow.db")
PHRASES_FILE = Path("outputs/datasets/sst2_phrases_sentences.txt")
# Kim (2014), Table 2, CNN-rand test accuracy (SST-2 trained on phrases and sentences).
RECIPES = {
    "trec": (["experiment=trec_cnn_rand"], 0.912, "4,906 of 5,452 questions (10 % held out for validation)"),
    "trec_maxnorm1.5": (["experiment=trec_cnn_rand", "backbone.max_norm=1.5"], 0.912,
                        "as trec, with Kim's max-norm (his 3 on non-inverted dropout is 1.5 here)"),
    "sst2": (["experiment=sst2_cnn_rand"], 0.827, "the 6,920 training sentences only (dev for validation)"),
    "sst2_phrases": (["experiment=sst2_cnn_rand", f"data.train={PHRASES_FILE}", "data.classes=['0','1']"], 0.827,
                     "67,358 distinct training phrases and sentences, as Kim (dev for validation)"),
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
        if name == "sst2_phrases":
            write_phrases_file()
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


def write_phrases_file() -> None:
    """Kim's SST-2 training set as one `LABEL sentence` file: the labelled training phrases (GLUE's train split,
    `label<TAB>sentence` under a header) and the training sentences, each distinct text once."""
    if PHRASES_FILE.is_file():
        return
    shared = Path(os.environ.get("CNNLAB_SHARED_DATA", "../shared/data")) / "text" / "sst2"
    seen: dict[str, str] = {}
    with open(shared / "phrases_train.tsv", encoding="utf-8", newline="") as phrases:
        next(phrases)  # the header
        for line in phrases:
            label, _, text = line.rstrip("\r\n").partition("\t")
            seen.setdefault(text.strip(), label)
    for line in (shared / "train.txt").read_text(encoding="utf-8").splitlines():
        label, _, text = line.partition(" ")
        seen.setdefault(text.strip(), label)
    PHRASES_FILE.parent.mkdir(parents=True, exist_ok=True)
    partial = PHRASES_FILE.with_name(PHRASES_FILE.name + ".partial")
    partial.write_text("".join(f"{label} {text}\n" for text, label in seen.items() if text), encoding="utf-8")
    partial.replace(PHRASES_FILE)


if __name__ == "__main__":
    main()
