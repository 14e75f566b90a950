"""Captures docs/mlflow-ui-sweep.png, the README's picture of a sweep in the MLflow UI.

Runs a small 2x2 grid sweep into a throw-away store with the project's `cnnlab`, serves it with `mlflow ui` on
127.0.0.1, opens the experiment in headless Chromium (Playwright), expands the sweep's parent row and takes a
screenshot. Needs Playwright and a Chromium (`pip install playwright`; Debian: `apt install chromium`).
usage: python scripts/capture_ui.py [--chromium /usr/bin/chromium] [--out docs/mlflow-ui-sweep.png]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

BIN = Path(__file__).resolve().parents[1] / ".venv" / "bin"
SWEEP = ["backbone=simple_cnn,lenet5", "optimizer.lr=1e-3,3e-3", "trainer.max_epochs=3",
         "trainer.enable_progress_bar=false", "tracking.log_model=false"]  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--out", default="docs/mlflow-ui-sweep.png")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        store = f"sqlite:///{tmp}/mlflow.db"
        env = {**os.environ, "MLFLOW_TRACKING_URI": store}
        subprocess.run([str(BIN / "cnnlab"), "train", "-m", *SWEEP], cwd=tmp, env=env, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        port = free_port()
        command = [str(BIN / "mlflow"), "ui", "--backend-store-uri", store, "--host", "127.0.0.1", "--port", str(port)]
        ui = subprocess.Popen(command, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for(f"{url}/health")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=args.chromium)
                page = browser.new_page(viewport={"width": 1900, "height": 820})
                page.goto(f"{url}/#/experiments/1/runs")
                name = page.get_by_text("sweep-classification").first
                name.wait_for(timeout=60_000)
                page.wait_for_timeout(1500)
                close = page.get_by_role("button", name="Close")
                if close.count():  # the assistant side panel takes a third of the page
                    close.first.click()
                box = name.bounding_box()  # the expand control sits just left of the parent's name
                page.mouse.click(box["x"] - 29, box["y"] + box["height"] / 2)
                page.wait_for_timeout(2000)
                Path(args.out).parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=args.out)
                browser.close()
        finally:
            ui.terminate()
            ui.wait(timeout=30)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
