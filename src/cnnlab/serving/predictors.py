"""One predictor per task: the same pre-processing as evaluation, then JSON-ready results per input.

Every predictor takes the restored task, the raw inputs (image paths or sentences) and a folder for files it
writes (masks), and returns one dict per input.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import albumentations as A
import numpy as np
import torch
from albumentations.pytorch import ToTensorV2
from PIL import Image

from cnnlab.data.datasets import read_image
from cnnlab.data.text import Tokenizer
from cnnlab.data.text.vocabulary import pad_batch
from cnnlab.registry import Registry
from cnnlab.tasks import BaseTask

Predictor = Callable[[BaseTask, Sequence[str], Path], list[dict[str, Any]]]
PREDICTORS: Registry[Predictor] = Registry("task")
SIZE_MULTIPLE = 32  # segmentation inputs are padded to it, as in training


def predict(task_name: str, task: BaseTask, inputs: Sequence[str], out_dir: Path) -> list[dict[str, Any]]:
    task.eval()
    with torch.no_grad():
        return PREDICTORS.get(task_name)(task, inputs, out_dir)


def _probabilities(names: Sequence[str], probabilities: torch.Tensor) -> dict[str, Any]:
    values = probabilities.tolist()
    best = int(np.argmax(values))
    return {"class": names[best], "score": values[best], "probabilities": dict(zip(names, values, strict=True))}


@PREDICTORS.register("classification")
def predict_classes(task: BaseTask, inputs: Sequence[str], out_dir: Path) -> list[dict[str, Any]]:
    hparams = task.hparams
    height, width = hparams.image_size
    transform = A.Compose([
        A.Resize(height, width), A.Normalize(**hparams.normalize, max_pixel_value=255.0), ToTensorV2(),
    ])  # fmt: skip
    mode = "L" if hparams.in_channels == 1 else "RGB"
    images = torch.stack([transform(image=read_image(Path(path), mode))["image"] for path in inputs])
    probabilities = task.predict_step(images, 0)
    pairs = zip(inputs, probabilities, strict=True)
    return [{"input": str(path), **_probabilities(task.class_names, p)} for path, p in pairs]


@PREDICTORS.register("text")
def predict_sentences(task: BaseTask, inputs: Sequence[str], out_dir: Path) -> list[dict[str, Any]]:
    """Each input is a sentence, or a path to a UTF-8 file of sentences, one per line."""
    sentences = []
    for item in inputs:
        path = Path(item)
        is_file = len(item) < 4096 and path.is_file()
        sentences += (
            [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()] if is_file else [item]
        )
    tokenizer = Tokenizer(**task.hparams.tokenizer)
    ids = pad_batch([task.vocabulary.encode(tokenizer(s), task.hparams.max_length) for s in sentences])
    probabilities = task.predict_step(ids, 0)
    return [{"input": s, **_probabilities(task.class_names, p)} for s, p in zip(sentences, probabilities, strict=True)]


@PREDICTORS.register("segmentation")
def predict_masks(task: BaseTask, inputs: Sequence[str], out_dir: Path) -> list[dict[str, Any]]:
    """Writes <out_dir>/<name>_mask.png (class index per pixel) per image; reports each class's pixel share."""
    hparams = task.hparams
    transform = A.Compose([
        A.PadIfNeeded(min_height=None, min_width=None, pad_height_divisor=SIZE_MULTIPLE,
                      pad_width_divisor=SIZE_MULTIPLE, position="top_left"),
        A.Normalize(**hparams.normalize, max_pixel_value=255.0), ToTensorV2(),
    ])  # fmt: skip
    mode = "L" if hparams.in_channels == 1 else "RGB"
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for path in inputs:
        image = read_image(Path(path), mode)
        tensor = transform(image=image)["image"][None]
        mask = task.predict_step(tensor, 0)[0, : image.shape[0], : image.shape[1]].numpy().astype(np.uint8)
        mask_path = out_dir / f"{Path(path).stem}_mask.png"
        Image.fromarray(mask).save(mask_path)
        shares = np.bincount(mask.ravel(), minlength=len(task.class_names)) / mask.size
        results.append({"input": str(path), "mask": str(mask_path),
                        "class_fractions": dict(zip(task.class_names, shares.tolist(), strict=True))})  # fmt: skip
    return results


@PREDICTORS.register("detection")
def predict_boxes(task: BaseTask, inputs: Sequence[str], out_dir: Path) -> list[dict[str, Any]]:
    """Boxes in pixels (x0, y0, x1, y1) with score and class name (labels are 1..K: 0 is background)."""
    images = [torch.from_numpy(read_image(Path(path), "RGB")).permute(2, 0, 1).float() / 255 for path in inputs]
    names, results = task.class_names, []
    for path, found in zip(inputs, task.predict_step(images, 0), strict=True):
        detections = [
            {"box": [round(v, 2) for v in box.tolist()], "score": float(score), "class": names[int(label) - 1]}
            for box, score, label in zip(found["boxes"], found["scores"], found["labels"], strict=True)
        ]
        results.append({"input": str(path), "detections": detections})
    return results
