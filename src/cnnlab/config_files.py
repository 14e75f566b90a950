"""Where the Hydra config files are, and the groups and options they hold (read from the files, no Hydra needed)."""

from __future__ import annotations

import os
from pathlib import Path

import yaml


def _config_dir() -> Path:
    """CNNLAB_CONFIG_DIR, else conf/ of the source checkout (the project installs editable from a clone)."""
    configured = os.environ.get("CNNLAB_CONFIG_DIR")
    return Path(configured).resolve() if configured else Path(__file__).resolve().parents[2] / "conf"


CONFIG_DIR = _config_dir()
CONFIG_NAME = "train"


def group_options(group: str) -> list[str]:
    """The options of a config group: the YAML files of conf/<group>/."""
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))


def config_groups() -> list[str]:
    return sorted(p.name for p in CONFIG_DIR.iterdir() if p.is_dir() and p.name != "hydra")  # hydra/: plugin configs


def recipe_data(experiment: str) -> str | None:
    """The data group an experiment file selects (`override /data: NAME` in its defaults), if any."""
    recipe = CONFIG_DIR / "experiment" / f"{experiment}.yaml"
    if not recipe.is_file():
        return None
    defaults = (yaml.safe_load(recipe.read_text()) or {}).get("defaults", [])
    for entry in defaults:
        if isinstance(entry, dict):
            for key, value in entry.items():
                if key.replace("override", "").strip().lstrip("/") == "data":
                    return str(value)
    return None
