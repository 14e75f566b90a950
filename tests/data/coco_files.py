"""COCO files for the data tests: the shared COCO128 (tests skip without it) and small generated instance files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

COCO128 = Path(__file__).resolve().parents[3] / "shared" / "data" / "coco128"
needs_coco128 = pytest.mark.skipif(not (COCO128 / "instances.json").is_file(), reason="../shared/data/coco128 absent")


def write_coco(tmp_path: Path, annotations: list[dict], images: int = 2, size: tuple[int, int] = (40, 30)) -> Path:
    folder = tmp_path / "images"
    folder.mkdir(exist_ok=True)
    listed = []
    for i in range(1, images + 1):
        Image.fromarray(np.zeros((size[1], size[0], 3), np.uint8)).save(folder / f"{i}.png")
        listed.append({"id": i, "file_name": f"{i}.png", "width": size[0], "height": size[1]})
    categories = [{"id": 7, "name": "cat"}, {"id": 42, "name": "dog"}]
    path = tmp_path / "instances.json"
    path.write_text(json.dumps({"images": listed, "annotations": annotations, "categories": categories}))
    return path


