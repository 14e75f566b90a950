"""`cnnlab predict RUN_ID INPUTS...`: predictions of a run's best checkpoint as JSON lines: class and
probabilities for images and sentences (a sentence, or a file of them one per line), masks for segmentation
(written as PNGs), boxes for detection."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from cnnlab.commands.parsing import CommandParser
from cnnlab.commands.store import add_tracking_uri_option, client_for
from cnnlab.errors import CnnlabError


def main(args: list[str]) -> int:
    parser = CommandParser(prog="cnnlab predict", description=__doc__.split(":", 1)[1].strip())
    parser.add_argument("run_id", metavar="RUN_ID")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, or sentences / text files")
    parser.add_argument("--output", metavar="FILE", help="write JSON lines here (default: stdout)")
    parser.add_argument("--out-dir", default="outputs/predictions", help="where masks are written")
    parser.add_argument("--on-bad-input", choices=("skip", "fail"), default="skip",
                        help="an unreadable input: report it and predict the rest (skip, exit 1), or stop (fail)")
    parser.add_argument("--encoding", default="utf-8", help="of text files given as inputs (default: utf-8)")
    add_tracking_uri_option(parser)
    options = parser.parse_args(args)

    from cnnlab.serving import predict
    from cnnlab.tasks import restore_task
    from cnnlab.tracking.source import load_source_run

    check_writable(options.output, options.out_dir)  # before the work, not after it
    source = load_source_run(client_for(options.tracking_uri), options.run_id)
    name = source.config["task"]["name"]
    task = restore_task(name, source.checkpoint("best"))
    results = predict(name, task, options.inputs, Path(options.out_dir), source.config["data"],
                      on_bad_input=options.on_bad_input, encoding=options.encoding)  # fmt: skip
    good = [result for result in results if "error" not in result]
    lines = "".join(json.dumps(result) + "\n" for result in good)
    if options.output:
        Path(options.output).write_text(lines, encoding="utf-8")
        print(f"wrote {len(good)} predictions to {options.output}")
    else:
        sys.stdout.write(lines)
    for result in results:
        if "error" in result:
            print(f"cnnlab: error: {result['error']}", file=sys.stderr)
    return 1 if len(good) < len(results) else 0


def check_writable(output: str | None, out_dir: str) -> None:
    """The output file and the mask folder can be written: found now, a bad path costs no predictions."""
    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise CnnlabError(f"--out-dir {folder} is a file; give a folder for the masks")
    if output:
        path = Path(output)
        if path.is_dir():
            raise CnnlabError(f"--output {path} is a folder; give a file name, e.g. {path / 'predictions.jsonl'}")
        if not path.parent.is_dir() or not os.access(path.parent, os.W_OK):
            raise CnnlabError(f"--output {path}: cannot write in {path.parent}; give a path in a folder you can write")
