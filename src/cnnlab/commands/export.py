"""`cnnlab export RUN_ID [--format onnx torchscript pt2] [--output DIR]`: a run's best checkpoint as files that
run without cnnlab, each checked on the run's test split against PyTorch before it counts (a test metric more
than 0.001 apart fails), logged to the run as export/<format>/ artifacts and metrics."""

from __future__ import annotations

from pathlib import Path

from cnnlab.commands.parsing import CommandParser
from cnnlab.commands.store import add_tracking_uri_option, client_for

FORMAT_NAMES = ("onnx", "torchscript", "pt2")  # cnnlab.serving.formats.FORMATS, listed without importing torch


def main(args: list[str]) -> int:
    parser = CommandParser(prog="cnnlab export", description=__doc__.split(":", 1)[1].strip())
    parser.add_argument("run_id", metavar="RUN_ID", help="a run id (or a unique prefix of one), or 'last'")
    parser.add_argument("--format", nargs="+", choices=FORMAT_NAMES, default=["onnx"], dest="formats",
                        help="one or more formats (default: onnx)")  # fmt: skip
    parser.add_argument("--output", metavar="DIR", help="DIR/<format>/ gets the model file and cnnlab-export.json "
                        "(default: outputs/export/RUN_ID)")  # fmt: skip
    add_tracking_uri_option(parser)
    options = parser.parse_args(args)

    from cnnlab.tracking.exports import export_run
    from cnnlab.tracking.source import load_source_run

    source = load_source_run(client_for(options.tracking_uri), options.run_id)
    root = Path(options.output or f"outputs/export/{source.run_id}")
    export_run(source.tracked(), source.config, source.checkpoint("best"), options.formats, root)
    return 0
