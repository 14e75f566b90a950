"""The top-level settings of a run (conf/train.yaml and conf/tracking/), typed: what code reads as attributes, and
what `cnnlab.preflight` checks the config against before a run exists. The config groups that become builder
arguments (task, backbone, data, optimizer, scheduler, trainer) stay mappings: their keys are the builders'."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

from cnnlab.setting_types import NonNegativeInt, PositiveFloat


@dataclass(frozen=True)
class TrackingSettings:
    """conf/tracking/*.yaml (other keys may ride along, e.g. for ${oc.env:...} interpolations)."""

    uri: str
    experiment: str
    artifact_root: str | None = None
    run_name: str | None = None
    log_model: bool = True
    log_checkpoint: bool = True
    register_as: str | None = None
    system_metrics: bool = True
    system_metrics_interval_s: PositiveFloat = 5.0
    export: tuple[Literal["onnx", "torchscript", "pt2"], ...] = ()  # checked and logged after the test (cnnlab export)
    explain_images: NonNegativeInt = 4  # classification: filters, CAMs and feature maps of this many val images

    @classmethod
    def of(cls, tracking: Mapping[str, Any]) -> TrackingSettings:
        return cls(**{field.name: tracking[field.name] for field in fields(cls) if field.name in tracking})


@dataclass(frozen=True)
class RunSettings:
    """The top-level settings of conf/train.yaml (the groups aside), with the run's tracking."""

    seed: int
    run_dir: str
    tracking: TrackingSettings
    resume: str | None = None
    force: bool = False  # with resume: continue a run left RUNNING whose process cannot be seen from here
    init_from: str | None = None

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> RunSettings:
        values = {field.name: config[field.name] for field in fields(cls) if field.name in config}
        return cls(**{**values, "tracking": TrackingSettings.of(config["tracking"])})
