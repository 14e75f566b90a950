"""data=shapes_detection: the generated shapes written as a real COCO dataset (images + JSON with boxes and RLE masks).

Same generator and settings as data=shapes; cached under `root/<settings hash>/` and read by the COCO loader.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from cnnlab.data.cache import settings_key, write_atomically
from cnnlab.data.coco_detection import CocoDetectionData
from cnnlab.data.shapes import SHAPE_CLASSES, draw_scene

CATEGORIES = [{"id": i, "name": name, "supercategory": "shape"} for i, name in enumerate(SHAPE_CLASSES) if i > 0]


def generate_shapes_coco(root: Path, *, splits: dict[str, int], image_size: int, seed: int, **scene) -> None:
    """Writes root/images/<split>_NNNNN.png and root/<split>.json (COCO instances), atomically."""
    from pycocotools import mask as mask_utils

    def fill(staging: Path) -> None:
        rng = np.random.default_rng(seed)
        (staging / "images").mkdir()
        next_id = 1
        for split, count in splits.items():
            images, annotations = [], []
            for i in range(count):
                image, _, instances = draw_scene(rng, image_size, **scene)
                name = f"{split}_{i:05d}.png"
                Image.fromarray(image).save(staging / "images" / name)
                images.append({"id": i + 1, "file_name": name, "width": image_size, "height": image_size})
                for kind, visible in instances:
                    rle = mask_utils.encode(np.asfortranarray(visible.astype(np.uint8)))
                    x, y, w, h = (float(v) for v in mask_utils.toBbox(rle))
                    annotations.append({
                        "id": next_id, "image_id": i + 1, "category_id": kind, "bbox": [x, y, w, h],
                        "area": float(visible.sum()), "iscrowd": 0,
                        "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()},
                    })  # fmt: skip
                    next_id += 1
            coco = {"images": images, "annotations": annotations, "categories": CATEGORIES}
            (staging / f"{split}.json").write_text(json.dumps(coco))

    write_atomically(root, fill)


class ShapesDetectionData(CocoDetectionData):
    def __init__(
        self,
        *,
        root: str = "outputs/datasets/shapes_detection",
        num_train: int = 400,
        num_val: int = 64,
        num_test: int = 64,
        size: int = 96,
        max_shapes: int = 4,
        min_radius: float = 0.12,
        max_radius: float = 0.3,
        noise: float = 12.0,
        overlap: bool = False,
        generator_seed: int = 0,
        **common,
    ) -> None:
        self.generator_settings = {
            "splits": {"train": num_train, "val": num_val, "test": num_test}, "image_size": size,
            "max_shapes": max_shapes, "min_radius": min_radius, "max_radius": max_radius, "noise": noise,
            "overlap": overlap, "seed": generator_seed,
        }  # fmt: skip
        self.root = Path(root) / settings_key(self.generator_settings)
        super().__init__(
            annotations=str(self.root / "train.json"), val_annotations=str(self.root / "val.json"),
            test_annotations=str(self.root / "test.json"), images=str(self.root / "images"), **common,
        )  # fmt: skip

    def describe(self) -> str:
        return f"shapes_detection ({self.root})"

    def prepare_data(self) -> None:
        if not self.root.is_dir():
            generate_shapes_coco(self.root, **self.generator_settings)

    def load_splits(self):
        self.prepare_data()
        return super().load_splits()
