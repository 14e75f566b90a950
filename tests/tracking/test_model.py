"""Model logging: torch.export (pt2) when the network traces, pickle with cnnlab's source when it does not."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import torch
from torch import nn

from cnnlab.tracking.model import log_pytorch_model
from cnnlab.tracking.run import tracked_run


class DataDependent(nn.Module):
    """A branch on a tensor's value: torch.export cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) if x.sum() > 0 else -self.linear(x)


def saved_files(uri: str) -> list[str]:
    return sorted(p.name for p in (Path(mlflow.artifacts.download_artifacts(artifact_uri=uri)) / "data").iterdir())


def log_and_load(network: nn.Module, store: str, tmp_path: Path):
    config = {"seed": 0}
    with tracked_run(
        tracking_uri=store, experiment="models", run_name="m", config=config, tags={}, artifact_root=str(tmp_path)
    ) as run:
        uri = log_pytorch_model(run, network, torch.randn(4, 4))
    return uri, mlflow.pytorch.load_model(uri)


def test_traceable_network_is_saved_as_pt2(store: str, tmp_path: Path) -> None:
    network = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    uri, loaded = log_and_load(network, store, tmp_path)
    assert saved_files(uri) == ["model.pt2"]
    x = torch.randn(5, 4)
    assert torch.allclose(loaded(x), network(x))


def test_untraceable_network_falls_back_to_pickle(store: str, tmp_path: Path) -> None:
    network = DataDependent()
    uri, loaded = log_and_load(network, store, tmp_path)
    assert "model.pth" in saved_files(uri)
    x = -torch.ones(3, 4)
    assert torch.allclose(loaded(x), network(x))


def test_logging_a_model_leaves_the_process_tracking_uri_as_it_was(store: str, tmp_path: Path, monkeypatch) -> None:
    # The store comes from the run's settings alone; a later run of this process must get it the same way (with
    # MLFLOW_TRACKING_URI left set, it would win over that run's own tracking.uri).
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    config = {"seed": 0}
    with tracked_run(tracking_uri=store, experiment="models", run_name="m", config=config, tags={},
                     artifact_root=str(tmp_path)) as run:  # fmt: skip
        log_pytorch_model(run, nn.Linear(4, 2), torch.randn(4, 4))
    assert "MLFLOW_TRACKING_URI" not in os.environ and mlflow.get_tracking_uri() != store
