"""What the benchmark scripts share: the real config composed in-process, a throw-away store, timed training
steps, result files."""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from omegaconf import open_dict

from cnnlab.config_files import CONFIG_DIR, CONFIG_NAME
from cnnlab.data import build_data
from cnnlab.dispatch import train
from cnnlab.tasks import build_task
from cnnlab.tracking.run import tracked_run
from cnnlab.tracking.system_metrics import system_metrics
from cnnlab.train import build_trainer


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


class StepTimer(pl.Callback):
    """Per training step: the time between step starts (within an epoch) and the wait for its batch."""

    def __init__(self, skip: int = 5) -> None:
        self.skip = skip  # warm-up steps left out
        self.steps: list[float] = []
        self.waits: list[float] = []
        self._start = self._end = None

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._start = self._end = None
        self._epoch_start = time.perf_counter()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()  # the previous step's kernels finished: its time is its own
        now = time.perf_counter()
        if batch_idx >= self.skip and self._start is not None:
            self.steps.append(now - self._start)
            self.waits.append(now - self._end)
        self._start = now

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()  # what follows until the next step starts is waiting for data
        self._end = time.perf_counter()


def cnnlab_steps(
    overrides: list[str], steps: int, tracking: bool, tmp, warmup: int = 5, system: bool = False
) -> tuple[float, StepTimer, int]:
    """Median step time of `steps` cnnlab training steps after `warmup` (left out); the timer; the batch size.
    `system`: with MLflow's system-metrics sampling at the config's interval, as `cnnlab train` runs it."""
    config = compose_config(overrides, tmp)
    config["trainer"].update(max_epochs=1, limit_train_batches=steps, limit_val_batches=1, enable_progress_bar=False)
    config["tracking"].update(log_model=False, log_checkpoint=False)
    if not tracking:  # nothing to log to: callbacks that only feed the logger (lr_monitor) go too
        config["callbacks"] = {}
    pl.seed_everything(config["seed"], workers=True)
    data = build_data(config["data"])
    with tracked_run(tracking_uri=config["tracking"]["uri"], experiment="bench", run_name="bench", config=config,
                     tags={}, artifact_root=str(tmp / "artifacts")) as run:  # fmt: skip
        task = build_task(config["task"], backbone=config["backbone"], optimizer=config["optimizer"],
                          scheduler=config["scheduler"], data_facts=data.facts())  # fmt: skip
        trainer = build_trainer(config, task, run)
        if not tracking:
            trainer.loggers = []
        timer = StepTimer(skip=warmup)
        trainer.callbacks.append(timer)
        interval = config["tracking"]["system_metrics_interval_s"]
        with system_metrics(run, enabled=system, interval_s=interval):
            trainer.fit(task, datamodule=data)
    return statistics.median(timer.steps), timer, config["data"]["batch_size"]


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"


def write_result(name: str, summary: dict) -> None:
    out = Path("outputs/bench") / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))
    print(f"wrote {out}")
