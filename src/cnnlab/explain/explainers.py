"""One explainer per task: the input as the run's own evaluation pre-processing makes it (serving.predictors owns
that), the class-activation map of the target (the predicted class unless named), the feature maps of every stage,
and one JSON-ready result per input. Inputs that cannot be read cost only themselves, as in predict."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image

from cnnlab.errors import CnnlabError
from cnnlab.explain.cams import heat_map, overlay, pyramid_maps, require_feature_maps, target_layer
from cnnlab.explain.feature_maps import feature_map_figure, stage_outputs
from cnnlab.explain.inputs import Input, picture_names
from cnnlab.plots.pixels import viewable
from cnnlab.registry import Registry
from cnnlab.tasks import BaseTask


@dataclass(frozen=True)
class ExplainOptions:
    method: str | None = None  # None: the task's default (gradcam; eigencam for a detector without a pyramid)
    layer: str | None = None
    target: str | None = None  # a class name; None: the predicted class
    channels: int | None = None  # feature maps shown per stage; None: feature_maps.DEFAULT_CHANNELS


@dataclass
class Explanation:
    result: dict[str, Any]  # the JSON line, without the file names
    images: dict[str, np.ndarray | Figure] = field(default_factory=dict)  # suffix -> picture ("cam", "features")
    heat: np.ndarray | None = None  # the class-activation map, (H, W) in [0, 1] at the network input's size


Explainer = Callable[[BaseTask, Any, Mapping[str, Any], ExplainOptions], Explanation]
EXPLAINERS: Registry[Explainer] = Registry("task")


def explain_inputs(
    task_name: str,
    task: BaseTask,
    inputs: Sequence[Input],
    data_settings: Mapping[str, Any],
    options: ExplainOptions,
    out_dir: Path,
) -> list[dict[str, Any]]:
    """One result per input ({"input", "error"} for one that could not be read or explained), its pictures written
    to out_dir as <stem>_cam.png and <stem>_features.png and named in the result."""
    explain = EXPLAINERS.get(task_name)
    out_dir.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    task.eval()
    for item, stem in zip(inputs, picture_names(inputs, out_dir), strict=True):
        if item.error is not None:
            results.append({"input": item.name, "error": item.error})
            continue
        try:
            explanation = explain(task, item.content, data_settings, options)
        except CnnlabError as err:  # this input only (a sentence of no known token): the others go on
            results.append({"input": item.name, "error": str(err)})
            continue
        results.append({"input": item.name, **explanation.result, **save_pictures(explanation.images, out_dir, stem)})
    return results


def check_options(task_name: str, task: BaseTask, options: ExplainOptions, encoding: str | None) -> None:
    """A --target, --layer, --method, --channels or --encoding the run cannot take: one line before anything is
    made."""
    if options.target is not None:
        class_index(task, options.target, 0)
    if task_name == "text":
        if options.method not in (None, "windows") or options.layer is not None:
            raise CnnlabError("text runs are explained by their max-pool windows: leave out --method and --layer")
        if options.channels is not None:
            raise CnnlabError("--channels: a text run has no feature maps to draw; leave it out")
        return
    if encoding is not None:
        raise CnnlabError(f"--encoding reads the text files of a text run; this {task_name} run reads images: "
                          "leave it out")  # fmt: skip
    if options.layer is not None:
        network = task.net
        name, layer = target_layer(network, options.layer)
        require_feature_maps(network, name, layer, example_input(task), pyramid=task_name == "detection")


def example_input(task: BaseTask) -> torch.Tensor:
    """A blank batch of one at the size the network trained at (64×64 where the run does not say: detectors and
    smp decoders take any multiple of 32)."""
    size = task.hparams.get("image_size") or (64, 64)
    return torch.zeros(1, task.hparams.get("in_channels", 3), *size, device=task.device)


def save_pictures(images: Mapping[str, np.ndarray | Figure], out_dir: Path, stem: str) -> dict[str, str]:
    import matplotlib.pyplot as plt

    written = {}
    for suffix, picture in images.items():
        path = out_dir / f"{stem}_{suffix}.png"
        if isinstance(picture, Figure):
            picture.savefig(path, dpi=110)
            plt.close(picture)
        else:
            Image.fromarray(picture).save(path)
        written[{"cam": "overlay", "features": "feature_maps"}.get(suffix, suffix)] = str(path)
    return written


def class_index(task: BaseTask, target: str | None, predicted: int) -> int:
    if target is None:
        return predicted
    if target not in task.class_names:
        raise CnnlabError(f"--target {target} is not a class of this run; classes: {', '.join(task.class_names)}")
    return list(task.class_names).index(target)


def picture_of(task: BaseTask, tensor: torch.Tensor) -> np.ndarray:
    """The network's input as uint8 RGB: what the heat map lies over."""
    return (viewable(tensor.detach().float().cpu().numpy(), task.hparams.normalize) * 255).round().astype(np.uint8)


@EXPLAINERS.register("classification")
def explain_class(task: BaseTask, image: np.ndarray, data_settings, options: ExplainOptions) -> Explanation:
    from cnnlab.serving.predictors import classification_transform

    return explain_class_input(task, classification_transform(task, data_settings)(image=image)["image"], options)


def explain_class_input(
    task: BaseTask, tensor: torch.Tensor, options: ExplainOptions, feature_maps: bool = True
) -> Explanation:
    """The explanation of one network input (C×H×W, pre-processed): also what each run logs for a few validation
    images."""
    from pytorch_grad_cam.utils.model_targets import BinaryClassifierOutputTarget, ClassifierOutputTarget

    tensor = tensor[None].to(task.device)
    with torch.no_grad():
        probabilities = task.predict_step(tensor, 0)[0]
    binary = probabilities.ndim == 0
    scores = torch.stack([1 - probabilities, probabilities]) if binary else probabilities
    predicted = int(scores.argmax())
    target = class_index(task, options.target, predicted)
    network = task.serving_network()
    name, layer = target_layer(network, options.layer)
    method = options.method or "gradcam"
    chosen = BinaryClassifierOutputTarget(target) if binary else ClassifierOutputTarget(target)
    with torch.enable_grad():
        heat = heat_map(network, layer, method, tensor, [chosen])
    result = {"class": task.class_names[predicted], "score": float(scores[predicted]),
              "target": task.class_names[target], "method": method, "layer": name}  # fmt: skip
    images = {"cam": overlay(picture_of(task, tensor[0]), heat)}
    if feature_maps:
        images["features"] = feature_map_figure(stage_outputs(network, tensor), options.channels)
    return Explanation(result, images, heat)


@EXPLAINERS.register("segmentation")
def explain_segment(task: BaseTask, image: np.ndarray, data_settings, options: ExplainOptions) -> Explanation:
    """The CAM of the target class over the pixels predicted as it (default: the most predicted class other than
    the first, the background)."""
    from pytorch_grad_cam.utils.model_targets import SemanticSegmentationTarget

    from cnnlab.serving.predictors import eval_transform

    tensor = eval_transform(data_settings)(image=image)["image"][None]
    with torch.no_grad():
        mask = task.predict_step(tensor, 0)[0].cpu().numpy()
    counts = np.bincount(mask.ravel(), minlength=len(task.class_names))
    foreground = counts[1:].argmax() + 1 if len(counts) > 1 and counts[1:].any() else int(counts.argmax())
    target = class_index(task, options.target, int(foreground))
    network = task.serving_network()
    # smp's segmentation head is one convolution to the logits: its CAM is the logits again. The decoder's last
    # convolution is the last layer that still sees features.
    decoder = getattr(network, "decoder", None)
    name, layer = target_layer(decoder if decoder is not None and options.layer is None else network, options.layer)
    name = f"decoder.{name}" if decoder is not None and options.layer is None else name
    method = options.method or "gradcam"
    binary = task.hparams.get("mode") == "binary"
    selected = (mask == target).astype(np.float32)
    heat = heat_map(network, layer, method, tensor, [SemanticSegmentationTarget(0 if binary else target, selected)])
    height, width = image.shape[:2]
    shares = counts / counts.sum()
    result = {"class": task.class_names[int(counts.argmax())], "score": float(shares.max()),
              "target": task.class_names[target], "target_pixels": int(selected.sum()), "method": method,
              "layer": name}  # fmt: skip
    images = {"cam": overlay(picture_of(task, tensor[0])[:height, :width], heat[:height, :width]),
              "features": feature_map_figure(stage_outputs(network, tensor), options.channels)}  # fmt: skip
    return Explanation(result, images, heat[:height, :width])


@EXPLAINERS.register("detection")
def explain_detect(task: BaseTask, image: np.ndarray, data_settings, options: ExplainOptions) -> Explanation:
    """The CAM of the target class's detections (default: the best-scoring box's class), their scores as the
    target. Default: Grad-CAM on the finest level of the feature pyramid (on the shapes data it outlines the
    objects, where EigenCAM on the whole pyramid followed the background's colour gradient); detectors without a
    pyramid (SSDlite): EigenCAM on the backbone."""
    from pytorch_grad_cam.utils.model_targets import FasterRCNNBoxScoreTarget

    from cnnlab.serving.predictors import eval_transform

    no_boxes = {"bboxes": np.zeros((0, 4), np.float32), "labels": [], "instance": []}
    tensor = eval_transform(data_settings)(image=image, **no_boxes)["image"][None]
    with torch.no_grad():
        found = task.predict_step([tensor[0]], 0)[0]
    labels = found["labels"].tolist()
    target = class_index(task, options.target, int(labels[0]) - 1 if labels else 0)
    keep = found["labels"] == target + 1
    network = task.net
    pyramid = getattr(network.backbone, "fpn", None)
    if options.layer is not None:
        layer_name, layer = target_layer(network, options.layer)
    elif pyramid is not None:
        layer_name, layer = "backbone.fpn.layer_blocks.0", pyramid.layer_blocks[0]
    else:
        layer_name, layer = "backbone", network.backbone
    method = options.method or ("gradcam" if pyramid is not None and options.layer is None else "eigencam")
    box_target = FasterRCNNBoxScoreTarget(labels=found["labels"][keep], bounding_boxes=found["boxes"][keep])
    with torch.enable_grad():
        heat = heat_map(network, layer, method, tensor, [box_target], reshape_transform=pyramid_maps)
    result = {"class": task.class_names[int(labels[0]) - 1] if labels else None,
              "score": float(found["scores"][0]) if labels else 0.0, "target": task.class_names[target],
              "target_boxes": int(keep.sum()), "method": method, "layer": layer_name}  # fmt: skip
    images = {"cam": overlay(picture_of(task, tensor[0]), heat),
              "features": feature_map_figure(stage_outputs(network, tensor, network.backbone), options.channels)}
    return Explanation(result, images, heat)


@EXPLAINERS.register("text")
def explain_sentence(task: BaseTask, sentence: str, data_settings, options: ExplainOptions) -> Explanation:
    from cnnlab.explain.text_windows import windows_figure, winning_windows

    if options.method not in (None, "windows") or options.layer is not None:
        raise CnnlabError("text runs are explained by their max-pool windows: leave out --method and --layer")
    explained = winning_windows(task, sentence, options.target)
    return Explanation(explained.result(), {"cam": windows_figure(explained)})
