"""DataLoader options: config values pass through, "auto" follows the accelerator, bad values are one line."""

from __future__ import annotations

import pytest

from cnnlab.data import build_data
from cnnlab.data.loader import LoaderOptions, auto_workers
from cnnlab.errors import CnnlabError


def test_auto_pins_memory_on_gpu_only() -> None:
    auto = LoaderOptions()
    assert auto.resolve(on_gpu=True, devices=1)["pin_memory"] is True
    assert auto.resolve(on_gpu=False, devices=1)["pin_memory"] is False
    assert LoaderOptions(pin_memory=False).resolve(on_gpu=True, devices=1)["pin_memory"] is False


def test_auto_workers_share_the_cores_between_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(32)))
    assert auto_workers(on_gpu=True, devices=1) == 8  # capped
    assert auto_workers(on_gpu=True, devices=8) == 3  # 32 cores / 8 ranks, one left for the rank itself
    assert auto_workers(on_gpu=False, devices=1) == 16


def test_persistent_workers_only_with_workers() -> None:
    assert LoaderOptions(num_workers=0).resolve(on_gpu=False, devices=1)["persistent_workers"] is False
    assert LoaderOptions(num_workers=2).resolve(on_gpu=False, devices=1)["persistent_workers"] is True
    assert (
        LoaderOptions(num_workers=2, persistent_workers=False).resolve(on_gpu=False, devices=1)["persistent_workers"]
        is False
    )


@pytest.mark.parametrize(("key", "value"), [("num_workers", -1), ("num_workers", "many"), ("pin_memory", "yes")])
def test_bad_values_name_the_setting(key: str, value: object) -> None:
    with pytest.raises(CnnlabError, match=rf"^data\.{key}={value} is not valid"):
        LoaderOptions(**{key: value})


def test_data_config_reaches_the_dataloader(tmp_path) -> None:
    loader_settings = {"num_workers": 1, "pin_memory": False, "persistent_workers": False}
    data = build_data({"name": "digits", "batch_size": 16, "image_size": None,
                       "normalize": {"mean": [0.5], "std": [0.5]}, **loader_settings})  # fmt: skip
    data.setup()
    loader = data.train_dataloader()
    assert (loader.num_workers, loader.pin_memory, loader.persistent_workers) == (1, False, False)
    images, labels = next(iter(loader))
    assert images.shape[0] == 16
