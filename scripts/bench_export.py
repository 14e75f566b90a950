"""The export matrix: every task x format, after a short real training of each task, side by side in one run.

Per row: whether `cnnlab export`'s check passed (the file, run by its own runtime on the test split, within 0.001
of PyTorch on every checked test metric), the metric and its delta, the file size, and CPU latency per input of
the exported file against eager PyTorch on the same inputs, at batch 1 and batch 32 (detection takes one image
per call: its batch 32 is 32 calls), alternating the two, median of repeats.
Writes outputs/bench/export.json and prints the README table.
usage: python scripts/bench_export.py [--tasks classification text ...] [--formats onnx ...] [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from bench_common import machine, scratch_store, timed_train, write_result
from mlflow.tracking import MlflowClient

from cnnlab.errors import CnnlabError
from cnnlab.restored import restored_with_data
from cnnlab.serving.export import export_task
from cnnlab.serving.formats import FORMATS, as_tuple
from cnnlab.tracking.source import load_source_run

# Short but real trainings: the metrics are those of a model that learned something.
RECIPES = {
    "classification": ["trainer.max_epochs=3"],
    "text": ["task=text", "trainer.max_epochs=3"],
    "segmentation": ["task=segmentation", "trainer.max_epochs=3"],
    "detection": ["task=detection", "trainer.max_epochs=3"],
}
CHECKED = {"classification": "acc", "text": "acc", "segmentation": "miou", "detection": "map_50"}


def inputs_at(spec, data, batch_size: int) -> list[tuple[torch.Tensor, ...]]:
    """Calls carrying `batch_size` test inputs in all: one call (detection: one per image)."""
    calls = []
    for batch in data.test_dataloader():
        calls += spec.calls(batch)
    if len(calls) > 1 and calls[0][0].ndim == 3:  # detection: single images
        return [calls[i % len(calls)] for i in range(batch_size)]
    tensors = [inputs[0] for inputs in calls]
    if tensors[0].ndim == 2:  # sentences: batches padded to their own longest, here to the longest of all
        longest = max(t.shape[1] for t in tensors)
        tensors = [torch.nn.functional.pad(t, (0, longest - t.shape[1])) for t in tensors]
    joined = torch.cat(tensors)
    repeated = joined.repeat_interleave(-(-batch_size // len(joined)), dim=0)[:batch_size]
    return [(repeated,)]


def per_input_ms(run, calls: list[tuple], inputs: int) -> float:
    start = time.perf_counter()
    with torch.no_grad():
        for args in calls:
            as_tuple(run(*args))
    return (time.perf_counter() - start) * 1000 / inputs


def latencies(spec, run_exported, data, repeats: int) -> dict[str, float]:
    """Median ms per input, exported vs eager, alternating so that both see the same machine state."""
    result = {}
    for size in (1, 32):
        calls = inputs_at(spec, data, size)
        for run in (spec.module, run_exported):  # warm-up: first calls allocate and plan
            per_input_ms(run, calls, size)
        eager, exported = [], []
        for _ in range(repeats):
            eager.append(per_input_ms(spec.module, calls, size))
            exported.append(per_input_ms(run_exported, calls, size))
        result[f"eager_ms_b{size}"] = statistics.median(eager)
        result[f"exported_ms_b{size}"] = statistics.median(exported)
        result[f"speedup_b{size}"] = result[f"eager_ms_b{size}"] / result[f"exported_ms_b{size}"]
    return result


def bench_task(name: str, formats: list[str], repeats: int, tmp) -> list[dict]:
    timed_train([*RECIPES[name], "tracking.log_model=false"], tmp / name)
    client = MlflowClient()
    source = load_source_run(client, "last")
    task, data = restored_with_data(source.config, source.checkpoint("best"))
    rows = []
    for fmt in formats:
        row = {"task": name, "format": fmt, "metric": CHECKED[name]}
        try:
            result = export_task(task, data, source.config["data"], fmt, tmp / "export" / name / fmt, source.run_id)
        except CnnlabError as err:
            rows.append({**row, "passed": False, "error": str(err)})
            continue
        key = CHECKED[name]
        row |= {"passed": True, "eager": result.eager[key], "exported": result.exported[key],
                "delta": result.deltas()[key], "output_gap": result.largest_output_gap,
                "size_mb": result.size_bytes / 2**20, "export_s": result.export_seconds}  # fmt: skip
        row |= latencies(result_spec(task, source), FORMATS.get(fmt).load(result.path), data, repeats)
        rows.append(row)
        print(table_row(row), flush=True)
    return rows


def result_spec(task, source):
    from cnnlab.serving.exported import EXPORT_SPECS

    return EXPORT_SPECS.get(task.task_name)(task.eval(), source.config["data"])


HEADER = ("| task | format | check | test metric (delta vs eager) | size | ms/input b1: exported / eager | "
          "ms/input b32: exported / eager |\n|---|---|---|---|---|---|---|")  # fmt: skip


def table_row(row: dict) -> str:
    if not row["passed"]:
        return f"| {row['task']} | {row['format']} | FAIL | {row['error'][:80]} | | | |"
    return (
        f"| {row['task']} | {row['format']} | pass | {row['metric']} {row['exported']:.4f} ({row['delta']:+.4f}; "
        f"outputs within {row['output_gap']:.0e}) | "
        f"{row['size_mb']:.1f} MB | {row['exported_ms_b1']:.2f} / {row['eager_ms_b1']:.2f} "
        f"({row['speedup_b1']:.2f}x) | {row['exported_ms_b32']:.2f} / {row['eager_ms_b32']:.2f} "
        f"({row['speedup_b32']:.2f}x) |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--formats", nargs="+", default=FORMATS.names(), choices=FORMATS.names())
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    rows = []
    print(HEADER, flush=True)
    with scratch_store() as tmp:
        for name in args.tasks:
            rows += bench_task(name, args.formats, args.repeats, tmp)
    print("\n" + HEADER + "\n" + "\n".join(table_row(row) for row in rows))
    write_result("export", {"machine": machine(), "torch_threads": torch.get_num_threads(), "rows": rows})


if __name__ == "__main__":
    main()
