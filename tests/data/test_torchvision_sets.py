"""torchvision datasets: the real download path is kept; without the files, the error says what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnlab.data import build_data
from cnnlab.errors import CnnlabError


@pytest.mark.parametrize("name", ["cifar10", "mnist", "fashion_mnist"])
def test_missing_dataset_without_download_is_explained(name: str, tmp_path: Path) -> None:
    data = build_data({
        "name": name, "root": str(tmp_path), "download": False, "batch_size": 8, "num_workers": 0,
        "image_size": None, "normalize": {"mean": [0.5], "std": [0.5]}, "augment": [],
    })  # fmt: skip
    with pytest.raises(CnnlabError, match=rf"data={name}: not found under data.root=.* set data.download=true"):
        data.prepare_data()
