"""Shared fixtures: composed configs, a private MLflow store per test, generated image folders."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict
from PIL import Image

from cnnlab.config_files import CONFIG_DIR, CONFIG_NAME

# One intra-op thread per test process and per process a test starts (inherited): the two xdist workers share two
# cores, and torch's threads spinning against each other made a run five times slower than alone.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_configure(config: pytest.Config) -> None:
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


# Few steps, no progress bars: what every in-process training run in the tests shares.
FAST = [
    "trainer.max_epochs=1",
    "+trainer.limit_train_batches=2",
    "+trainer.limit_val_batches=1",
    "+trainer.limit_test_batches=1",
    "trainer.enable_progress_bar=false",
    "tracking.explain_images=0",  # its pictures cost a second a run; tests/test_explain.py covers them
]


CNNLAB = str(Path(sys.executable).with_name("cnnlab"))


def sigint_as_usual() -> None:
    """Popen preexec_fn: Ctrl-C interrupts the child even when this process ignores SIGINT (as a suite started in
    the background by a shell without job control does: such jobs ignore SIGINT, and ignored signals are
    inherited)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cnnlab(*args: str, cwd: Path, store: str, timeout: int = 600, **popen) -> subprocess.CompletedProcess:
    """The installed `cnnlab` command, run as users run it, against the MLflow store `store`."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": store}
    return subprocess.run([CNNLAB, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, **popen)


def cli(capfd: pytest.CaptureFixture, *args: str, store: str | None = None) -> subprocess.CompletedProcess:
    """`cnnlab ARGS` run in this process (seconds of imports saved per call), against `store` if given; for tests
    where the process boundary is not the point. Output as the terminal would show it."""
    saved = os.environ.get("MLFLOW_TRACKING_URI")
    if store:
        os.environ["MLFLOW_TRACKING_URI"] = store
    capfd.readouterr()
    try:
        from cnnlab.cli import main

        try:
            status = main(list(args))
        except SystemExit as stop:
            status = stop.code if isinstance(stop.code, int) else 1
    finally:
        if saved is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved
    captured = capfd.readouterr()
    return subprocess.CompletedProcess(["cnnlab", *args], status, captured.out, captured.err)


_template_store: Path | None = None


def migrated_store(path: Path) -> str:
    """The URI of a new sqlite MLflow store at `path`, its tables already made: a copy of one store migrated once
    per test process (making MLflow's tables takes seconds; copying the file, milliseconds)."""
    global _template_store
    if _template_store is None:
        from mlflow.tracking import MlflowClient

        folder = Path(tempfile.mkdtemp(prefix="cnnlab-template-store-"))
        MlflowClient(f"sqlite:///{folder / 'mlflow.db'}").search_experiments()
        atexit.register(shutil.rmtree, folder, True)
        _template_store = folder / "mlflow.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_template_store, path)
    return f"sqlite:///{path}"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh sqlite MLflow store, picked up by cnnlab through MLFLOW_TRACKING_URI."""
    uri = migrated_store(tmp_path / "mlflow" / "mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., DictConfig]:
    """compose(overrides) -> the real train config, with run_dir and the artifact root inside tmp_path."""

    def make(*overrides: str) -> DictConfig:
        with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
            cfg = compose(CONFIG_NAME, overrides=list(overrides))
        with open_dict(cfg):
            cfg.run_dir = str(tmp_path / "run")
            cfg.tracking.artifact_root = str(tmp_path / "artifacts")
        return cfg

    return make


def write_image_folder(root: Path, classes: dict[str, int], size: int = 24, seed: int = 0) -> Path:
    """PNG images per class folder; each class has its own mean brightness so a model can learn it."""
    rng = np.random.default_rng(seed)
    for index, (name, count) in enumerate(classes.items()):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            level = 40 + 160 * index / max(1, len(classes) - 1)
            pixels = np.clip(rng.normal(level, 20, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_mlflow_server(root: Path, port: int) -> subprocess.Popen:
    """A real `mlflow server` on 127.0.0.1:port (sqlite backend and artifacts under root), once it answers /health."""
    command = [
        str(Path(sys.executable).with_name("mlflow")), "server", "--host", "127.0.0.1", "--port", str(port),
        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination", str(root / "artifacts"),
        "--serve-artifacts", "--workers", "1",
    ]  # fmt: skip
    # Without MLflow 3's job runner (two more processes, each importing MLflow): it runs GenAI evaluation jobs,
    # which no test uses, and on 2 cores its start-up slowed every server test.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with open(root / "server.log", "a") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    return healthy(server, port, root / "server.log")


def healthy(server: subprocess.Popen, port: int, log: Path) -> subprocess.Popen:
    """The server process once 127.0.0.1:port/health answers; its log's end when it exits before."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:
            if server.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {log.read_text()[-2000:]}") from None
            time.sleep(0.5)
    stop_mlflow_server(server)
    raise RuntimeError("mlflow server did not answer /health within 120 s")


def stop_mlflow_server(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=30)


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `mlflow server` on 127.0.0.1 (sqlite backend, artifacts served by the server); yields its URI."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    server = start_mlflow_server(root, port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_mlflow_server(server)
