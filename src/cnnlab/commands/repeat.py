"""`cnnlab repeat RUN_ID|OVERRIDES... --seeds N [--reference METRIC=VALUE ...]`: one config under N seeds (the
config's seed and the N - 1 after it), each a child run of one parent run that gets every final metric's mean,
standard deviation and 95 % Student-t confidence interval; with --reference, whether a published number lies
above, inside or below the interval. Rerunning the same command continues an interrupted repeat."""

from __future__ import annotations

import argparse
import os
import shlex

from cnnlab.commands.parsing import CommandParser
from cnnlab.commands.store import add_tracking_uri_option


def main(args: list[str]) -> int:
    parser = CommandParser(prog="cnnlab repeat", description=__doc__.split(":", 1)[1].strip())
    parser.add_argument("target", nargs="+", metavar="RUN_ID|KEY=VALUE",
                        help="a past run (its config; KEY=VALUE after the id change settings), or the overrides of "
                             "a config as cnnlab train takes them")  # fmt: skip
    parser.add_argument("--seeds", type=seed_count, default=5, help="how many seeds, at least 2 (default 5)")
    parser.add_argument("--reference", type=reference, action="append", default=[], metavar="METRIC=VALUE",
                        help="a published number to place against the interval, e.g. test/acc=0.912")  # fmt: skip
    parser.add_argument("--jobs", type=positive, default=1, help="seeds trained at once, in joblib worker processes")
    add_tracking_uri_option(parser)
    options = parser.parse_intermixed_args(args)  # settings may follow the options: RUN_ID --seeds 5 K=V
    if options.tracking_uri:  # wins over MLFLOW_TRACKING_URI for every run this command makes
        os.environ["MLFLOW_TRACKING_URI"] = options.tracking_uri

    from cnnlab.repeat import repeat
    from cnnlab.tracking.provenance import COMMAND_LINE_ENV

    os.environ[COMMAND_LINE_ENV] = shlex.join(["cnnlab", "repeat", *args])  # seeds may train in worker processes
    try:
        config, overrides = config_of(options.target)
        seeds = [config["seed"] + i for i in range(options.seeds)]
        result = repeat(config, seeds, dict(options.reference), jobs=options.jobs, overrides=overrides)
    finally:
        os.environ.pop(COMMAND_LINE_ENV)
    print_summary(result, dict(options.reference))
    return 0


def config_of(target: list[str]) -> tuple[dict, str]:
    """(resolved config, overrides as said) of a past run with settings changed, or of train's overrides."""
    from cnnlab.errors import CnnlabError
    from cnnlab.preflight import check_choices

    first, rest = target[0], target[1:]
    stray = [item for item in rest if "=" not in item and not item.startswith("~")]  # `~key` deletes a setting
    if stray and "=" in first:
        raise CnnlabError(f"{stray[0]}: a run id comes first (cnnlab repeat RUN_ID KEY=VALUE ...), or not at all")
    if stray:
        raise CnnlabError(f"{stray[0]}: one run id at most; after it, only KEY=VALUE settings")
    if "=" in first:
        from cnnlab.config import composed_job

        config = composed_job(target)
    else:
        from cnnlab.commands.store import client_for
        from cnnlab.resume import with_overrides
        from cnnlab.tracking.source import load_source_run

        source = load_source_run(client_for(None), first)
        config = with_overrides(source.config, rest)
    check_choices(config)
    return config, " ".join(target)


def print_summary(result, references: dict[str, float]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"repeat {result.parent_run_id}: {len(result.seed_runs)} seeds, 95 % confidence intervals")
    for column in ("metric", "mean", "std", "95 % CI", "reference", "verdict"):
        table.add_column(column, justify="left" if column in ("metric", "verdict") else "right")
    for key, found in result.intervals.items():
        if key.startswith("test/") and key.count("/") == 1 or key in references:
            shown = references.get(key)
            table.add_row(key, f"{found.mean:.4f}", f"{found.std:.4f}", f"[{found.low:.4f}, {found.high:.4f}]",
                          "" if shown is None else f"{shown:g}", result.verdicts.get(key, ""))  # fmt: skip
    console = Console()
    (console if console.is_terminal else Console(width=200)).print(table)
    trained = ", ".join(map(str, result.trained)) or "none (all had finished)"
    print(f"seeds trained now: {trained}; every metric's interval is on run {result.parent_run_id} (repeat/*)")


def seed_count(text: str) -> int:
    number = whole_number(text)
    if number < 2:
        raise argparse.ArgumentTypeError(f"{text} is fewer than 2; a repeat needs at least 2 seeds (one has no spread)")
    return number


def positive(text: str) -> int:
    number = whole_number(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return number


def whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def reference(text: str) -> tuple[str, float]:
    key, sep, value = text.partition("=")
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not sep or not key or number != number:
        raise argparse.ArgumentTypeError(f"{text!r}: give METRIC=NUMBER, e.g. test/acc=0.912")
    return key, number
