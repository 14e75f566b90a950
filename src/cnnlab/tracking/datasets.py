"""A run's data as MLflow dataset inputs: one per split (context train, val or test), named after the data, with
the settings that made it as its source, a digest of its contents and its size. The MLflow UI shows them in the
runs table's Dataset column and on the run page; `reproduce`, `evaluate` and a resumed run compare digests."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from mlflow.data.dataset_source import DatasetSource
from mlflow.data.meta_dataset import MetaDataset
from mlflow.entities import DatasetInput, InputTag
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from cnnlab.data.base import SplitDataModule
from cnnlab.data.fingerprints import UnknownDataset, settings_digest, split_digest
from cnnlab.tracking.run import TrackedRun

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


class DataSettingsSource(DatasetSource):
    """Where a split came from: the data settings (name, paths or generator settings) that cnnlab built it from."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.settings = dict(settings)

    @staticmethod
    def _get_source_type() -> str:
        return "cnnlab_data"

    def load(self) -> Any:
        raise NotImplementedError("build the data with cnnlab (cnnlab.data.build_data) from these settings")

    @staticmethod
    def _can_resolve(raw_source: Any) -> bool:
        return False

    @classmethod
    def _resolve(cls, raw_source: Any) -> DataSettingsSource:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        return self.settings

    @classmethod
    def from_dict(cls, source_dict: dict[Any, Any]) -> DataSettingsSource:
        return cls(source_dict)


class SplitDataset(MetaDataset):
    """MLflow's metadata-only dataset, with the split's size and class count as its profile."""

    def __init__(self, source: DatasetSource, name: str, digest: str, samples: int, classes: int) -> None:
        self.samples, self.classes = samples, classes
        super().__init__(source, name=name, digest=digest)

    @property
    def profile(self) -> dict[str, int]:
        return {"num_samples": self.samples, "num_classes": self.classes}

    def to_dict(self) -> dict[str, str]:
        return {**super().to_dict(), "profile": json.dumps(self.profile)}  # MLflow's subclasses add it here too


def split_inputs(data: SplitDataModule, settings: Mapping[str, Any], splits=SPLITS) -> list[DatasetInput]:
    """The set-up data's splits as MLflow dataset inputs."""
    source = DataSettingsSource(settings)
    inputs = []
    for split in splits:
        dataset = getattr(data.splits, split)
        try:
            digest = split_digest(dataset, settings)
        except UnknownDataset as err:  # a new kind of dataset: still logged, by the settings that made it
            log.warning("data %s: %s; its digest covers the settings only", settings["name"], err)
            digest = settings_digest({**settings, "split": split})
        entity = SplitDataset(source, f"{settings['name']}-{split}", digest, len(dataset),
                              len(data.splits.class_names))._to_mlflow_entity()  # fmt: skip
        inputs.append(DatasetInput(entity, tags=[InputTag(MLFLOW_DATASET_CONTEXT, split)]))
    return inputs


def log_splits(
    run: TrackedRun, data: SplitDataModule, settings: Mapping[str, Any], splits=SPLITS, baseline: str | None = None
) -> None:
    """Logs the splits, and says which differ from those run `baseline` logged (by default the run itself: a
    resumed run whose data changed since it started)."""
    inputs = split_inputs(data, settings, splits)
    if run.offline:
        return  # the outbox keeps metrics, params, tags and files; inputs are not among them
    reference = baseline or run.run_id
    now = {split: digests.pop() for split, digests in digests_of(inputs).items()}
    for line in data_differences(logged_digests(run.client, reference), now, reference):
        print(line)
    run.client.log_inputs(run.run_id, datasets=inputs)


def logged_digests(client: MlflowClient, run_id: str) -> dict[str, set[str]]:
    """split (context) -> the digests run `run_id` logged for it (several when resumed on changed data)."""
    return digests_of(client.get_run(run_id).inputs.dataset_inputs)


def digests_of(inputs: list[DatasetInput]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for item in inputs:
        for tag in item.tags:
            if tag.key == MLFLOW_DATASET_CONTEXT:
                found.setdefault(tag.value, set()).add(item.dataset.digest)
    return found


def data_differences(before: Mapping[str, set[str]], now: Mapping[str, str], run_id: str) -> list[str]:
    """One line per split whose digest is none of those run `run_id` logged (runs older than this check logged
    none: nothing to say)."""
    return [f"cnnlab: warning: the {split} data differs from run {run_id}'s (digest {', '.join(sorted(before[split]))}"
            f" -> {now[split]}); results may differ" for split in SPLITS if split in before and split in now
            and now[split] not in before[split]]  # fmt: skip
