"""Export a trained task to a file and prove it: the file, run by its own runtime, is evaluated on the run's test
split beside the eager network on the same inputs; a test metric more than TOLERANCE apart fails the export.
The result is logged to the run (export/<format>/<metric>, the folder as artifacts export/<format>/)."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import cnnlab
from cnnlab.errors import CnnlabError
from cnnlab.serving.exported import EXPORT_SPECS, ExportSpec
from cnnlab.serving.formats import FORMATS, MANIFEST, as_tuple, read_manifest
from cnnlab.tasks import BaseTask

TOLERANCE = 0.001  # absolute: 0.1 points of accuracy, IoU or mAP


@dataclass
class ExportResult:
    format: str
    path: Path
    eager: dict[str, float]
    exported: dict[str, float]
    size_bytes: int
    export_seconds: float
    check_seconds: float
    largest_output_gap: float = 0.0  # the largest absolute difference of any output value (where shapes agree)
    checked: list[str] = field(default_factory=list)

    def deltas(self) -> dict[str, float]:
        return {key: self.exported[key] - self.eager[key] for key in self.checked}

    def metrics(self) -> dict[str, float]:
        """What is logged to the run, under export/<format>/."""
        values = {key: self.exported[key] for key in self.checked}
        values |= {f"{key}_delta": delta for key, delta in self.deltas().items()}
        return {f"export/{self.format}/{key}": value for key, value in
                {**values, "size_mb": self.size_bytes / 2**20, "output_gap": self.largest_output_gap}.items()}

    def summary(self) -> str:
        shown = ", ".join(f"{key} {self.exported[key]:.4f} (eager {self.eager[key]:.4f})" for key in self.checked)
        return (f"exported {self.format} to {self.path} ({self.size_bytes / 2**20:.1f} MB): test {shown}; "
                f"outputs within {self.largest_output_gap:.1e}")  # fmt: skip


def export_task(
    task: BaseTask,
    data: Any,
    data_settings: Mapping[str, Any],
    format_name: str,
    out_dir: Path,
    run_id: str,
) -> ExportResult:
    """Writes <out_dir>/<model file> and its manifest, checks them on `data`'s test split (set up, classes aligned
    to the task), and returns the result; raises CnnlabError when the export disagrees with the eager network."""
    export_format = FORMATS.get(format_name)
    spec = EXPORT_SPECS.get(task.task_name)(task.eval(), data_settings)
    if format_name in spec.unsupported:
        raise CnnlabError(f"--format {format_name}: {spec.unsupported[format_name]}")
    claim_folder(out_dir, run_id)
    example = spec.example(data.test_dataloader())
    manifest = describe(spec, format_name, export_format.file_name, run_id)
    path = out_dir / export_format.file_name
    started = time.perf_counter()
    partial = path.with_name(f".partial-{path.name}")  # a kill mid-write leaves no half file under the real name
    try:
        export_format.save(spec, example, partial, json.dumps(manifest))
    except Exception as err:  # the exporters raise many types; what failed is the format, said in one line
        partial.unlink(missing_ok=True)
        reason = " ".join(str(err).split())[:300]
        raise CnnlabError(
            f"--format {format_name}: the exporter failed on run {run_id}'s network ({type(err).__name__}: {reason}); "
            "try another format"
        ) from err
    os.replace(partial, path)
    exported_in = time.perf_counter() - started
    write_sidecars(spec, out_dir, manifest)
    started = time.perf_counter()
    eager, exported, gap = evaluate_both(spec, export_format.load(path), data.test_dataloader())
    result = ExportResult(format_name, path, eager, exported, path.stat().st_size, exported_in,
                          time.perf_counter() - started, gap, spec.compared(eager))  # fmt: skip
    for key, delta in result.deltas().items():
        if not abs(delta) <= TOLERANCE:
            raise CnnlabError(
                f"the {format_name} export of run {run_id} disagrees with PyTorch on the test split: {key} "
                f"{exported[key]:.4f} against {eager[key]:.4f} (more than {TOLERANCE} apart); the file stays at "
                f"{path} for inspection and is not logged"
            )
    return result


def claim_folder(out_dir: Path, run_id: str) -> None:
    """An export folder holds one run's exports: another run's manifest there is refused, not overwritten."""
    if out_dir.exists() and not out_dir.is_dir():
        raise CnnlabError(f"--output {out_dir} is a file; give a folder for the export")
    owner = read_manifest(out_dir) if out_dir.is_dir() else None
    if owner is not None and owner.get("run_id") != run_id:
        raise CnnlabError(
            f"--output {out_dir} holds the export of run {owner.get('run_id')}; give another folder for run {run_id}"
        )
    out_dir.mkdir(parents=True, exist_ok=True)


def describe(spec: ExportSpec, format_name: str, file_name: str, run_id: str) -> dict[str, Any]:
    return {
        "cnnlab_version": cnnlab.__version__,
        "run_id": run_id,
        "task": spec.task.task_name,
        "format": format_name,
        "file": file_name,
        "runtime": FORMATS.get(format_name).runtime,
        "class_names": list(spec.task.class_names),
        **spec.manifest(),
    }


def write_sidecars(spec: ExportSpec, out_dir: Path, manifest: Mapping[str, Any]) -> None:
    """The manifest as JSON (and for text the vocabulary, one token per line) beside the model file."""
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if spec.task.encodes_with_vocabulary:
        spec.task.vocabulary.save(out_dir / "vocabulary.txt")


def evaluate_both(spec: ExportSpec, run_exported, batches: Iterable[Any]) -> tuple[dict, dict, float]:
    """The task's test metrics of the eager module and of the exported file, fed the same inputs, and the largest
    absolute difference between their outputs."""
    eager_metrics, exported_metrics, gap = spec.metrics(), spec.metrics(), 0.0
    with torch.no_grad():
        for batch in batches:
            calls = spec.calls(batch)
            eager = [as_tuple(spec.module(*inputs)) for inputs in calls]
            exported = [run_exported(*inputs) for inputs in calls]
            spec.update(eager_metrics, eager, batch)
            spec.update(exported_metrics, exported, batch)
            gap = max(gap, largest_gap(eager, exported))
    return plain(eager_metrics.compute()), plain(exported_metrics.compute()), gap


def largest_gap(eager: list[tuple], exported: list[tuple]) -> float:
    gaps = [(a.double() - b.double()).abs().max().item()
            for ours, theirs in zip(eager, exported, strict=True) for a, b in zip(ours, theirs, strict=True)
            if a.shape == b.shape and a.numel()]  # fmt: skip
    return max(gaps, default=0.0)


def plain(values: Mapping[str, Any]) -> dict[str, float]:
    """Scalar metrics as floats under their own names (acc, not test/acc; per-class tensors left out)."""
    scalars = {key.rsplit("/", 1)[-1]: float(value) for key, value in values.items()
               if torch.as_tensor(value).numel() == 1}  # fmt: skip
    return {key: value for key, value in scalars.items() if not math.isnan(value)}
