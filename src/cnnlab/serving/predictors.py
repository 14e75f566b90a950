"""One predictor per task: the run's own evaluation pre-processing (its DataModule's eval transform, the single
owner of it), then JSON-ready results per input.

Every predictor takes the restored task, the inputs it could read (image arrays or sentences, with their names),
the data settings the run trained with and a folder for files it writes (masks), and returns one dict per input.
Inputs that cannot be read never cost the others their predictions: they come back as {"input", "error"}.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from cnnlab.data import build_data
from cnnlab.data.datasets import read_image
from cnnlab.data.text.readers import read_lines
from cnnlab.data.text.vocabulary import pad_batch
from cnnlab.errors import CnnlabError
from cnnlab.registry import Registry
from cnnlab.serving.input_checks import refuse_binary_file, refuse_folder
from cnnlab.tasks import BaseTask

Predictor = Callable[[BaseTask, Sequence[tuple[str, Any]], Mapping[str, Any], Path], list[dict[str, Any]]]
PREDICTORS: Registry[Predictor] = Registry("task")
Reader = Callable[[BaseTask, str, str], list[tuple[str, Any]]]  # (task, input, encoding) -> [(name, item)]
READERS: dict[str, Reader] = {}
ON_BAD_INPUT = ("skip", "fail")
TEXT_SUFFIXES = (".txt", ".tsv", ".csv", ".jsonl", ".text")


def predict(
    task_name: str,
    task: BaseTask,
    inputs: Sequence[str],
    out_dir: Path,
    data_settings: Mapping[str, Any],
    *,
    on_bad_input: str = "skip",
    encoding: str = "utf-8",
    read: Reader | None = None,
) -> list[dict[str, Any]]:
    """One result per input, in order; an unreadable input is {"input", "error"} (skip) or stops all (fail).
    `read` turns an input into named items (by default the task's: image files, or sentences and their files)."""
    if on_bad_input not in ON_BAD_INPUT:
        raise CnnlabError(f"--on-bad-input={on_bad_input} is not valid; use one of: {', '.join(ON_BAD_INPUT)}")
    read = read or READERS.get(task_name, read_images)
    readable: list[tuple[str, Any]] = []
    slots: list[dict[str, str] | int] = []  # per input: its error, or how many readable items it gave
    for item in inputs:
        try:
            items = read(task, item, encoding)
        except CnnlabError as err:
            if on_bad_input == "fail":
                raise
            slots.append({"input": item, "error": str(err)})
            continue
        readable += items
        slots.append(len(items))
    task.eval()
    with torch.no_grad():
        predicted = iter(PREDICTORS.get(task_name)(task, readable, data_settings, out_dir) if readable else [])
    results: list[dict[str, Any]] = []
    for slot in slots:
        results += [slot] if isinstance(slot, dict) else [next(predicted) for _ in range(slot)]
    return results


def read_images(task: BaseTask, item: str, encoding: str) -> list[tuple[str, np.ndarray]]:
    refuse_folder(item)
    return [(item, read_image(Path(item), image_mode(task)))]


def image_mode(task: BaseTask) -> str:
    """How the network's input images are read: grayscale for one input channel, else RGB."""
    return "L" if task.hparams.get("in_channels", 3) == 1 else "RGB"


def read_sentences(task: BaseTask, item: str, encoding: str) -> list[tuple[str, str]]:
    """A sentence, or a text file of them, one per line (named file:line). An argument that names a file which
    is not there (one word ending in .txt, .tsv, ...; or with a "/" and no space) is an error, not a sentence."""
    path = Path(item)
    refuse_folder(item)
    if len(item) < 4096 and path.is_file():
        refuse_binary_file(path, encoding)
        return [(f"{item}:{number}", line) for number, line in read_lines(path, encoding, setting="--encoding")]
    if not item.strip():
        raise CnnlabError("an empty sentence was given; give text, or a file of sentences")
    if " " not in item.strip() and (path.suffix.lower() in TEXT_SUFFIXES or "/" in item):
        raise CnnlabError(f"{item}: no such file; give an existing file of sentences, or a sentence")
    return [(item, item)]


READERS["text"] = read_sentences


def eval_transform(data_settings: Mapping[str, Any]):
    """The evaluation transform of the run's own DataModule (built from its settings; no data is read)."""
    return build_data(dict(data_settings)).eval_transform


def _probabilities(names: Sequence[str], probabilities: torch.Tensor) -> dict[str, Any]:
    values = probabilities.tolist()
    best = int(np.argmax(values))
    return {"class": names[best], "score": values[best], "probabilities": dict(zip(names, values, strict=True))}


def classification_transform(task: BaseTask, data_settings: Mapping[str, Any]):
    """Inputs of another size are brought to the size the network was trained at, then evaluated as test images
    are."""
    import albumentations as A

    height, width = task.hparams.image_size
    return A.Compose([A.Resize(height, width), *eval_transform(data_settings).transforms])


@PREDICTORS.register("classification")
def predict_classes(task: BaseTask, inputs, data_settings, out_dir: Path) -> list[dict[str, Any]]:
    transform = classification_transform(task, data_settings)
    images = torch.stack([transform(image=image)["image"] for _, image in inputs])
    probabilities = task.predict_step(images, 0)
    return [{"input": name, **_probabilities(task.class_names, p)} for (name, _), p in zip(inputs, probabilities,
                                                                                           strict=True)]  # fmt: skip


@PREDICTORS.register("text")
def predict_sentences(task: BaseTask, inputs, data_settings, out_dir: Path) -> list[dict[str, Any]]:
    from cnnlab.data.text import Tokenizer

    tokenizer = Tokenizer(**task.hparams.tokenizer)
    ids = pad_batch([task.vocabulary.encode(tokenizer(s), task.hparams.max_length) for _, s in inputs])
    probabilities = task.predict_step(ids, 0)
    return [{"input": s, **_probabilities(task.class_names, p)} for (_, s), p in zip(inputs, probabilities,
                                                                                   strict=True)]  # fmt: skip


@PREDICTORS.register("segmentation")
def predict_masks(task: BaseTask, inputs, data_settings, out_dir: Path) -> list[dict[str, Any]]:
    """Writes <out_dir>/<stem>_mask.png (class index per pixel) per image, a distinct name for each input;
    reports each class's pixel share."""
    transform = eval_transform(data_settings)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for (name, image), stem in zip(inputs, distinct_stems([n for n, _ in inputs], out_dir), strict=True):
        tensor = transform(image=image)["image"][None]
        mask = task.predict_step(tensor, 0)[0, : image.shape[0], : image.shape[1]].numpy().astype(np.uint8)
        mask_path = out_dir / f"{stem}_mask.png"
        Image.fromarray(mask).save(mask_path)
        shares = np.bincount(mask.ravel(), minlength=len(task.class_names)) / mask.size
        results.append({"input": name, "mask": str(mask_path),
                        "class_fractions": dict(zip(task.class_names, shares.tolist(), strict=True))})  # fmt: skip
    return results


def distinct_stems(names: Sequence[str], out_dir: Path, suffix: str = "_mask.png") -> list[str]:
    """File stems for the masks, numbered where two inputs share one (a/x.png and b/x.png give x and x-2) or a
    file <stem><suffix> is already in out_dir (an earlier call's file is never overwritten)."""
    stems, seen = [], set()
    for name in names:
        stem, number = Path(name).stem, 1
        while (candidate := stem if number == 1 else f"{stem}-{number}") in seen or (
            out_dir / f"{candidate}{suffix}"
        ).exists():
            number += 1
        stems.append(candidate)
        seen.add(candidate)
    return stems


@PREDICTORS.register("detection")
def predict_boxes(task: BaseTask, inputs, data_settings, out_dir: Path) -> list[dict[str, Any]]:
    """Boxes in the pixels of the image as the detector saw it (x0, y0, x1, y1) with score and class name (labels
    are 1..K: 0 is background)."""
    transform = eval_transform(data_settings)
    no_boxes = {"bboxes": np.zeros((0, 4), np.float32), "labels": [], "instance": []}  # the transform moves boxes too
    images = [transform(image=image, **no_boxes)["image"] for _, image in inputs]
    names, results = task.class_names, []
    for (name, _), found in zip(inputs, task.predict_step(images, 0), strict=True):
        detections = [
            {"box": [round(v, 3) for v in box.tolist()], "score": float(score), "class": names[int(label) - 1]}
            for box, score, label in zip(found["boxes"], found["scores"], found["labels"], strict=True)
        ]
        results.append({"input": name, "detections": detections})
    return results
