"""k-fold cross-validation (data.cv_folds): one child run per fold under a parent run that gets the summary."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab.tracking.run import tracked_run
from cnnlab.train import choice_tags, default_run_name, train_config


def cross_validate(config: dict[str, Any], parent_run_id: str | None = None) -> dict[str, float]:
    """k-fold cross-validation (data.cv_folds): one child run per fold under a parent run that gets each
    metric's mean and std over the folds (cv/<metric>_mean, cv/<metric>_std) and a per-fold table."""
    folds = config["data"]["cv_folds"]
    tracking = config["tracking"]
    with tracked_run(
        tracking_uri=tracking["uri"],
        experiment=tracking["experiment"],
        run_name=f"{tracking['run_name'] or default_run_name(config)}-cv{folds}",
        config=config,
        tags=choice_tags(config),
        artifact_root=tracking["artifact_root"],
        parent_run_id=parent_run_id,
    ) as parent:
        results = []
        for fold in range(folds):
            child = copy.deepcopy(config)
            child["data"]["fold"] = fold
            child["run_dir"] = str(Path(config["run_dir"]) / f"fold{fold}")
            child["tracking"]["run_name"] = f"{parent.run_name}-fold{fold}"
            results.append(train_config(child, parent_run_id=parent.run_id))
        summary = summarise_folds(results)
        parent.log_metrics(summary)
        parent.log_text(metrics_table(results), "folds.csv")
        print(" ".join(f"{k}={v:.4f}" for k, v in summary.items() if k.startswith("cv/test/") and "/" not in k[8:]))
    monitor = config["task"]["monitor"]
    return {
        **{k.removeprefix("cv/").removesuffix("_mean"): v for k, v in summary.items() if k.endswith("_mean")},
        monitor: summary[f"cv/{monitor}_mean"],
    }


def summarise_folds(results: list[dict[str, float]]) -> dict[str, float]:
    """cv/<metric>_mean and cv/<metric>_std (population std over folds) for every metric all folds report."""
    keys = sorted(set.intersection(*(set(r) for r in results)))
    summary = {}
    for key in keys:
        values = np.array([r[key] for r in results], dtype=float)
        summary[f"cv/{key}_mean"] = float(values.mean())
        summary[f"cv/{key}_std"] = float(values.std())
    return summary


def metrics_table(results: list[dict[str, float]]) -> str:
    """CSV: one row per fold, one column per metric."""
    columns = sorted({key for result in results for key in result})
    lines = [",".join(["fold", *columns])]
    lines += [",".join([str(i), *(f"{r.get(c, '')}" for c in columns)]) for i, r in enumerate(results)]
    return "\n".join(lines) + "\n"
