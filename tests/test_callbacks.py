"""callbacks=[...]: each shipped callback switched on in a short run, asserting its effect, and resumed runs that
keep their state."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient

from cnnlab.dispatch import train
from cnnlab.errors import CnnlabError
from tests.conftest import cli

SHORT = [
    "+trainer.limit_train_batches=3",
    "+trainer.limit_val_batches=1",
    "+trainer.limit_test_batches=1",
    "trainer.enable_progress_bar=false",
    "trainer.log_every_n_steps=1",
    "tracking.log_model=false",
]


def the_run(store: str):
    client = MlflowClient(store)
    (run,) = client.search_runs([client.get_experiment_by_name("classification").experiment_id])
    return client, run


def history(client: MlflowClient, run_id: str, key: str) -> list[float]:
    return [m.value for m in sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)]


def checkpoint(run_dir: str, name: str) -> dict:
    return torch.load(Path(run_dir) / "checkpoints" / f"{name}.ckpt", map_location="cpu", weights_only=True)


def test_ema_early_stopping_lr_monitor_and_device_stats_together(make_config, store: str, capfd) -> None:
    config = make_config(
        *SHORT, "trainer.max_epochs=6", "callbacks=[lr_monitor,ema,early_stopping,device_stats]",
        "callbacks.ema.decay=0.5", "callbacks.early_stopping.patience=1", "callbacks.early_stopping.min_delta=1.0",
    )  # fmt: skip
    train(config)
    client, run = the_run(store)
    # early stopping: no validation can improve val/acc by 1.0, so it stops after patience=1 more epoch
    assert len(history(client, run.info.run_id, "val/acc")) == 2
    assert "early stopping after epoch 2 of 6: Monitored metric val/acc did not improve" in capfd.readouterr().out
    # lr_monitor: the cosine rate per step (3 steps x 2 epochs), falling
    rates = history(client, run.info.run_id, "train/lr")
    assert len(rates) == 6 and rates == sorted(rates, reverse=True) and rates[0] > rates[-1]
    # device_stats: the CPU's statistics (psutil) per step
    assert any(key.startswith("DeviceStatsMonitor") and key.endswith("cpu_percent") for key in run.data.metrics)
    # ema: checkpoints hold the average as their weights, the raw weights beside them, and the two differ
    best = checkpoint(config.run_dir, "best")
    averaged, raw = best["state_dict"], best["current_model_state"]
    assert averaged.keys() == raw.keys()
    assert any(not torch.equal(averaged[k], raw[k]) for k in averaged if averaged[k].is_floating_point())


def test_ema_state_resumes(make_config, store: str, capfd) -> None:
    # a constant rate: a cosine over 1 epoch, then resumed for 2, would be another schedule
    ema = [*SHORT, "callbacks=[ema]", "callbacks.ema.decay=0.5", "scheduler=none"]
    whole = make_config(*ema, "trainer.max_epochs=2")
    train(whole)
    uninterrupted = checkpoint(whole.run_dir, "last")
    first = make_config(*ema, "trainer.max_epochs=1", "tracking.experiment=halves")
    first.run_dir = str(Path(first.run_dir).with_name("halves"))
    train(first)
    client = MlflowClient(store)
    (half,) = client.search_runs([client.get_experiment_by_name("halves").experiment_id])
    resumed = cli(capfd, "train", f"resume={half.info.run_id}", "trainer.max_epochs=2", store=store)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    continued = checkpoint(first.run_dir, "last")
    for key in ("state_dict", "current_model_state"):  # the average and the raw weights both continue exactly
        assert all(torch.equal(uninterrupted[key][k], continued[key][k]) for k in uninterrupted[key]), key


def test_swa_tests_the_averaged_weights(make_config, store: str) -> None:
    config = make_config(*SHORT, "trainer.max_epochs=3", "callbacks=[lr_monitor,swa]", "callbacks.swa.swa_lrs=0.01",
                         "callbacks.swa.swa_epoch_start=2")  # fmt: skip
    metrics = train(config)
    client, run = the_run(store)
    averaged = checkpoint(config.run_dir, "swa")
    assert averaged["callbacks"]  # the averaging state rides along
    last = checkpoint(config.run_dir, "last")["state_dict"]
    assert any(not torch.equal(averaged["state_dict"][k], last[k]) for k in last)
    assert run.data.metrics["best/val/acc"] == metrics["val/acc"]  # the averaged weights' own validation
    assert history(client, run.info.run_id, "train/lr")[-1] == pytest.approx(0.01)  # SWA's rate, still train/lr


def test_finders_log_what_they_found(make_config, store: str, capfd) -> None:
    config = make_config(
        "+trainer.limit_train_batches=20", "+trainer.limit_val_batches=1", "+trainer.limit_test_batches=1",
        "trainer.enable_progress_bar=false", "tracking.log_model=false", "trainer.max_epochs=1",
        "callbacks=[lr_finder,batch_size_finder]", "callbacks.lr_finder.num_training_steps=20",
        "callbacks.batch_size_finder.max_trials=2", "callbacks.batch_size_finder.steps_per_trial=1",
        "data.batch_size=16",
    )  # fmt: skip
    train(config)
    client, run = the_run(store)
    suggestion = run.data.metrics["lr_finder/suggestion"]
    assert 1e-6 <= suggestion <= 1.0
    assert run.data.metrics["tuned/batch_size"] == 4  # 2, doubled once (max_trials=2)
    assert "lr_finder.png" in {a.path for a in client.list_artifacts(run.info.run_id)}
    out = capfd.readouterr().out
    assert f"the learning-rate finder suggests optimizer.lr={suggestion:.3g}" in out
    assert "the batch-size finder picked data.batch_size=4" in out


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("callbacks=[ema]", None),
        ("+callbacks.ema.decay=1.5", r"callbacks.ema.decay=1.5 is not valid: .*\(expected float, > 0, < 1\)"),
        ("+callbacks.early_stopping.patience=abc", r"callbacks.early_stopping.patience=abc is not valid"),
        ("+callbacks.ema.decy=0.9", r"callbacks.ema.decy is not a setting of callbacks.ema; its settings: decay"),
        ("+callbacks.early_stopping.mode=up", r"callbacks.early_stopping.mode=up is not valid"),
        ("+callbacks.nope.x=1", r"unknown callbacks 'nope'; valid choices: batch_size_finder, device_stats"),
    ],
)
def test_callback_settings_are_checked_before_a_run(override: str, message: str | None, make_config) -> None:
    from cnnlab.dispatch import resolve
    from cnnlab.preflight import check_choices

    config = resolve(make_config(override))
    if message is None:
        check_choices(config)
        return
    with pytest.raises(CnnlabError, match=message):
        check_choices(config)
