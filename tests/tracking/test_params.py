"""Config -> MLflow params: one per config path, long values cut but kept whole in config.yaml."""

from __future__ import annotations

from mlflow.tracking import MlflowClient

from cnnlab.tracking.params import MAX_PARAM_VAL_LENGTH, flatten_config, log_params


def test_flatten_uses_config_paths() -> None:
    flat = flatten_config({"optimizer": {"lr": 0.1, "betas": [0.9, 0.99]}, "seed": 1, "empty": {}, "none": None})
    assert flat == {"optimizer.lr": "0.1", "optimizer.betas": "[0.9, 0.99]", "seed": "1", "empty": "{}", "none": "None"}


def test_long_values_are_cut_not_fatal(store: str) -> None:
    client = MlflowClient(store)
    run = client.create_run(client.create_experiment("params"))
    config = {"data": {"augment": "x" * (MAX_PARAM_VAL_LENGTH + 500)}, **{f"k{i}": i for i in range(150)}}
    log_params(client, run.info.run_id, config)
    params = client.get_run(run.info.run_id).data.params
    assert len(params) == 151  # more than one log_batch of 100
    assert len(params["data.augment"]) == MAX_PARAM_VAL_LENGTH and params["data.augment"].endswith("...")
