"""Every config group option and every experiment composes; experiments also train a couple of steps."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from cnnlab.config_files import CONFIG_DIR, CONFIG_NAME, config_groups, group_options
from cnnlab.dispatch import train
from tests.conftest import FAST

GROUP_OPTIONS = [(g, o) for g in config_groups() if g not in ("experiment", "sweep", "debug") for o in group_options(g)]
# Options that need a value only the user has.
REQUIRED = {
    ("data", "imagefolder"): ["data.root=/some/folder"],
    ("data", "masks"): ["data.root=/some/folder"],
    ("data", "coco_semantic"): ["data.annotations=a.json", "data.images=/some/folder"],
    ("data", "coco"): ["data.annotations=a.json", "data.images=/some/folder"],
    ("data", "text_prefixed"): ["data.train=train.txt"],
    ("data", "text_lines"): ["+data.train.pos=pos.txt"],
    ("data", "text_csv"): ["data.train=train.csv"],
}
# Experiments on ../shared/data (the working tree's sibling), skipped where it is absent.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
NEEDS_SHARED = {"trec_cnn_rand": "text/trec", "sst2_cnn_rand": "text/sst2"}


@pytest.mark.parametrize(("group", "option"), GROUP_OPTIONS, ids=[f"{g}={o}" for g, o in GROUP_OPTIONS])
def test_every_group_option_composes(group: str, option: str) -> None:
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(CONFIG_NAME, overrides=[f"{group}={option}", *REQUIRED.get((group, option), [])])
    assert cfg[group] is not None
    if "name" in cfg[group]:
        assert cfg[group].name == option


@pytest.mark.parametrize("sweep", group_options("sweep"))
def test_every_sweep_configures_hydras_sweeper(sweep: str) -> None:
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(CONFIG_NAME, overrides=[f"sweep={sweep}"], return_hydra_config=True)
    assert cfg.hydra.sweeper.params  # a search space to sweep
    expected = {"grid": "BasicSweeper", "optuna": "OptunaSweeper"}[sweep]
    assert cfg.hydra.sweeper._target_.endswith(expected)


def test_groups_are_the_documented_axes() -> None:
    assert {"task", "backbone", "data", "optimizer", "scheduler", "trainer", "tracking", "experiment"} <= set(
        config_groups()
    )


@pytest.mark.parametrize("experiment", group_options("experiment"))
def test_every_experiment_trains(experiment: str, make_config, store, tmp_path) -> None:
    if experiment in NEEDS_SHARED and not (SHARED_DATA / NEEDS_SHARED[experiment]).is_dir():
        pytest.skip("../shared/data absent")
    # Generated datasets go to tmp_path; other data options ignore the override's absence.
    overrides = [f"data.root={tmp_path / 'data'}"] if "shapes" in experiment else []
    metrics = train(make_config(f"experiment={experiment}", "tracking.log_model=false", *FAST, *overrides))
    assert metrics["test/loss"] > 0 and all(0.0 <= v <= 1.0 for k, v in metrics.items() if k != "test/loss")
