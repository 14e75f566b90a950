"""`cnnlab evaluate RUN_ID [key=value ...]`: re-compute test metrics from a run's best checkpoint, optionally on
other data (dotted overrides of its config, e.g. data.root=DIR), logged to a new run tagged cnnlab.evaluates."""

from __future__ import annotations

from cnnlab.commands.parsing import CommandParser
from cnnlab.commands.store import add_tracking_uri_option, client_for
from cnnlab.tracking.tags import EVALUATES_TAG


def main(args: list[str]) -> int:
    parser = CommandParser(prog="cnnlab evaluate", description=__doc__.split(":", 1)[1].strip())
    parser.add_argument("run_id", metavar="RUN_ID")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    add_tracking_uri_option(parser)
    options = parser.parse_args(args)

    import pytorch_lightning as pl

    from cnnlab.console import quiet_lightning
    from cnnlab.preflight import check_choices
    from cnnlab.restored import restored_with_data
    from cnnlab.resume import with_overrides
    from cnnlab.tracking.callbacks import MlflowArtifacts
    from cnnlab.tracking.datasets import log_splits
    from cnnlab.tracking.run import tracked_run
    from cnnlab.tracking.source import load_source_run
    from cnnlab.train import choice_tags, report

    client = client_for(options.tracking_uri)
    source = load_source_run(client, options.run_id)
    config = with_overrides(source.config, options.overrides)
    check_choices(config)
    task, data = restored_with_data(config, source.checkpoint("best"))
    with tracked_run(
        tracking_uri=client.tracking_uri,
        experiment=config["tracking"]["experiment"],
        run_name=f"evaluate-{source.run.info.run_name}",
        config=config,
        tags={**choice_tags(config), EVALUATES_TAG: source.run_id},
        artifact_root=config["tracking"]["artifact_root"],
    ) as run:
        log_splits(run, data, config["data"], splits=("test",), baseline=source.run_id)
        quiet_lightning()
        trainer = pl.Trainer(
            accelerator=config["trainer"].get("accelerator", "auto"), devices=1, logger=run.logger(),
            limit_test_batches=config["trainer"].get("limit_test_batches", 1.0),
            callbacks=[MlflowArtifacts(run, log_checkpoint=False)], enable_progress_bar=False,
        )  # fmt: skip
        metrics = trainer.test(task, datamodule=data, verbose=False)[0]
        report(metrics, run)
    return 0
