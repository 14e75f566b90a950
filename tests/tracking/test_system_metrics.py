"""Which GPUs a run's system metrics name: the job's, in torch's numbering, matched to NVML by UUID. No GPU here:
NVML and torch's device properties are stood in for; MLflow's monitor objects are real."""

from __future__ import annotations

import sys
from types import ModuleType, SimpleNamespace

import pytest
import torch
from mlflow.system_metrics.metrics.cpu_monitor import CPUMonitor
from mlflow.system_metrics.metrics.gpu_monitor import GPUMonitor

from cnnlab.tracking.system_metrics import keep_job_gpus

# Four GPUs as NVML numbers them; the job sees physical 2 and 0 as cuda:0 and cuda:1 (CUDA_VISIBLE_DEVICES=2,0).
NVML_UUIDS = ["GPU-aaaa0000", "GPU-bbbb1111", "GPU-cccc2222", "GPU-dddd3333"]
TORCH_UUIDS = {0: "cccc2222", 1: "aaaa0000"}


class NVMLError(Exception):
    pass


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """A monitor as MLflow builds it on a 4-GPU machine."""
    nvml = ModuleType("pynvml")
    nvml.NVMLError = NVMLError
    nvml.nvmlDeviceGetUUID = lambda handle: NVML_UUIDS[handle].encode()  # older pynvml answers bytes
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: SimpleNamespace(uuid=TORCH_UUIDS[index]))
    gpus = GPUMonitor.__new__(GPUMonitor)  # its constructor would start NVML
    gpus.gpu_handles, gpus.num_gpus = [0, 1, 2, 3], 4
    return SimpleNamespace(monitors=[CPUMonitor(), gpus], gpus=gpus)


def test_the_jobs_gpus_are_kept_in_torchs_order(machine) -> None:
    keep_job_gpus(machine, [0, 1])
    assert machine.gpus.gpu_handles == [2, 0] and machine.gpus.num_gpus == 2  # logged as gpu_0, gpu_1


def test_a_job_without_gpus_logs_none(machine) -> None:
    keep_job_gpus(machine, [])
    assert [type(m) for m in machine.monitors] == [CPUMonitor]


def test_a_gpu_nvml_does_not_know_keeps_them_all_with_a_warning(machine, monkeypatch, caplog) -> None:
    monkeypatch.setitem(TORCH_UUIDS, 0, "eeee4444")
    keep_job_gpus(machine, [0])
    assert machine.gpus.gpu_handles == [0, 1, 2, 3] and "every GPU of the machine is logged" in caplog.text
