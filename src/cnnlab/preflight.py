"""Checks of a resolved config that fail in one line before any run exists: names, types and ranges of every
setting, the folders a run writes, and recipes used with data they were not written for."""

from __future__ import annotations

import difflib
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any, Literal

from annotated_types import Interval

from cnnlab.callbacks.choices import check_callbacks
from cnnlab.config_files import recipe_data
from cnnlab.data import check_data
from cnnlab.distributed import spans_devices
from cnnlab.errors import CnnlabError
from cnnlab.models import check_backbone
from cnnlab.registry import check_settings, check_value, keyword_hints
from cnnlab.run_settings import RunSettings, TrackingSettings
from cnnlab.setting_types import NonNegativeFloat, NonNegativeInt, PositiveInt
from cnnlab.tasks import TASKS
from cnnlab.tasks.optimization import check_optimization
from cnnlab.tracking.store import check_store, resolve_tracking_uri

# trainer.* keys that are cnnlab's, not Lightning Trainer arguments: they change the network and its inputs.
SPEED_OPTIONS = ("channels_last", "compile")
BatchLimit = Annotated[float, Interval(gt=0, le=1)] | PositiveInt  # a share of the batches, or a count
# Ranges Lightning's annotations do not say (or allow values cnnlab cannot use, e.g. max_epochs=-1 for "forever",
# which no learning-rate schedule can span).
TRAINER_RANGES = {
    "max_epochs": PositiveInt,
    "min_epochs": NonNegativeInt | None,
    "accumulate_grad_batches": PositiveInt,
    "gradient_clip_val": NonNegativeFloat | None,
    "log_every_n_steps": PositiveInt | None,
    "check_val_every_n_epoch": PositiveInt | None,
    "limit_train_batches": BatchLimit | None,
    "limit_val_batches": BatchLimit | None,
    "limit_test_batches": BatchLimit | None,
    "profiler": Literal["simple", "advanced", "pytorch"] | None,  # built by cnnlab.debugging, writing into the run
}


def check_choices(config: dict[str, Any]) -> None:
    """Fails on unknown names, bad values or a backbone the task cannot use, before any run is created."""
    check_run_settings(config)
    check_experiment_fits_data()
    task = config["task"]["name"]
    check_task_settings(config["task"])
    check_backbone(config["backbone"], task)
    check_data(config["data"], task)
    check_optimization(config["optimizer"], config["scheduler"])
    check_trainer(config["trainer"])
    check_callbacks(config.get("callbacks"), config["task"].get("monitor") or "val/loss", "max",
                    distributed=spans_devices(config["trainer"]))  # fmt: skip
    check_tracking(config["tracking"])
    check_store(resolve_tracking_uri(config["tracking"]["uri"]))
    check_writable(Path(config["run_dir"]))
    if config.get("init_from") and not Path(config["init_from"]).is_file():
        raise CnnlabError(
            f"init_from={config['init_from']}: no such file; give a .ckpt from a run's checkpoints/ folder"
        )


def check_run_settings(config: dict[str, Any]) -> None:
    hints = keyword_hints(RunSettings)
    for field in fields(RunSettings):
        if field.name in config and field.name != "tracking":  # checked by check_tracking
            check_value(field.name, config[field.name], hints[field.name])


def check_task_settings(settings: dict[str, Any]) -> None:
    """task.* keys against the task's constructor (what the data provides is filled in later)."""
    check_settings(TASKS.get(settings["name"]), dict(settings), "task")


def check_trainer(settings: dict[str, Any]) -> None:
    """trainer.* keys are Lightning Trainer arguments: unknown keys (with the closest valid ones) and values of the
    wrong type fail here, not after the run has started."""
    import pytorch_lightning as pl

    hints = keyword_hints(pl.Trainer)
    for key, value in settings.items():
        if key in SPEED_OPTIONS:
            continue
        if key not in hints:
            close = difflib.get_close_matches(key, [*hints, *SPEED_OPTIONS], n=3)
            hint = f"did you mean {' or '.join(f'trainer.{c}' for c in close)}?" if close else "see lightning's Trainer"
            raise CnnlabError(f"trainer.{key} is not a Trainer argument; {hint}")
        check_value(f"trainer.{key}", value, TRAINER_RANGES.get(key, hints[key]))


def check_tracking(settings: dict[str, Any]) -> None:
    hints = keyword_hints(TrackingSettings)
    for field in fields(TrackingSettings):
        if field.name in settings:
            check_value(f"tracking.{field.name}", settings[field.name], hints[field.name])
    if not str(settings.get("experiment") or "").strip():
        raise CnnlabError("tracking.experiment is empty; name the MLflow experiment, e.g. tracking.experiment=digits")


def check_experiment_fits_data() -> None:
    """An experiment's data.* settings are written for one dataset: with another data= they would mix (a TREC
    recipe with data=text_lines kept TREC's test file), so that combination stops here."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return
    choices = HydraConfig.get().runtime.choices
    experiment, data = choices.get("experiment"), choices.get("data")
    written_for = recipe_data(experiment) if experiment else None
    if written_for and written_for != data:
        raise CnnlabError(
            f"experiment={experiment} is a recipe for data={written_for}; its data.* settings do not fit "
            f"data={data}: drop one of the two, or copy {experiment}.yaml into conf/experiment/ with your data"
        )


def check_writable(run_dir: Path) -> None:
    """Fails in one line, before a run exists, when the run folder cannot be created or written."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".cnnlab-write-test"
        probe.touch()
        probe.unlink()
    except OSError as err:
        raise CnnlabError(
            f"run_dir={run_dir} is not writable ({err.strerror}); set run_dir=PATH (or hydra.run.dir) to a folder "
            "you can write"
        ) from err
