"""What the benchmark scripts share: the real config composed in-process, a throw-away store, result files."""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from omegaconf import open_dict

from cnnlab.config_files import CONFIG_DIR, CONFIG_NAME
from cnnlab.dispatch import train


@contextmanager
def scratch_store() -> Iterator[Path]:
    """A temporary folder whose sqlite MLflow store receives every run of the benchmark."""
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
        yield Path(tmp)


def compose_config(overrides: list[str], run_dir: Path) -> dict:
    """The resolved config of `overrides`, as train() sees it, with run_dir set."""
    from omegaconf import OmegaConf

    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(CONFIG_NAME, overrides=["trainer.enable_progress_bar=false", *overrides])
    with open_dict(cfg):
        cfg.run_dir = str(run_dir)
    return OmegaConf.to_container(cfg, resolve=True)


def timed_train(overrides: list[str], run_dir: Path) -> tuple[dict[str, float], float]:
    """train() on the composed config; returns its metrics and wall seconds."""
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(CONFIG_NAME, overrides=["trainer.enable_progress_bar=false", *overrides])
    with open_dict(cfg):
        cfg.run_dir = str(run_dir)
    start = time.perf_counter()
    metrics = train(cfg)
    return metrics, time.perf_counter() - start


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"


def write_result(name: str, summary: dict) -> None:
    out = Path("outputs/bench") / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))
    print(f"wrote {out}")
