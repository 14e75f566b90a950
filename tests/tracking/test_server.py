"""Against a real `mlflow server` on 127.0.0.1: a run over HTTP with served artifacts, a model, and compare."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
import torch
from mlflow.tracking import MlflowClient

from cnnlab.dispatch import train
from tests.conftest import FAST, cli


def test_a_run_against_a_tracking_server(mlflow_server: str, make_config, tmp_path: Path, monkeypatch,
                                         capfd) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # the config names the server
    train(make_config(*FAST, "tracking=mlflow_server", f"tracking.uri={mlflow_server}",
                      "tracking.system_metrics_interval_s=0.1"))  # fmt: skip
    client = MlflowClient(mlflow_server)
    (run,) = client.search_runs([client.get_experiment_by_name("classification").experiment_id])
    assert run.info.status == "FINISHED" and run.info.artifact_uri.startswith("mlflow-artifacts:")
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "checkpoints", "model_summary.txt"} <= artifacts
    assert "system/cpu_utilization_percentage" in run.data.metrics  # sampled over HTTP, by MLflow's monitor
    assert sorted(d.tags[0].value for d in run.inputs.dataset_inputs) == ["test", "train", "val"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)  # where MLflow's model loader looks for the run
    model = mlflow.pytorch.load_model(f"runs:/{run.info.run_id}/model")
    assert model(torch.zeros(3, 1, 8, 8)).shape == (3, 10)

    compared = cli(capfd, "compare", "--experiment", "classification", store=mlflow_server)
    assert compared.returncode == 0 and run.info.run_id[:8] in compared.stdout


@pytest.mark.parametrize("command", [["predict"], ["evaluate"]])
def test_commands_read_runs_through_the_server(mlflow_server: str, command: list[str], capfd) -> None:
    result = cli(capfd, *command, "0123abcd", "x.png", store=mlflow_server)
    assert result.returncode == 1 and f"no run 0123abcd in {mlflow_server}" in result.stderr
