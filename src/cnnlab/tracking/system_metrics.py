"""System metrics of a run (CPU, memory, disk, network; the job's GPUs where NVIDIA's management library is
installed), sampled by MLflow's own monitor into `system/*` metrics: what the run page's "System metrics" tab shows.

Runs are created with MlflowClient.create_run, so MLflow's switch (MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING, read by
mlflow.start_run only) never applies; the monitor is started here, for the run, by rank 0 only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from mlflow.system_metrics.metrics.gpu_monitor import GPUMonitor
from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

from cnnlab.distributed import is_rank_zero
from cnnlab.tracking.run import TrackedRun

log = logging.getLogger(__name__)


@contextmanager
def system_metrics(
    run: TrackedRun, *, enabled: bool, interval_s: float, gpus: Sequence[int] = (), resuming: bool = False
) -> Iterator[None]:
    """Samples every `interval_s` seconds while the block runs; `gpus` are the CUDA indices the job uses (the
    node's other GPUs belong to other jobs). A resumed run's system metrics continue from its last step."""
    if not enabled or run.offline or not is_rank_zero():
        yield
        return
    monitor = SystemMetricsMonitor(run.run_id, sampling_interval=interval_s, resume_logging=resuming,
                                   tracking_uri=run.tracking_uri)  # fmt: skip
    keep_job_gpus(monitor, gpus)
    monitor.start()
    try:
        yield
    finally:
        if not run.offline:  # a server gone away: the sampling thread (a daemon) stops on its first failed request
            monitor.finish()


def keep_job_gpus(monitor: SystemMetricsMonitor, gpus: Sequence[int]) -> None:
    """MLflow's GPU monitor reads every GPU of the machine; keep the job's, named gpu_0.. as torch numbers them.
    Matched by UUID: CUDA_VISIBLE_DEVICES renumbers devices for torch, not for NVML."""
    gpu_monitors = [m for m in monitor.monitors if isinstance(m, GPUMonitor)]
    if not gpu_monitors:
        return
    import pynvml  # present: MLflow's GPU monitor exists only when it is
    import torch

    for gpu_monitor in gpu_monitors:
        if not gpus:
            monitor.monitors.remove(gpu_monitor)
            continue
        try:
            by_uuid = {_bare(pynvml.nvmlDeviceGetUUID(handle)): handle for handle in gpu_monitor.gpu_handles}
            handles = [by_uuid[_bare(torch.cuda.get_device_properties(index).uuid)] for index in gpus]
        except (pynvml.NVMLError, RuntimeError, AssertionError, KeyError) as err:
            log.warning("system metrics: cannot tell the job's GPUs apart (%s); every GPU of the machine is logged",
                        err)  # fmt: skip
            continue
        gpu_monitor.gpu_handles, gpu_monitor.num_gpus = handles, len(handles)


def _bare(uuid: object) -> str:
    """A GPU's UUID as NVML and torch both write it: NVML says "GPU-…" (bytes in older versions), torch not."""
    text = uuid.decode() if isinstance(uuid, bytes) else str(uuid)
    return text.removeprefix("GPU-").lower()
