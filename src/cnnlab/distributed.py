"""DDP ranks of one job share one config, one output folder and one MLflow run.

Lightning starts the extra ranks of a `strategy=ddp` job by re-running the command line. Under a Hydra
multirun that would re-run the whole sweep in every rank, and under a sampling sweeper train other configs.
So before fit, rank 0 writes the job's resolved config to its run folder and names it (and its MLflow run) in
the environment the ranks inherit; `cnnlab` started as such a rank trains exactly that config and logs nothing
(Lightning logs from rank 0 only, with metrics reduced across ranks). Ranks started by torchrun or SLURM compose
the same command themselves; they too stay out of MLflow.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

CONFIG_ENV = "CNNLAB_DDP_CONFIG"  # the job's resolved config (JSON), for the ranks Lightning starts
RUN_ENV = "CNNLAB_DDP_RUN_ID"  # the MLflow run rank 0 logs to


def process_rank() -> int:
    """This process's global rank as launchers announce it (torchrun: RANK, SLURM: SLURM_PROCID, Lightning's
    own launcher: NODE_RANK and LOCAL_RANK); 0 when nothing launched it as a rank."""
    for variable in ("RANK", "SLURM_PROCID"):
        if variable in os.environ and int(os.environ.get("WORLD_SIZE", os.environ.get("SLURM_NTASKS", "1"))) > 1:
            return int(os.environ[variable])
    return int(os.environ.get("NODE_RANK", 0)) + int(os.environ.get("LOCAL_RANK", 0))


def is_rank_zero() -> bool:
    return process_rank() == 0


def share_with_ranks(config: dict[str, Any], run_id: str) -> None:
    """Rank 0, before fit: the config and run the ranks Lightning is about to start must use."""
    path = Path(config["run_dir"]) / ".cnnlab_ddp_config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config))
    os.environ[CONFIG_ENV] = str(path.resolve())
    os.environ[RUN_ENV] = run_id


def started_as_rank() -> bool:
    """True in a process Lightning started as an extra rank of a cnnlab job."""
    return bool(os.environ.get(CONFIG_ENV)) and not is_rank_zero()


def shared_config() -> dict[str, Any]:
    """The job's config, as rank 0 wrote it for the ranks Lightning starts."""
    return json.loads(Path(os.environ[CONFIG_ENV]).read_text())


# What Lightning's launcher writes into the launching process's environment for one job.
LAUNCH_VARIABLES = ("MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "RANK", CONFIG_ENV, RUN_ENV)


def launch_environment() -> dict[str, str | None]:
    return {variable: os.environ.get(variable) for variable in LAUNCH_VARIABLES}


def end_job(before: dict[str, str | None]) -> None:
    """After a DDP job: leave its process group and put back the launch variables as they were before it, so
    the next job of a sweep run in this process starts its own ranks (Lightning reads a LOCAL_RANK left behind
    as "ranks are started externally" and would wait for ranks that never come)."""
    import torch.distributed

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    for variable, value in before.items():
        if value is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = value


def spans_devices(trainer_settings: dict[str, Any]) -> bool:
    """Whether the trainer.* settings ask for more than one process (several devices or nodes; "auto" may)."""
    devices = trainer_settings.get("devices", 1)
    count = len(devices) if isinstance(devices, list) else devices
    return trainer_settings.get("num_nodes", 1) > 1 or count not in (1, "1")
