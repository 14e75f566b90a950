"""The GPU path, checked in one command (`make gpu-check`) on a machine with one CUDA GPU; each part side by side
in this one process:

1. throughput: ResNet-18 and ResNet-50 training steps at 224 px (digits upsampled, in memory) through cnnlab's own
   task and Trainer, in fp32 eager, bf16-mixed, bf16 + channels_last and bf16 + channels_last + torch.compile:
   images/s and ratios to fp32 eager (target >= 2.5x for the last on ResNet-18), and the best setting again in a
   plain PyTorch loop on the same network and batches (target: cnnlab >= 0.97 of it);
2. tasks: each task's embedded default end to end with trainer=gpu: wall time, time to its target validation
   metric, the best metric, peak GPU memory, and data starvation (share of step time waiting for the next batch)
   with the data's own worker settings;
3. reproduce: `cnnlab reproduce` of the classification run from 2, each metric's difference against the
   documented GPU tolerance;
4. system metrics: which GPUs the runs of 2 logged as system/gpu_<i>_* (the job's only).

Writes OUT/gpu_check.json and OUT/gpu_check.md (the table README's GPU section carries).
--quick: tiny sizes on whatever device there is (the CPU on a machine without a GPU), no torch.compile: what the
test suite runs so that this script cannot rot.
usage: python scripts/gpu_check.py [--quick] [--out outputs/gpu_check]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from bench_common import cnnlab_steps, compose_config, machine, scratch_store, timed_train
from mlflow.tracking import MlflowClient

from cnnlab.commands import reproduce
from cnnlab.data import build_data
from cnnlab.tasks import TASKS, build_task
from cnnlab.tracking.tags import REPRODUCES_TAG

MODES = {  # name -> trainer overrides
    "fp32 eager": ["trainer.precision=32-true", "trainer.channels_last=false"],
    "bf16-mixed": ["trainer.precision=bf16-mixed", "trainer.channels_last=false"],
    "bf16 + channels_last": ["trainer.precision=bf16-mixed", "trainer.channels_last=true"],
    "bf16 + channels_last + compile": ["trainer.precision=bf16-mixed", "trainer.channels_last=true",
                                       "trainer.compile=default"],
}  # fmt: skip
TARGETS = {  # task -> (validation metric, the value that counts as reached)
    "classification": ("val/acc", 0.98),
    "segmentation": ("val/miou", 0.90),
    "detection": ("val/map_50", 0.80),
    "text": ("val/acc", 0.80),
}
QUICK_TASK = {  # a few steps of each task, for --quick
    "classification": [],
    "segmentation": ["data.num_train=16", "data.num_val=8", "data.num_test=8", "data.batch_size=4", "data.size=32"],
    "detection": ["data.num_train=16", "data.num_val=8", "data.num_test=8", "data.batch_size=4", "data.size=64"],
    "text": ["backbone.embedding_dim=8", "backbone.maps=4"],
}
# --quick leaves out exporting the model (torch.export of a detector takes longer than its training here)
QUICK_TRAINER = ["trainer.max_epochs=1", "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1",
                 "+trainer.limit_test_batches=1", "tracking.log_model=false"]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes on any device; no torch.compile")
    parser.add_argument("--out", type=Path, default=Path("outputs/gpu_check"))
    args = parser.parse_args(argv)
    gpu = torch.cuda.is_available()
    if not gpu and not args.quick:
        print("cnnlab: error: no CUDA GPU here; make gpu-check needs one (--quick runs tiny sizes on the CPU)",
              file=sys.stderr)  # fmt: skip
        return 1
    trainer = ["trainer=gpu"] if gpu else ["trainer=cpu", "trainer.deterministic=true"]
    result = {"machine": machine(), "device": torch.cuda.get_device_name(0) if gpu else "cpu", "quick": args.quick,
              "date": time.strftime("%Y-%m-%d")}  # fmt: skip
    with scratch_store() as tmp:
        client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])  # the scratch store, named: never a default
        result["throughput"] = throughput(trainer, args.quick, tmp)
        result["tasks"], run_ids = tasks(trainer, args.quick, tmp, client)
        result["reproduce"] = reproduced(run_ids["classification"], gpu, client)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_check.json").write_text(json.dumps(result, indent=2))
    table = markdown(result)
    (args.out / "gpu_check.md").write_text(table)
    print(table)
    print(f"wrote {args.out / 'gpu_check.json'} and {args.out / 'gpu_check.md'}")
    return 0


def throughput(trainer: list[str], quick: bool, tmp: Path) -> dict:
    """images/s of each model in each mode through cnnlab, and the best mode in a plain loop."""
    models = ["resnet18"] if quick else ["resnet18", "resnet50"]
    modes = {k: v for k, v in MODES.items() if not (quick and "compile" in k)}
    size, batch, steps, warmup = (32, 8, 4, 1) if quick else (224, 128, 40, 10)
    out = {}
    for model in models:
        workload = [*trainer, f"backbone={model}", f"data.image_size={size}", f"data.batch_size={batch}",
                    "data.augment=[]", "data.batch_augment=[]"]  # fmt: skip
        rates = {}
        for index, (name, mode) in enumerate(modes.items()):
            run_dir = tmp / f"{model}-{index}"
            step_s, _, _ = cnnlab_steps([*workload, *mode], steps + warmup, False, run_dir, warmup=warmup)
            rates[name] = batch / step_s
            print(f"throughput: {model} {name}: {rates[name]:.1f} images/s", flush=True)
        best = list(modes)[-1]
        plain = batch / plain_step_seconds([*workload, *modes[best]], steps, warmup, tmp / model)
        out[model] = {
            "images_per_s": rates,
            "ratio_to_fp32": {name: rate / rates["fp32 eager"] for name, rate in rates.items()},
            "plain_loop": {"mode": best, "images_per_s": plain, "cnnlab_ratio": rates[best] / plain},
        }
    return out


def plain_step_seconds(overrides: list[str], steps: int, warmup: int, tmp: Path) -> float:
    """The same network, batches and optimizer in a hand-written loop with the mode's precision, memory format
    and compilation; median step seconds."""
    config = compose_config(overrides, tmp)
    data = build_data(config["data"])
    task = build_task(config["task"], backbone=config["backbone"], optimizer=config["optimizer"],
                      scheduler=config["scheduler"], data_facts=data.facts())  # fmt: skip
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    options = config["trainer"]
    memory_format = torch.channels_last if options.get("channels_last") else torch.contiguous_format
    net = copy.deepcopy(task.net).to(device, memory_format=memory_format).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=config["optimizer"]["lr"])
    forward = torch.compile(net, mode=options["compile"]) if options.get("compile") else net
    bf16 = str(options.get("precision", "")).startswith("bf16")
    data.setup()
    times, start = [], None
    for index, (images, labels) in enumerate(data.train_dataloader()):
        if device.type == "cuda":
            torch.cuda.synchronize()
        now = time.perf_counter()
        if index > warmup:
            times.append(now - start)
        start = now
        if index == steps + warmup:
            break
        images = images.to(device, non_blocking=True).contiguous(memory_format=memory_format)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(forward(images), labels.to(device, non_blocking=True))
        loss.backward()
        optimizer.step()
    return statistics.median(times)


def tasks(trainer: list[str], quick: bool, tmp: Path, client: MlflowClient) -> tuple[dict, dict[str, str]]:
    """Each registered task's default end to end; (results by task, run id by task)."""
    out, run_ids = {}, {}
    for name in TASKS.names():
        overrides = [f"task={name}", *trainer, *(QUICK_TASK[name] + QUICK_TRAINER if quick else [])]
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        metrics, wall = timed_train(overrides, tmp / f"task-{name}")
        peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None
        run = latest_run(client, name)
        run_ids[name] = run.info.run_id
        metric, target = TARGETS[name]
        history = client.get_metric_history(run.info.run_id, metric)
        reached = [point.timestamp for point in history if point.value >= target]
        timer = None
        if not quick or name == "classification":  # --quick times one task's steps: the others' add only seconds
            steps = 4 if quick else 30
            _, timer, _ = cnnlab_steps(overrides, steps, True, tmp / f"steps-{name}", warmup=1 if quick else 5)
        out[name] = {
            "wall_s": wall,
            "metric": metric,
            "best": max((point.value for point in history), default=None),
            "target": target,
            "seconds_to_target": (min(reached) - run.info.start_time) / 1000 if reached else None,
            "test": {k: v for k, v in metrics.items() if k.startswith("test/") and k.count("/") == 1},
            "peak_gpu_memory_gib": peak,
            "starvation": sum(timer.waits) / sum(timer.steps) if timer and timer.steps else None,
            "system_metrics_gpus": system_metrics_gpus(run),
        }
        print(f"task: {name}: {wall:.1f} s, best {metric} {out[name]['best']}", flush=True)
    return out, run_ids


def system_metrics_gpus(run) -> list[str]:
    """The GPU numbers the run's system metrics name: cnnlab keeps the job's (here cuda:0 only)."""
    return sorted({key.split("_")[1] for key in run.data.metrics if key.startswith("system/gpu_")})


def latest_run(client: MlflowClient, task: str):
    experiment = client.get_experiment_by_name(task)
    return client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"], max_results=1)[0]


def reproduced(run_id: str, gpu: bool, client: MlflowClient) -> dict:
    """`cnnlab reproduce RUN_ID` as users run it; every metric's difference against the tolerance it is held to."""
    status = reproduce.main([run_id, "--tracking-uri", client.tracking_uri])
    source = client.get_run(run_id)
    (again,) = client.search_runs([source.info.experiment_id], filter_string=f"tags.`{REPRODUCES_TAG}` = '{run_id}'")
    tolerance = reproduce.GPU_TOLERANCE if gpu else 0.0
    rows = reproduce.compare_metrics(source.data.metrics, again.data.metrics, tolerance)
    differences = [abs(row[3]) for row in rows if row[3] is not None]
    return {
        "exit_status": status, "tolerance": tolerance, "metrics": len(rows),
        "matching": sum(row[4] == "match" for row in rows), "max_abs_difference": max(differences, default=0.0),
    }  # fmt: skip


def markdown(result: dict) -> str:
    lines = [f"GPU check on {result['device']} ({result['machine']}, {result['date']}"
             f"{', --quick' if result['quick'] else ''})", "",
             "| model | mode | images/s | × fp32 eager |", "|---|---|---|---|"]  # fmt: skip
    for model, numbers in result["throughput"].items():
        for mode, rate in numbers["images_per_s"].items():
            lines.append(f"| {model} | {mode} | {rate:.1f} | {numbers['ratio_to_fp32'][mode]:.2f} |")
        plain = numbers["plain_loop"]
        lines.append(f"| {model} | plain PyTorch loop, {plain['mode']} | {plain['images_per_s']:.1f} | "
                     f"cnnlab / plain {plain['cnnlab_ratio']:.3f} |")  # fmt: skip
    lines += ["", "| task | wall s | best val metric (target) | s to target | peak GPU GiB | starvation |",
              "|---|---|---|---|---|---|"]  # fmt: skip
    for name, row in result["tasks"].items():
        best = "—" if row["best"] is None else f"{row['best']:.4f}"
        to_target = "not reached" if row["seconds_to_target"] is None else f"{row['seconds_to_target']:.0f}"
        peak = "—" if row["peak_gpu_memory_gib"] is None else f"{row['peak_gpu_memory_gib']:.2f}"
        starved = "—" if row["starvation"] is None else f"{row['starvation']:.1%}"
        lines.append(f"| {name} | {row['wall_s']:.1f} | {row['metric']} {best} ({row['target']}) | {to_target} | "
                     f"{peak} | {starved} |")  # fmt: skip
    gpus = {name: row.get("system_metrics_gpus") for name, row in result["tasks"].items()}
    lines += ["", f"system metrics: GPUs logged per task {gpus} (the job's device only: ['0'])"]
    again = result["reproduce"]
    lines += ["", f"reproduce (classification): {again['matching']} of {again['metrics']} metrics within "
              f"{again['tolerance']:g}, largest difference {again['max_abs_difference']:.3g}, "
              f"exit {again['exit_status']}"]  # fmt: skip
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
