"""Captures the README's pictures of the MLflow UI (docs/mlflow-ui-*.png), following README's click path.

Runs a small 2x2 grid sweep into a throw-away store with the project's `cnnlab`, serves it with `mlflow ui` on
127.0.0.1 and, in headless Chromium (Playwright), goes from MLflow's landing page to the runs, as a user would:
  sweep.png           the Model training view of the experiment, the sweep's parent row expanded to its jobs
  run.png             the best job's page: description (command and results), datasets, metrics
  system-metrics.png  its System metrics tab
  compare.png         the four jobs compared: parallel coordinates of backbone and learning rate vs best/val/acc
Needs Playwright and a Chromium (`pip install playwright`; Debian: `apt install chromium`).
usage: python scripts/capture_ui.py [--chromium /usr/bin/chromium] [--out-dir docs]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from mlflow.tracking import MlflowClient
from PIL import Image

BIN = Path(__file__).resolve().parents[1] / ".venv" / "bin"
# Long enough jobs (~5 s) for a few system-metrics samples at one per second
SWEEP = ["backbone=simple_cnn,lenet5", "optimizer.lr=1e-3,3e-3", "trainer.max_epochs=15",
         "trainer.enable_progress_bar=false", "tracking.log_model=false",
         "tracking.system_metrics_interval_s=1"]  # fmt: skip
PAUSE_MS = 2500  # the UI fetches and draws after each click


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


def shoot(page, path: Path) -> None:
    """A screenshot in 256 colours: a README picture of a web page loses nothing and weighs a third."""
    page.screenshot(path=path)
    Image.open(path).convert("RGB").quantize(colors=256).save(path, optimize=True)


def close_assistant(page) -> None:
    """MLflow 3's assistant side panel takes a third of the page."""
    close = page.get_by_role("button", name="Close")
    if close.count():
        close.first.click()


def runs_table(page, url: str) -> None:
    """README's click path: landing page -> Model training -> the experiment -> Runs; the sweep expanded."""
    page.goto(url)
    page.get_by_text("Model training").first.click()
    page.get_by_text("classification").first.click()
    page.wait_for_timeout(PAUSE_MS)
    close_assistant(page)
    if job_rows(page).count():  # the UI remembers an expanded row
        return
    name = page.get_by_text("sweep-classification").first
    box = name.bounding_box()  # the expand control sits just left of the parent's name
    page.mouse.click(box["x"] - 29, box["y"] + box["height"] / 2)
    page.wait_for_timeout(PAUSE_MS)


def job_rows(page):
    return page.locator("[role=row]", has_text="-job")


def pick(page, label: str, values: list[str]) -> None:
    """Types each value into the compare page's select under `label`."""
    page.get_by_text(label, exact=True).locator("xpath=following-sibling::div[1]").click()
    for value in values:
        page.keyboard.type(value)
        page.keyboard.press("Enter")
        page.wait_for_timeout(300)
    page.keyboard.press("Escape")


def capture(page, url: str, best_name: str, out: Path) -> None:
    runs_table(page, url)
    shoot(page, out / "mlflow-ui-sweep.png")
    page.get_by_text(best_name).first.click()
    page.wait_for_timeout(PAUSE_MS)
    shoot(page, out / "mlflow-ui-run.png")
    page.get_by_role("tab", name="System metrics").first.click()
    page.wait_for_timeout(PAUSE_MS)
    shoot(page, out / "mlflow-ui-system-metrics.png")

    runs_table(page, url)
    jobs = job_rows(page)
    for index in range(jobs.count()):
        jobs.nth(index).get_by_role("checkbox").first.click()
    page.get_by_role("button", name="Compare").first.click()
    page.wait_for_timeout(PAUSE_MS)
    page.get_by_role("button", name="Clear All").click()
    pick(page, "Parameters:", ["backbone.name", "optimizer.lr"])
    pick(page, "Metrics:", ["best/val/acc"])
    page.wait_for_timeout(PAUSE_MS)
    shoot(page, out / "mlflow-ui-compare.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--out-dir", default="docs", type=Path)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    args.out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        store = f"sqlite:///{tmp}/mlflow.db"
        env = {**os.environ, "MLFLOW_TRACKING_URI": store}
        subprocess.run([str(BIN / "cnnlab"), "train", "-m", *SWEEP], cwd=tmp, env=env, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        client = MlflowClient(store)
        (parent,) = client.search_runs(["1"], filter_string="tags.`cnnlab.sweep_parent` = 'true'")
        best_name = client.get_run(parent.data.tags["cnnlab.best_run_id"]).info.run_name
        port = free_port()
        command = [str(BIN / "mlflow"), "ui", "--backend-store-uri", store, "--host", "127.0.0.1", "--port", str(port)]
        # its own process group: `mlflow ui` starts uvicorn workers and job consumers, stopped with it
        ui = subprocess.Popen(command, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for(f"{url}/health")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=args.chromium)
                page = browser.new_page(viewport={"width": 1600, "height": 900})
                capture(page, url, best_name, args.out_dir)
                browser.close()
        finally:
            os.killpg(ui.pid, signal.SIGTERM)
            ui.wait(timeout=30)
    print(f"wrote {args.out_dir}/mlflow-ui-{{sweep,run,system-metrics,compare}}.png")


if __name__ == "__main__":
    main()
