"""`cnnlab reproduce RUN_ID`: re-run a past run's resolved config with its seed into a new run tagged
cnnlab.reproduces=RUN_ID, then compare every final metric: original, reproduced, difference, verdict.

On the CPU with trainer.deterministic=true the metrics must match exactly. On a GPU, kernels whose float
reductions run in a different order each time make runs differ slightly: there |difference| <= GPU_TOLERANCE.
"""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path

from cnnlab.commands.parsing import CommandParser
from cnnlab.commands.store import add_tracking_uri_option, client_for
from cnnlab.tracking.tags import REPRODUCES_TAG

GPU_TOLERANCE = 0.01


def main(args: list[str]) -> int:
    parser = CommandParser(prog="cnnlab reproduce", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_id", metavar="RUN_ID")
    add_tracking_uri_option(parser)
    options = parser.parse_args(args)

    from cnnlab.preflight import check_choices
    from cnnlab.tracking.datasets import data_differences, logged_digests
    from cnnlab.tracking.provenance import ENV_TAG_PREFIX, environment_tags, git_state
    from cnnlab.tracking.source import load_source_run
    from cnnlab.train import train_config

    client = client_for(options.tracking_uri)
    source = load_source_run(client, options.run_id)
    warn_about_differences(source.run.data.tags, {**environment_tags(), "cnnlab.git_commit": git_state()[0]},
                           ENV_TAG_PREFIX)  # fmt: skip
    config = copy.deepcopy(source.config)
    stamp = time.strftime("%Y-%m-%d/%H-%M-%S")
    config["run_dir"] = str(Path("outputs/runs") / f"{stamp}_reproduce-{source.run_id[:8]}")
    config["tracking"]["run_name"] = f"reproduce-{source.run.info.run_name}"
    config["tracking"]["uri"] = client.tracking_uri
    check_choices(config)
    train_config(config, extra_tags={REPRODUCES_TAG: source.run_id})
    (reproduced,) = client.search_runs(
        [source.run.info.experiment_id], filter_string=f"tags.`{REPRODUCES_TAG}` = '{source.run_id}'",
        order_by=["attributes.start_time DESC"], max_results=1,
    )  # fmt: skip
    now = {split: min(digests) for split, digests in logged_digests(client, reproduced.info.run_id).items()}
    for line in data_differences(logged_digests(client, source.run_id), now, source.run_id):
        print(line)
    on_gpu = source.run.data.tags.get(f"{ENV_TAG_PREFIX}device", "cpu") != "cpu"
    rows = compare_metrics(source.run.data.metrics, reproduced.data.metrics, GPU_TOLERANCE if on_gpu else 0.0)
    print_table(rows, source.run_id, reproduced.info.run_id)
    return 0 if all(row[4] == "match" for row in rows) else 1


def warn_about_differences(then: dict[str, str], now: dict[str, str], prefix: str) -> None:
    from cnnlab.tracking.provenance import pip_command

    for key, value in sorted(now.items()):
        if key.startswith(prefix) or key == "cnnlab.git_commit":
            before = then.get(key)
            if before is not None and before != value:
                print(f"warning: {key.removeprefix(prefix)} was {before}, is {value}: results may differ")
    if command := pip_command(then, now):
        print(f"the run's package versions: {command}")


def compare_metrics(
    original: dict[str, float], reproduced: dict[str, float], tolerance: float
) -> list[tuple[str, float | None, float | None, float | None, str]]:
    """(metric, original, reproduced, difference, verdict) for every final metric of either run; timings
    (time/*) and system metrics (system/*) measure the machine, not the result, and are left out."""
    from cnnlab.tracking.names import MACHINE_METRICS

    rows = []
    for key in sorted(k for k in set(original) | set(reproduced) if not k.startswith(MACHINE_METRICS)):
        a, b = original.get(key), reproduced.get(key)
        if a is None or b is None:
            rows.append((key, a, b, None, "missing"))
            continue
        difference = b - a
        same = a == b or (math.isnan(a) and math.isnan(b)) or abs(difference) <= tolerance
        rows.append((key, a, b, difference, "match" if same else "DIFFERENT"))
    return rows


def print_table(rows, original_id: str, reproduced_id: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"run {original_id} reproduced as {reproduced_id}")
    for column in ("metric", "original", "reproduced", "difference", "verdict"):
        table.add_column(column, justify="left" if column in ("metric", "verdict") else "right")
    for key, a, b, difference, verdict in rows:
        cells = ["" if v is None else f"{v:.6g}" for v in (a, b, difference)]
        table.add_row(key, *cells, verdict if verdict == "match" else f"[bold red]{verdict}")
    console = Console()
    (console if console.is_terminal else Console(width=200)).print(table)
    different = sum(row[4] != "match" for row in rows)
    print(f"{len(rows) - different} of {len(rows)} metrics match" + (f"; {different} differ" if different else ""))
