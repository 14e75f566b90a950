"""`cnnlab explain RUN_ID INPUT...`: what a run's best checkpoint looked at. Per input: the class-activation map
over the input (grad-cam: --method, --layer, --target), the feature maps of every convolution stage, and a JSON
line; text runs: the n-gram windows that won each filter's max-pool and their weight in the decision. Written to
outputs/explain/<new run id>/ and logged to a new run tagged cnnlab.explains."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cnnlab.commands.parsing import CommandParser
from cnnlab.commands.store import add_tracking_uri_option, client_for


def main(args: list[str]) -> int:
    from cnnlab.explain.cams import METHODS

    parser = CommandParser(prog="cnnlab explain", description=__doc__.split(":", 1)[1].strip())
    parser.add_argument("run_id", metavar="RUN_ID")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, or sentences / text files")
    parser.add_argument("--method", choices=list(METHODS),
                        help="CAM method (default gradcam; detection: eigencam unless at its default pyramid layer)")
    parser.add_argument("--layer", help="the layer to explain, by its name in model_summary.txt (default: the last "
                                        "convolution; detection: the backbone's feature pyramid)")  # fmt: skip
    parser.add_argument("--target", metavar="CLASS", help="the class to explain (default: the predicted one)")
    parser.add_argument("--channels", type=int, default=8, help="feature maps shown per stage (default 8)")
    parser.add_argument("--out-dir", default="outputs/explain", help="a folder per call is made in it")
    parser.add_argument("--encoding", default="utf-8", help="of text files given as inputs (default: utf-8)")
    add_tracking_uri_option(parser)
    options = parser.parse_args(args)
    if options.channels < 1:
        parser.error("--channels must be at least 1")
    if Path(options.out_dir).exists() and not Path(options.out_dir).is_dir():
        parser.error(f"--out-dir {options.out_dir} is a file; give a folder")

    from cnnlab.explain.explainers import ExplainOptions, check_options, explain_inputs
    from cnnlab.tasks import restore_task
    from cnnlab.tracking.run import tracked_run
    from cnnlab.tracking.source import load_source_run
    from cnnlab.tracking.tags import EXPLAINS_TAG
    from cnnlab.train import choice_tags

    client = client_for(options.tracking_uri)
    source = load_source_run(client, options.run_id)
    config = source.config
    name = config["task"]["name"]
    task = restore_task(name, source.checkpoint("best"))
    settings = ExplainOptions(options.method, options.layer, options.target, options.channels)
    check_options(name, task, settings)
    with tracked_run(
        tracking_uri=client.tracking_uri,
        experiment=config["tracking"]["experiment"],
        run_name=f"explain-{source.run.info.run_name}",
        config=config,
        tags={**choice_tags(config), EXPLAINS_TAG: source.run_id},
        artifact_root=config["tracking"]["artifact_root"],
    ) as run:
        out_dir = Path(options.out_dir) / run.run_id
        results = explain_inputs(name, task, options.inputs, config["data"], settings, out_dir, options.encoding)
        lines = "".join(json.dumps(result) + "\n" for result in results if "error" not in result)
        (out_dir / "explanations.jsonl").write_text(lines, encoding="utf-8")
        for path in sorted(out_dir.iterdir()):
            run.log_file(path, "explain")
    sys.stdout.write(lines)
    print(f"cnnlab: explanations in {out_dir} (run {run.run_id})", file=sys.stderr)
    errors = [result for result in results if "error" in result]
    for result in errors:
        print(f"cnnlab: error: {result['error']}", file=sys.stderr)
    return 1 if errors else 0
