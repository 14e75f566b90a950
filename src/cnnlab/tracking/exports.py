"""Exports of a run, checked and recorded in it: the checked metrics (export/<format>/<metric>, their delta from
PyTorch, the file's size) and the export folder (model file, manifest, vocabulary) as artifacts export/<format>/.
`cnnlab export` and tracking.export (at the end of training) both come here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cnnlab.restored import restored_with_data
from cnnlab.serving.export import ExportResult, export_task
from cnnlab.tracking.run import TrackedRun


def export_run(
    run: TrackedRun, config: Mapping[str, Any], checkpoint: str | Path, formats: Sequence[str], root: Path
) -> list[ExportResult]:
    """Each format of `checkpoint` (the run's best) into root/<format>/, checked on the run's test split, logged."""
    task, data = restored_with_data(config, checkpoint)
    results = []
    for name in dict.fromkeys(formats):
        result = export_task(task, data, config["data"], name, root / name, run.run_id)
        log_export(run, result)
        print(result.summary())
        results.append(result)
    return results


def log_export(run: TrackedRun, result: ExportResult) -> None:
    run.log_metrics(result.metrics())
    for path in sorted(result.path.parent.iterdir()):
        if path.is_file() and not path.name.startswith("."):
            run.log_file(path, f"export/{result.format}")
