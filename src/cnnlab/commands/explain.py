"""`cnnlab explain RUN_ID INPUT...`: what a run's best checkpoint looked at. Per input: the class-activation map
over the input (grad-cam: --method, --layer, --target), the feature maps of every convolution stage, and a JSON
line; text runs: the n-gram windows that won each filter's max-pool and their weight in the decision. Written to
outputs/explain/<new run id>/ and logged to a new run tagged cnnlab.explains."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cnnlab.commands.parsing import CommandParser
from cnnlab.commands.store import add_tracking_uri_option, client_for
from cnnlab.errors import CnnlabError

if TYPE_CHECKING:
    from cnnlab.tracking.source import SourceRun


def main(args: list[str]) -> int:
    from cnnlab.explain.cams import METHODS
    from cnnlab.explain.feature_maps import DEFAULT_CHANNELS, MAX_CHANNELS

    parser = CommandParser(prog="cnnlab explain", description=__doc__.split(":", 1)[1].strip())
    parser.add_argument("run_id", metavar="RUN_ID")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, or sentences / text files")
    parser.add_argument("--method", choices=list(METHODS),
                        help="CAM method (default gradcam; detection: eigencam unless at its default pyramid layer)")
    parser.add_argument("--layer", help="the layer to explain, by its name in model_summary.txt (default: the last "
                                        "convolution; detection: the backbone's feature pyramid)")  # fmt: skip
    parser.add_argument("--target", metavar="CLASS", help="the class to explain (default: the predicted one)")
    parser.add_argument("--channels", type=int, help=f"feature maps shown per stage, at most the stage's own "
                                                     f"(default {DEFAULT_CHANNELS}, 1 to {MAX_CHANNELS}); image runs")
    parser.add_argument("--out-dir", default="outputs/explain", help="a folder per call is made in it")
    parser.add_argument("--encoding", help="of text files given as inputs (default: utf-8); text runs")
    add_tracking_uri_option(parser)
    options = parser.parse_args(args)
    if options.channels is not None and not 1 <= options.channels <= MAX_CHANNELS:
        parser.error(f"--channels must be 1 to {MAX_CHANNELS}")

    from cnnlab.explain.explainers import ExplainOptions, check_options, explain_inputs
    from cnnlab.explain.inputs import read_inputs
    from cnnlab.tasks import restore_task
    from cnnlab.tracking.run import tracked_run
    from cnnlab.tracking.source import load_source_run
    from cnnlab.tracking.tags import EXPLAINS_TAG
    from cnnlab.train import choice_tags

    client = client_for(options.tracking_uri)
    source = load_source_run(client, options.run_id)
    config = source.config
    name = config["task"]["name"]
    task = restore_task(name, trained_checkpoint(source))
    settings = ExplainOptions(options.method, options.layer, options.target, options.channels)
    check_options(name, task, settings, options.encoding)
    inputs = read_inputs(name, task, options.inputs, options.encoding or "utf-8")
    if all(item.error for item in inputs):  # nothing to explain: no run, no folder
        return report_errors([{"input": item.name, "error": item.error} for item in inputs])
    out_root = writable_folder(options.out_dir)
    with tracked_run(
        tracking_uri=client.tracking_uri,
        experiment=config["tracking"]["experiment"],
        run_name=f"explain-{source.run.info.run_name}",
        config=config,
        tags={**choice_tags(config), EXPLAINS_TAG: source.run_id},
        artifact_root=config["tracking"]["artifact_root"],
    ) as run:
        out_dir = out_root / run.run_id
        results = explain_inputs(name, task, inputs, config["data"], settings, out_dir)
        if all("error" in result for result in results):
            report_errors(results)
            out_dir.rmdir()  # made for this call, and empty: no input had a picture
            raise CnnlabError(f"no input could be explained; run {run.run_id} is marked FAILED")
        lines = "".join(json.dumps(result) + "\n" for result in results if "error" not in result)
        (out_dir / "explanations.jsonl").write_text(lines, encoding="utf-8")
        for path in sorted(out_dir.iterdir()):
            run.log_file(path, "explain")
    sys.stdout.write(lines)
    print(f"cnnlab: explanations in {out_dir} (run {run.run_id})", file=sys.stderr)
    return report_errors(results)


def report_errors(results: list[dict]) -> int:
    """One `cnnlab: error:` line per input that was not explained; the exit status."""
    errors = [result["error"] for result in results if "error" in result]
    for error in errors:
        print(f"cnnlab: error: {error}", file=sys.stderr)
    return 1 if errors else 0


def trained_checkpoint(source: SourceRun) -> Path:
    """The run's best checkpoint; where it has none because the run failed or was stopped, the message says so
    (the generic one suggests a tracking setting that was most likely on)."""
    try:
        return source.checkpoint("best")
    except CnnlabError as err:
        status = source.run.info.status
        if status in ("FAILED", "KILLED"):
            raise CnnlabError(f"run {source.run_id} ended {status} before it saved a best checkpoint; explain a "
                              f"finished run, or resume it (cnnlab train resume={source.run_id})") from err  # fmt: skip
        raise


def writable_folder(folder: str) -> Path:
    """--out-dir, made if missing, checked before the run exists (a run for a call that cannot write is noise)."""
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise CnnlabError(f"--out-dir {folder} is a file; give a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        problem = f"--out-dir {folder}: cannot make the folder ({err.strerror or type(err).__name__})"
        raise CnnlabError(f"{problem}; give a folder you can write to") from err
    if not os.access(path, os.W_OK | os.X_OK):
        raise CnnlabError(f"--out-dir {folder}: not writable; give a folder you can write to")
    return path
