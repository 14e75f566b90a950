"""`cnnlab compare`: runs of an experiment or a sweep, ranked by a metric, with only the params that differ."""

from __future__ import annotations

import argparse

from cnnlab.commands.store import add_tracking_uri_option, client_for


def main(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="cnnlab compare", description=__doc__.split(":", 1)[1].strip())
    parser.add_argument("--experiment", help="experiment name (default: the newest experiment with runs)")
    parser.add_argument("--sweep", metavar="PARENT_RUN_ID", help="the child runs of this sweep's parent run")
    parser.add_argument("--metric", default="val/acc", help="rank by this metric (default: val/acc)")
    parser.add_argument("--top", type=int, help="show the best N runs")
    parser.add_argument("--csv", metavar="FILE", help="also write the table (full precision) to FILE")
    add_tracking_uri_option(parser)
    options = parser.parse_args(args)

    from rich.console import Console

    from cnnlab.tracking.compare import compare_runs, render_table, write_csv

    table = compare_runs(
        client_for(options.tracking_uri),
        experiment=options.experiment,
        sweep=options.sweep,
        metric=options.metric,
        top=options.top,
    )
    console = Console()
    if not console.is_terminal:  # piped or redirected: keep every column whole rather than fit 80 characters
        console = Console(width=300)
    console.print(render_table(table))
    if options.csv:
        write_csv(table, options.csv)
        print(f"wrote {options.csv}")
    return 0
