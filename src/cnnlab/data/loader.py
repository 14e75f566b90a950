"""DataLoader options from the data config, with "auto" resolved for the accelerator that trains."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from cnnlab.errors import CnnlabError

AUTO = "auto"


@dataclass(frozen=True)
class LoaderOptions:
    """data.num_workers / data.pin_memory / data.persistent_workers as the config gives them."""

    num_workers: int | str = AUTO
    pin_memory: bool | str = AUTO
    persistent_workers: bool = True

    def __post_init__(self) -> None:
        workers = self.num_workers
        if workers != AUTO and not (isinstance(workers, int) and not isinstance(workers, bool) and workers >= 0):
            raise CnnlabError(f"data.num_workers={workers} is not valid; use a count >= 0 or auto")
        if self.pin_memory not in (AUTO, True, False):
            raise CnnlabError(f"data.pin_memory={self.pin_memory} is not valid; use true, false or auto")

    def resolve(self, *, on_gpu: bool, devices: int) -> dict[str, Any]:
        """DataLoader keyword arguments for training on a GPU (or not) with `devices` devices on this node."""
        workers = auto_workers(on_gpu, devices) if self.num_workers == AUTO else self.num_workers
        return {
            "num_workers": workers,
            # Page-locked batches let host-to-GPU copies run asynchronously; on CPU they only cost memory.
            "pin_memory": on_gpu if self.pin_memory == AUTO else self.pin_memory,
            "persistent_workers": self.persistent_workers and workers > 0,
        }


def auto_workers(on_gpu: bool, devices: int) -> int:
    """Worker processes per DataLoader when data.num_workers=auto."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if on_gpu:  # the GPU waits on decoding and augmentation: each device's loader gets its share of the cores
        return max(1, min(8, cores // max(1, devices) - 1))
    # On CPU the network's own threads need the cores; half of them decode and augment the next batches.
    return cores // 2
