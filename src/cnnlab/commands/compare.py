"""`cnnlab compare`: runs of an experiment or a sweep, ranked by a metric, with only the params that differ."""

from __future__ import annotations

from cnnlab.commands.parsing import CommandParser
from cnnlab.commands.store import add_tracking_uri_option, client_for

# Written out rather than imported: --help must not load MLflow (tracking.compare.RUN_KINDS and STATUSES; a test
# checks they agree).
KINDS_HELP = "evaluate, reproduce, debug, sweep-parent"
STATUSES_HELP = "FINISHED, RUNNING, FAILED, KILLED, SCHEDULED"
EPILOG = """Run ids: the table shows the shortest start of each id that no other run in the store shares (8
characters or more); every command that takes a RUN_ID (predict, evaluate, reproduce, train resume=, compare
--sweep) accepts it, or any other unique start of 4 characters or more."""


def main(args: list[str]) -> int:
    parser = CommandParser(
        prog="cnnlab compare", description=__doc__.split(":", 1)[1].strip(), epilog=EPILOG
    )
    parser.add_argument("--experiment", help="experiment name (default: the newest experiment with runs to compare)")
    parser.add_argument(
        "--sweep", metavar="PARENT_RUN_ID", help="the job runs of this sweep (its parent run's id, or a unique start)"
    )
    parser.add_argument(
        "--metric",
        help="rank by best/METRIC, the score of the checkpoint each run tested; a run without it (still running) by "
        "its last METRIC, marked (last) (default: what the runs' task monitors, task.monitor: val/acc, val/miou, ...)",
    )
    parser.add_argument("--top", type=int, help="show the best N runs")
    parser.add_argument(
        "--status", default="FINISHED,RUNNING",
        help=f"show runs with these statuses, comma-separated ({STATUSES_HELP}) or all (default: FINISHED,RUNNING)",
    )  # fmt: skip
    parser.add_argument(
        "--include", metavar="KINDS", default="",
        help=f"also show these kinds of runs, left out by default: {KINDS_HELP} (comma-separated, or all); "
        "debug: runs launched with debug=... or trainer.fast_dev_run",
    )  # fmt: skip
    parser.add_argument("--all", action="store_true", help="every run: --status all --include all")
    parser.add_argument(
        "--filter", metavar="MLFLOW_FILTER", default="",
        help="only runs that match this MLflow search filter, e.g. \"params.`optimizer.lr` = '0.01'\"",
    )  # fmt: skip
    parser.add_argument("--csv", metavar="FILE", help="also write the table (full ids, full precision) to FILE")
    add_tracking_uri_option(parser)
    options = parser.parse_args(args)

    from rich.console import Console

    from cnnlab.tracking.compare import compare_runs, render_table, write_csv
    from cnnlab.tracking.run_selection import RunSelection

    selection = RunSelection.from_flags(
        mlflow_filter=options.filter, statuses=options.status, include=options.include, every=options.all
    )
    table = compare_runs(
        client_for(options.tracking_uri),
        experiment=options.experiment,
        sweep=options.sweep,
        metric=options.metric,
        top=options.top,
        selection=selection,
    )
    console = Console()
    if not console.is_terminal:  # piped or redirected: keep every column whole rather than fit 80 characters
        console = Console(width=300)
    console.print(render_table(table))
    if options.csv:
        write_csv(table, options.csv)
        print(f"wrote {options.csv}")
    return 0
