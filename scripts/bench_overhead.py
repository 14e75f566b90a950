"""What the pipeline costs, measured side by side in one process.

1. overhead: cnnlab's training steps (the real config, Trainer, callbacks, MLflow logger) against a plain
   PyTorch loop on the identical network, DataLoader, optimizer and threads; alternating, several repeats,
   median images/s, ratio cnnlab / plain (target >= 0.97).
2. tracking: the same cnnlab steps with the MLflow logger on and off; ratio of step times (target <= 1.02).
   system metrics: the tracked steps with MLflow's system-metrics sampling on (config interval) against off, ratio
   of mean step times (a sample every few seconds hides from a median), and the cost of one sample (collect +
   log to the store) as a share of the interval (target <= 1 %).
3. starvation: per task at its default settings, the fraction of training time spent waiting for the next batch.
Writes outputs/bench/overhead.json.
usage: python scripts/bench_overhead.py [--steps 60] [--repeats 5] [--tasks classification segmentation ...]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from bench_common import cnnlab_steps, compose_config, machine, scratch_store, write_result

from cnnlab.data import build_data
from cnnlab.tasks import build_task
from cnnlab.tracking.run import tracked_run


def plain_steps(overrides: list[str], steps: int, tmp) -> float:
    """The same network, DataLoader and optimizer in a hand-written loop; median step time."""
    config = compose_config(overrides, tmp)
    pl.seed_everything(config["seed"], workers=True)
    data = build_data(config["data"])
    task = build_task(config["task"], backbone=config["backbone"], optimizer=config["optimizer"],
                      scheduler=config["scheduler"], data_facts=data.facts())  # fmt: skip
    net = copy.deepcopy(task.net).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=config["optimizer"]["lr"])
    times, start = [], None
    for index, (images, labels) in enumerate(data.train_dataloader()):
        now = time.perf_counter()
        if index > 5:
            times.append(now - start)
        start = now
        if index == steps:
            break
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(net(images), labels).backward()
        optimizer.step()
    return statistics.median(times)


def sample_cost(overrides: list[str], tmp, samples: int = 20) -> dict[str, float]:
    """Seconds one system-metrics sample takes, collecting and logging to the store (what the sampling thread
    does each interval, its status check included), and that as a share of the configured interval."""
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor
    from mlflow.tracking import MlflowClient

    config = compose_config(overrides, tmp)
    interval = config["tracking"]["system_metrics_interval_s"]
    with tracked_run(tracking_uri=config["tracking"]["uri"], experiment="bench", run_name="sample-cost",
                     config=config, tags={}, artifact_root=str(tmp / "artifacts")) as run:  # fmt: skip
        monitor = SystemMetricsMonitor(run.run_id, sampling_interval=interval, tracking_uri=run.tracking_uri)
        client = MlflowClient(run.tracking_uri)
        start = time.perf_counter()
        for _ in range(samples):
            monitor.collect_metrics()
            client.get_run(run.run_id)
            monitor.publish_metrics(monitor.aggregate_metrics())
            monitor.mlflow_logger.flush()
        each = (time.perf_counter() - start) / samples
    return {"sample_s": each, "interval_s": interval, "share_of_interval": each / interval}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tasks", nargs="+", default=["classification", "segmentation", "detection", "text"])
    args = parser.parse_args()
    # A ResNet-18 on digits upsampled to 64 px: enough work per step that timings are stable on a CPU.
    workload = ["backbone=resnet18", "data.image_size=64", "data.augment=[]"]
    summary: dict = {"machine": machine(), "threads": torch.get_num_threads(), "workload": workload}
    with scratch_store() as tmp:
        plain, ours, untracked, ours_mean, monitored_mean = [], [], [], [], []
        for repeat in range(args.repeats):  # alternate so drifts in machine load hit all arms alike
            plain.append(plain_steps(workload, args.steps, tmp))
            median, timer, _ = cnnlab_steps(workload, args.steps, True, tmp)
            ours.append(median)
            ours_mean.append(statistics.mean(timer.steps))
            untracked.append(cnnlab_steps(workload, args.steps, False, tmp)[0])
            monitored_mean.append(statistics.mean(cnnlab_steps(workload, args.steps, True, tmp, system=True)[1].steps))
            print(f"repeat {repeat}: step s plain {plain[-1]:.4f}  cnnlab {ours[-1]:.4f}  untracked "
                  f"{untracked[-1]:.4f}  mean with/without system metrics {monitored_mean[-1]:.4f}/{ours_mean[-1]:.4f}")
        p, o, u = (statistics.median(times) for times in (plain, ours, untracked))
        summary["overhead"] = {"plain_step_s": p, "cnnlab_step_s": o, "throughput_ratio": p / o}
        summary["tracking"] = {"tracked_step_s": o, "untracked_step_s": u, "step_time_ratio": o / u}
        m, t = statistics.median(monitored_mean), statistics.median(ours_mean)
        summary["system_metrics"] = {"mean_step_s_on": m, "mean_step_s_off": t, "step_time_ratio": m / t,
                                     **sample_cost(workload, tmp)}  # fmt: skip
        summary["starvation"] = {}
        for task in args.tasks:
            _, timer, _ = cnnlab_steps([f"task={task}"], min(args.steps, 30), True, tmp)
            summary["starvation"][task] = sum(timer.waits) / sum(timer.steps)
    o, t, s = summary["overhead"], summary["tracking"], summary["system_metrics"]
    print(f"overhead: cnnlab/plain throughput {o['throughput_ratio']:.3f} (target >= 0.97)")
    print(f"tracking: step time with/without MLflow {t['step_time_ratio']:.3f} (target <= 1.02)")
    print(f"system metrics: mean step time with/without {s['step_time_ratio']:.3f}; one sample costs "
          f"{s['sample_s'] * 1000:.1f} ms = {s['share_of_interval']:.2%} of its {s['interval_s']} s interval "
          "(target <= 1 %)")
    for task, fraction in summary["starvation"].items():
        print(f"starvation: {task}: {fraction:.1%} of training time waiting for data")
    write_result("overhead", summary)


if __name__ == "__main__":
    main()
