"""One run: a resolved, checked config -> data, task, trainer, tracker -> fit -> test -> log the model."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NOTE
from pytorch_lightning.accelerators import CUDAAccelerator
from pytorch_lightning.callbacks import ModelCheckpoint, StochasticWeightAveraging
from pytorch_lightning.utilities.exceptions import MisconfigurationException

from cnnlab.callbacks.choices import CallbackContext, build_callbacks, early_stop_note
from cnnlab.callbacks.pruning import link_trial, trial_pruning, trial_tags
from cnnlab.callbacks.safety import EpochSeeds, FailureCheckpoints, NonFiniteLoss, StampRunId
from cnnlab.console import kept_in, quiet_lightning
from cnnlab.data import build_data
from cnnlab.data.base import SplitDataModule
from cnnlab.debugging import log_profile, overfit_verdict, profiler
from cnnlab.distributed import end_job, is_rank_zero, launch_environment, share_with_ranks, spans_devices
from cnnlab.errors import CnnlabError
from cnnlab.run_folder import RunFolder, claimed
from cnnlab.run_settings import RunSettings
from cnnlab.tasks import BaseTask, build_task
from cnnlab.tasks.checkpoints import load_initial_weights
from cnnlab.tracking.callbacks import DatasetInputs, MlflowArtifacts, RankConsistency, StartupTime
from cnnlab.tracking.explain_images import ExplainImages
from cnnlab.tracking.exports import export_run
from cnnlab.tracking.model import log_pytorch_model, register_predictor
from cnnlab.tracking.params import is_bookkeeping
from cnnlab.tracking.provenance import command_line
from cnnlab.tracking.run import TrackedRun, tracked_run
from cnnlab.tracking.store import browse_hint
from cnnlab.tracking.system_metrics import system_metrics
from cnnlab.tracking.tags import DEBUG_TAG, FAST_DEV_RUN_TAG, OVERRIDES_TAG, RUN_DIR_TAG


@dataclass(frozen=True)
class ResumePoint:
    """Continue MLflow run `run_id` from `checkpoint`; `changes` are the overrides given on resuming; `status` is the
    run's status before resuming; `force` continues a RUNNING run whose process this machine cannot see."""

    run_id: str
    checkpoint: Path
    changes: list[str]
    status: str = "KILLED"
    force: bool = False


def train_config(
    config: dict[str, Any],
    parent_run_id: str | None = None,
    resume: ResumePoint | None = None,
    extra_tags: dict[str, str] | None = None,
) -> dict[str, float]:
    """train() on a resolved, checked config; parent_run_id nests the run under another (a CV or sweep parent);
    resume continues an earlier run, in the same MLflow run, from its checkpoint.

    The run writes to a folder of its own (run_dir, or a numbered sibling when run_dir holds another run), locked
    while it trains; DDP ranks other than 0 share rank 0's.
    """
    settings = RunSettings.of(config)
    quiet_lightning()
    pl.seed_everything(settings.seed, workers=True)
    if not is_rank_zero():
        return train_in_folder(config, None, parent_run_id, resume, extra_tags)
    with claimed(Path(settings.run_dir), resume.run_id if resume else None) as folder, \
            kept_in(folder.path / "train.log"):
        check_resumable(resume, folder)
        config = {**config, "run_dir": str(folder.path)}
        return train_in_folder(config, folder, parent_run_id, resume, extra_tags)


def check_resumable(resume: ResumePoint | None, folder: RunFolder) -> None:
    """A RUNNING run is resumed only when its own folder's lock shows its process has ended, or with --force."""
    if resume is None or resume.status != "RUNNING":
        return
    if folder.previous_owner == resume.run_id:
        print(f"cnnlab: run {resume.run_id} was left RUNNING by a process that has ended (killed?); resuming it")
    elif not resume.force:
        raise CnnlabError(
            f"run {resume.run_id} is RUNNING and no process on this machine holds its folder, so it may still be "
            "training elsewhere; if it is not, resume it with --force"
        )


def train_in_folder(
    config: dict[str, Any],
    folder: RunFolder | None,
    parent_run_id: str | None,
    resume: ResumePoint | None,
    extra_tags: dict[str, str] | None,
) -> dict[str, float]:
    settings = RunSettings.of(config)
    tracking = settings.tracking
    data = build_data(config["data"])
    record_skips_in(data, Path(settings.run_dir))
    with tracked_run(
        tracking_uri=tracking.uri,
        experiment=tracking.experiment,
        run_name=tracking.run_name or default_run_name(config),
        config=config,
        tags={**choice_tags(config), **trial_tags(), **(extra_tags or {})},
        artifact_root=tracking.artifact_root,
        parent_run_id=parent_run_id,
        resume_run_id=resume.run_id if resume else None,
        resume_changes=resume.changes if resume else (),
        run_dir=settings.run_dir,
    ) as run:
        if folder is not None:
            folder.record(run.run_id)
            print(summary_line(config, run))
        if resume is None:
            run.log_yaml(command_overrides(), "overrides.yaml")
            if is_rank_zero():
                link_trial(run.run_id)
        task = build_task(
            config["task"],
            backbone=config["backbone"],
            optimizer=config["optimizer"],
            scheduler=config["scheduler"],
            data_facts=data.facts(),
        )
        if settings.init_from and resume is None:
            load_initial_weights(task, settings.init_from, task.task_name)
        environment = launch_environment()
        trainer = build_trainer(config, task, run, resuming=resume is not None)
        if trainer.world_size > 1 and is_rank_zero():
            share_with_ranks(config, run.run_id)
        try:
            with system_metrics(run, enabled=tracking.system_metrics, interval_s=tracking.system_metrics_interval_s,
                                gpus=cuda_indices(trainer), resuming=resume is not None):  # fmt: skip
                metrics = fit_and_test(trainer, task, data, run, config, resume)
        except MisconfigurationException as err:  # Lightning's own check of settings, e.g. limit_val_batches
            raise CnnlabError(f"lightning: {' '.join(str(err).split())}") from err
        finally:
            if trainer.world_size > 1:
                end_job(environment)
    return metrics


def cuda_indices(trainer: pl.Trainer) -> list[int]:
    """The CUDA devices this process's job trains on (its node's share under DDP)."""
    return list(trainer.device_ids) if isinstance(trainer.accelerator, CUDAAccelerator) else []


def fit_and_test(
    trainer: pl.Trainer,
    task: BaseTask,
    data: pl.LightningDataModule,
    run: TrackedRun,
    config: dict[str, Any],
    resume: ResumePoint | None,
) -> dict[str, float]:
    """Fits, tests the best checkpoint, logs the model (and registers it); returns the test metrics."""
    tracking = RunSettings.of(config).tracking
    # weights_only: a checkpoint holding pickled objects is refused, not executed
    trainer.fit(task, datamodule=data, ckpt_path=resume.checkpoint if resume else None, weights_only=True)
    for note in (overfit_verdict(trainer), early_stop_note(trainer)):
        if note and trainer.is_global_zero:
            print(note)
    if trainer.fast_dev_run:
        return smoke_test(trainer, task, data, run, Path(config["run_dir"]))
    best, score = tested_checkpoint(trainer, task, data)
    metrics = trainer.test(task, datamodule=data, ckpt_path=best, weights_only=True, verbose=False)[0]
    # The monitored validation score of the tested weights: what sweepers should optimise (never test/).
    metrics[task.monitor] = score
    run.log_metrics({f"best/{task.monitor}": metrics[task.monitor]})
    if run.offline and (tracking.log_model or tracking.register_as):
        print("cnnlab: the model is not logged or registered while the tracking server is away; its checkpoints "
              f"are in {config['run_dir']}/checkpoints")  # fmt: skip
    elif tracking.log_model and trainer.is_global_zero:
        example = task.serving_example(next(iter(data.test_dataloader())))
        log_pytorch_model(run, task.serving_network(), example, task.serving_dynamic_dims)
    if tracking.export and trainer.is_global_zero:
        export_run(run, config, best, tracking.export, Path(config["run_dir"]) / "export")
    if tracking.register_as and trainer.is_global_zero and not run.offline:
        version = register_predictor(run, best, config, tracking.register_as)
        print(f"registered as models:/{tracking.register_as}/{version}")
    if trainer.is_global_zero:
        log_profile(run, Path(config["run_dir"]))
    report({**metrics, f"best/{task.monitor}": score}, run)
    return metrics


def tested_checkpoint(trainer: pl.Trainer, task: BaseTask, data: pl.LightningDataModule) -> tuple[str, float]:
    """The checkpoint to test and its monitored validation score: the best epoch's; with SWA, the averaged weights
    training ended with (saved as swa.ckpt and validated here: the epochs' scores were the raw weights')."""
    checkpoints = trainer.checkpoint_callback
    if not any(isinstance(callback, StochasticWeightAveraging) for callback in trainer.callbacks):
        return checkpoints.best_model_path, float(checkpoints.best_model_score)
    path = Path(checkpoints.dirpath) / "swa.ckpt"
    trainer.save_checkpoint(path)
    score = trainer.validate(task, datamodule=data, verbose=False)[0][task.monitor]
    print(f"cnnlab: tested the weights stochastic weight averaging ended with ({task.monitor}={score:.4g}), {path}")
    return str(path), float(score)


def smoke_test(
    trainer: pl.Trainer, task: BaseTask, data: pl.LightningDataModule, run: TrackedRun, run_dir: Path
) -> dict[str, float]:
    """trainer.fast_dev_run: every step ran on a few batches, and Lightning logged nothing and wrote no checkpoint;
    the test step runs on the last weights, its metrics are logged, no model is, and the run is tagged as a smoke
    test."""
    metrics = trainer.test(task, datamodule=data, verbose=False)[0]
    run.log_metrics(metrics)  # Lightning gives a fast_dev_run no logger; its test results are worth keeping
    run.set_tags({FAST_DEV_RUN_TAG: str(trainer.fast_dev_run)})
    print("cnnlab: trainer.fast_dev_run: no checkpoint was written; tested the last weights; no model logged")
    if trainer.is_global_zero:
        log_profile(run, run_dir)
    report(metrics, run)
    return metrics


def record_skips_in(data: SplitDataModule, run_dir: Path) -> None:
    """Samples skipped under data.on_bad_sample=skip are recorded in the run folder (by every process)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    data.bad_samples.record_file = run_dir / "bad_samples.txt"


def command_overrides() -> list[str]:
    """The overrides this job was launched with (Hydra's task overrides; empty when called without Hydra)."""
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def default_run_name(config: dict[str, Any]) -> str:
    """<backbone>-<data>-s<seed>, and a short hash of the other recipe overrides when there are any: the
    experiment already names the task, and runs that differ only in, say, optimizer.lr need different names."""
    backbone = config["backbone"]
    name = backbone.get("model") or backbone["name"]  # passthroughs are named by their model
    recipe = sorted(item for item in command_overrides() if not _named_or_bookkeeping(item))
    suffix = f"-{hashlib.sha1(' '.join(recipe).encode()).hexdigest()[:6]}" if recipe else ""
    return f"{name}-{config['data']['name']}-s{config['seed']}{suffix}"


def _named_or_bookkeeping(override: str) -> bool:
    key = override.split("=", 1)[0].lstrip("+~")
    return key in ("backbone", "data", "seed") or is_bookkeeping(key) or key.startswith("trainer.enable_progress")


def choice_tags(config: dict[str, Any]) -> dict[str, str]:
    return {
        **debug_tag(),
        OVERRIDES_TAG: " ".join(command_overrides()),
        "cnnlab.task": config["task"]["name"],
        "cnnlab.backbone": config["backbone"]["name"],
        "cnnlab.data": config["data"]["name"],
        "cnnlab.seed": str(config["seed"]),
        RUN_DIR_TAG: config["run_dir"],
    }


def debug_tag() -> dict[str, str]:
    """cnnlab.debug=<mode> for a run launched with debug=fdr|overfit|limit|profile: not a result to compare."""
    from hydra.core.hydra_config import HydraConfig

    mode = HydraConfig.get().runtime.choices.get("debug") if HydraConfig.initialized() else None
    return {DEBUG_TAG: mode} if mode else {}


def build_trainer(config: dict[str, Any], task: BaseTask, run: TrackedRun, resuming: bool = False) -> pl.Trainer:
    settings = RunSettings.of(config)
    run_dir, log_checkpoint = Path(settings.run_dir), settings.tracking.log_checkpoint
    callbacks: list[pl.Callback] = [
        ModelCheckpoint(
            dirpath=run_dir / "checkpoints",
            filename="best",
            monitor=task.monitor,
            mode=task.monitor_mode,
            enable_version_counter=False,
        ),
        # last.ckpt after every epoch, what resume continues from (save_last=True would only refresh it when
        # the best improves).
        ModelCheckpoint(
            dirpath=run_dir / "checkpoints",
            filename="last",
            save_top_k=1,
            save_on_train_epoch_end=True,
            enable_version_counter=False,
        ),
        MlflowArtifacts(run, log_checkpoint=log_checkpoint),
        ExplainImages(run, settings.tracking.explain_images),
        DatasetInputs(run, config["data"]),
        RankConsistency(run, config),
        StartupTime(run),
        StampRunId(run.run_id),
        EpochSeeds(settings.seed),
        NonFiniteLoss(),
        FailureCheckpoints(run, run_dir / "checkpoints", log_checkpoint=log_checkpoint),
        *trial_pruning(task.monitor, run),  # a trial of a pruned Optuna sweep
    ]
    context = CallbackContext(
        task.monitor, task.monitor_mode, run, distributed=spans_devices(config["trainer"]), resuming=resuming,
        logged=bool(run.logger()),
    )
    callbacks += build_callbacks(config.get("callbacks") or {}, context)
    options = dict(config["trainer"])
    options["profiler"] = profiler(options.get("profiler"), run_dir)
    # Not Trainer arguments: they change the network and its inputs.
    task.use_speed_options(channels_last=options.pop("channels_last", False), compile_mode=options.pop("compile", None))
    try:
        # use_distributed_sampler=False: the DataModule shards its splits itself, evaluation without padding
        return pl.Trainer(**options, logger=run.logger(), callbacks=callbacks, default_root_dir=run_dir,
                          use_distributed_sampler=False)  # fmt: skip
    except TypeError as err:
        raise CnnlabError(f"trainer: {err}; trainer.* keys are lightning Trainer arguments") from err


def report(metrics: dict[str, float], run: TrackedRun) -> None:
    """The results on the terminal and as the run's description (the run page's "Description")."""
    if not is_rank_zero():
        return
    headline = {k: v for k, v in metrics.items() if k.startswith("test/") and k.count("/") == 1}
    print("test: " + "  ".join(f"{k}={v:.4g}" for k, v in sorted(headline.items())))
    run.set_tags({MLFLOW_RUN_NOTE: run_note(metrics)})
    print(f"MLflow: {run.ui_hint()}" + ("" if run.offline else f"; {browse_hint(run.tracking_uri)}"))


def run_note(metrics: dict[str, float]) -> str:
    """Markdown: the command that made the run and its final test and best-checkpoint metrics."""
    rows = [f"| {k} | {v:.4g} |" for k, v in sorted(metrics.items()) if k.startswith(("test/", "best/"))
            and k.count("/") <= 2 and "per_class" not in k]  # fmt: skip
    return "\n".join([f"`{command_line()}`", "", "| metric | value |", "|---|---|", *rows])


def summary_line(config: dict[str, Any], run: TrackedRun) -> str:
    """What is about to train, and where its files go: the first line a run prints."""
    backbone = config["backbone"].get("model") or config["backbone"]["name"]
    epochs = config["trainer"].get("max_epochs")
    length = "a smoke test (fast_dev_run)" if config["trainer"].get("fast_dev_run") else f"{epochs} epochs"
    return (f"cnnlab: {config['task']['name']} {backbone} on {config['data']['name']}, seed {config['seed']}, "
            f"{length}; run {run.run_id}, files in {config['run_dir']}")  # fmt: skip
