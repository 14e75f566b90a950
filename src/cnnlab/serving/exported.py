"""What an export holds, per task: the network wrapped with the evaluation pre-processing a graph can carry (8-bit
pixels to the data's normalised floats) and its final step (probabilities, class per pixel, boxes without the
background class), how the test split feeds it, the metric it is checked by, and a manifest of the rest (resizing,
padding, tokenising, class names) for whoever calls the file.

Image inputs are what `read_image` gives after the run's own evaluation resizing: uint8, (N, C, H, W) (detection:
one (C, H, W) image). The test split's batches are normalised by the DataModule; `pixels_of` turns them back into
those exact 8-bit pixels, so the exported graph is checked on what a user would feed it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, List  # noqa: UP035 (TorchScript reads typing's List)

import torch
from torch import Tensor, nn
from torch.export import Dim
from torchmetrics import Metric, MetricCollection

from cnnlab.data.segmentation import SIZE_MULTIPLE
from cnnlab.data.transforms import pixels_of
from cnnlab.registry import Registry
from cnnlab.tasks import BaseTask
from cnnlab.tasks.base import StepOutput

MAX_SIDE = 8192  # the largest image side an exported image graph accepts


class Normalized(nn.Module):
    """uint8 pixels -> (pixel / 255 - mean) / std per channel, as the data's evaluation transform computes it."""

    def __init__(self, normalize: dict[str, Sequence[float]]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(normalize["mean"], dtype=torch.float32).view(-1, 1, 1))
        self.register_buffer("std", torch.tensor(normalize["std"], dtype=torch.float32).view(-1, 1, 1))

    def forward(self, pixels: Tensor) -> Tensor:
        return (pixels.float() / 255.0 - self.mean) / self.std


class ClassProbabilities(nn.Module):
    """Images (uint8) or token ids -> class probabilities: softmax, or sigmoid for binary/multilabel heads."""

    def __init__(self, task: BaseTask, normalize: dict | None, sigmoid: bool) -> None:
        super().__init__()
        self.normalized = Normalized(normalize) if normalize else nn.Identity()
        self.net = task.net
        self.sigmoid = sigmoid

    def forward(self, inputs: Tensor) -> Tensor:
        logits = self.net(self.normalized(inputs))
        if self.sigmoid:
            return torch.sigmoid(logits)
        return logits.softmax(dim=-1)


class ClassMasks(nn.Module):
    """Images (uint8) -> the class index of every pixel, int64 (N, H, W)."""

    def __init__(self, task: BaseTask) -> None:
        super().__init__()
        self.normalized = Normalized(task.hparams.normalize)
        self.net = task.net
        self.binary = task.mode == "binary"

    def forward(self, images: Tensor) -> Tensor:
        logits = self.net(self.normalized(images))
        if self.binary:
            return (logits[:, 0] > 0).long()
        return logits.argmax(dim=1)


class Detections(nn.Module):
    """One image (uint8, (C, H, W)) -> boxes (K, 4: x0, y0, x1, y1 in pixels), scores (K), labels (K: 1..classes)
    and, for Mask R-CNN, masks (K, 1, H, W: probabilities). K may be 0. Written for TorchScript too (the scripted
    detector returns (losses, detections))."""

    __constants__ = ["with_masks"]  # TorchScript compiles only the branch this model takes

    def __init__(self, task: BaseTask) -> None:
        super().__init__()
        self.normalized = Normalized(task.hparams.normalize)
        self.detector = task.net
        self.with_masks = task.with_masks

    def forward(self, image: Tensor) -> List[Tensor]:  # noqa: UP006 (TorchScript reads typing's List)
        outputs = self.detector([self.normalized(image)])
        if isinstance(outputs, tuple):
            outputs = outputs[1]
        found = outputs[0]
        keep = found["labels"] > 0  # single-stage heads score the background like any class
        if self.with_masks:
            return [found["boxes"][keep], found["scores"][keep], found["labels"][keep], found["masks"][keep]]
        return [found["boxes"][keep], found["scores"][keep], found["labels"][keep]]


class ExportSpec:
    """How one task's network is exported and checked. Subclasses set the names and build the module."""

    input_names: tuple[str, ...] = ("images",)
    output_names: tuple[str, ...]
    checked_metrics: tuple[str, ...] | None = None  # metric keys compared between eager and exported (None: all)
    onnx_exporter = "dynamo"  # torch.onnx's exporter: dynamo (torch.export-based) or torchscript (dynamic_axes)
    unsupported: dict[str, str] = {}  # format -> why this task cannot be exported to it

    def __init__(self, task: BaseTask, data_settings: Mapping[str, Any]) -> None:
        self.task = task
        self.data_settings = data_settings
        self.module = self.build_module().eval()

    def build_module(self) -> nn.Module:
        raise NotImplementedError

    def scripting(self) -> AbstractContextManager:
        """What must hold while TorchScript compiles the module (nothing, unless a task says)."""
        return nullcontext()

    def example(self, batches: Iterable[Any]) -> tuple[Tensor, ...]:
        """Inputs the export is traced with: the first test batch's (two samples at least, for torch.export
        specialises a dimension it sees as 1)."""
        inputs = self.calls(next(iter(batches)))[0]
        return tuple(torch.cat([t, t]) if len(t) == 1 else t for t in inputs)

    def compared(self, metrics: Mapping[str, float]) -> list[str]:
        """The metric keys an export must match (all of the task's test metrics unless checked_metrics says)."""
        return [key for key in (self.checked_metrics or metrics) if key in metrics]

    def calls(self, batch: Any) -> list[tuple[Tensor, ...]]:
        """The exported model's inputs for one test batch: one call per batch, or per image (detection)."""
        return [(pixels_of(batch[0], self.task.hparams.normalize),)]

    def dynamic_shapes(self) -> tuple[dict[int, Any], ...]:
        """Per input: the dimensions that may vary between calls (torch.export's Dim)."""
        return ({0: Dim("batch", min=1)},)

    def metrics(self) -> Metric | MetricCollection:
        """A fresh copy of the task's test metrics, fed by `update`."""
        return self.task.stage_metrics("test").clone(prefix="")

    def update(self, metrics: Any, outputs: list[tuple[Tensor, ...]], batch: Any) -> None:
        (probabilities,) = outputs[0]
        metrics.update(probabilities, batch[1])

    def manifest(self) -> dict[str, Any]:
        """What a caller must do before the graph and what its outputs mean (the JSON beside the model file)."""
        raise NotImplementedError


def image_input(task: BaseTask, height: Any, width: Any, batched: bool = True) -> dict[str, Any]:
    channels = task.hparams.get("in_channels", 3)
    shape = ["batch", channels, height, width] if batched else [channels, height, width]
    return {"name": "images" if batched else "image", "dtype": "uint8", "shape": shape,
            "channels": "L (grayscale)" if channels == 1 else "RGB"}  # fmt: skip


READING = (
    "read the file as the channels say, 8 bits per channel: 16-bit pixels scaled by their range (value / 257), "
    "EXIF orientation applied, transparent pixels over white (cnnlab.data.datasets.read_image)"
)


def in_graph_normalization(task: BaseTask) -> str:
    normalize = task.hparams.normalize
    return f"(pixel / 255 - mean) / std per channel, mean {list(normalize['mean'])}, std {list(normalize['std'])}"


EXPORT_SPECS: Registry[type[ExportSpec]] = Registry("task")


@EXPORT_SPECS.register("classification")
class ClassificationExport(ExportSpec):
    output_names = ("probabilities",)

    def build_module(self) -> nn.Module:
        return ClassProbabilities(self.task, self.task.hparams.normalize, sigmoid=self.task.head != "multiclass")

    def update(self, metrics: Any, outputs: list[tuple[Tensor, ...]], batch: Any) -> None:
        (probabilities,) = outputs[0]
        labels = batch[1]
        if self.task.head == "multilabel":
            labels = self.task._bce_targets(labels, probabilities).int()
        metrics.update(probabilities.squeeze(1) if self.task.head == "binary" else probabilities, labels)

    def manifest(self) -> dict[str, Any]:
        height, width = self.task.hparams.image_size
        activation = "softmax" if self.task.head == "multiclass" else "sigmoid"
        return {
            "inputs": [image_input(self.task, height, width)],
            "before_the_graph": [READING, f"resize to {height}x{width} (height x width; bilinear, OpenCV's)",
                                 "channels first: (batch, channels, height, width)"],  # fmt: skip
            "in_the_graph": [in_graph_normalization(self.task), f"the network, then {activation}"],
            "outputs": [{"name": "probabilities", "dtype": "float32",
                         "shape": ["batch", 1 if self.task.head == "binary" else len(self.task.class_names)],
                         "meaning": f"{activation} of the logits; column i is class_names[i]"
                         + (" (binary: the probability of class_names[1])" if self.task.head == "binary" else "")}],
        }  # fmt: skip


@EXPORT_SPECS.register("text")
class TextExport(ExportSpec):
    input_names = ("token_ids",)
    output_names = ("probabilities",)

    def build_module(self) -> nn.Module:
        return ClassProbabilities(self.task, None, sigmoid=False)

    def calls(self, batch: Any) -> list[tuple[Tensor, ...]]:
        return [(batch[0],)]

    def dynamic_shapes(self) -> tuple[dict[int, Any], ...]:
        return ({0: Dim("batch", min=1), 1: Dim("length", min=1, max=100_000)},)

    def manifest(self) -> dict[str, Any]:
        hparams = self.task.hparams
        return {
            "inputs": [{"name": "token_ids", "dtype": "int64", "shape": ["batch", "length"]}],
            "before_the_graph": [
                f"tokenise each sentence with the tokenizer settings below ({dict(hparams.tokenizer)})",
                "map each token to its line number in vocabulary.txt (0-based; a token not there is 1, <unk>)",
                f"keep the first {hparams.max_length} tokens" if hparams.max_length else "keep every token",
                "right-pad the sentences of a batch with 0 (<pad>) to the longest; a sentence scores the same alone "
                "or in any batch",
            ],
            "in_the_graph": ["the network, then softmax"],
            "outputs": [{"name": "probabilities", "dtype": "float32", "shape": ["batch", len(self.task.class_names)],
                         "meaning": "column i is class_names[i]"}],  # fmt: skip
            "tokenizer": {**hparams.tokenizer, "max_length": hparams.max_length, "vocabulary": "vocabulary.txt"},
        }


@EXPORT_SPECS.register("segmentation")
class SegmentationExport(ExportSpec):
    output_names = ("masks",)

    def build_module(self) -> nn.Module:
        return ClassMasks(self.task)

    def dynamic_shapes(self) -> tuple[dict[int, Any], ...]:
        # smp encoders halve the size five times: a side must be a multiple of 32, the rest is free
        steps = MAX_SIDE // SIZE_MULTIPLE
        height, width = Dim("height_steps", min=1, max=steps), Dim("width_steps", min=1, max=steps)
        return ({0: Dim("batch", min=1), 2: SIZE_MULTIPLE * height, 3: SIZE_MULTIPLE * width},)

    def update(self, metrics: Any, outputs: list[tuple[Tensor, ...]], batch: Any) -> None:
        (masks,) = outputs[0]
        metrics.update(masks, batch[1])

    def manifest(self) -> dict[str, Any]:
        size = self.data_settings.get("image_size")
        resize = [f"resize to {size}x{size}"] if size else []
        return {
            "inputs": [image_input(self.task, f"height (a multiple of {SIZE_MULTIPLE})",
                                   f"width (a multiple of {SIZE_MULTIPLE})")],  # fmt: skip
            "before_the_graph": [READING, *resize, f"pad bottom and right with 0 to a multiple of {SIZE_MULTIPLE}",
                                 "channels first: (batch, channels, height, width)"],  # fmt: skip
            "in_the_graph": [in_graph_normalization(self.task), "the network, then the class of every pixel"],
            "outputs": [{"name": "masks", "dtype": "int64", "shape": ["batch", "height", "width"],
                         "meaning": "class index per pixel (class_names[i]); crop off the padding"}],  # fmt: skip
        }


@EXPORT_SPECS.register("detection")
class DetectionExport(ExportSpec):
    input_names = ("image",)
    # torch.onnx's TorchScript-based exporter: the torch.export-based one cannot trace torchvision's detectors
    # (their number of boxes depends on the data); this one is torchvision's own tested path to ONNX.
    onnx_exporter = "torchscript"
    unsupported = {"pt2": "torch.export cannot trace torchvision's detectors (how many boxes survive depends on "
                          "the image, and their code branches on it); export detection as onnx or torchscript"}

    @property
    def output_names(self) -> tuple[str, ...]:
        return ("boxes", "scores", "labels", "masks") if self.task.with_masks else ("boxes", "scores", "labels")

    @property
    def checked_metrics(self) -> tuple[str, ...]:
        names = ("map", "map_50", "map_75", "mar_100")
        return tuple(f"{kind}_{name}" for kind in ("bbox", "segm") for name in names) + names

    def build_module(self) -> nn.Module:
        return Detections(self.task)

    def scripting(self) -> AbstractContextManager:
        from cnnlab.serving.torchvision_script import eager_resize_scale

        return eager_resize_scale()

    def calls(self, batch: Any) -> list[tuple[Tensor, ...]]:
        return [(pixels_of(image, self.task.hparams.normalize),) for image in batch[0]]

    def example(self, batches: Iterable[Any]) -> tuple[Tensor, ...]:
        return self.calls(next(iter(batches)))[0]

    def dynamic_shapes(self) -> tuple[dict[int, Any], ...]:
        return ({1: Dim("height", min=2, max=MAX_SIDE), 2: Dim("width", min=2, max=MAX_SIDE)},)

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        """The same for the TorchScript-based ONNX exporter, which names dimensions instead."""
        axes = {"image": {1: "height", 2: "width"}, **{name: {0: "detections"} for name in self.output_names}}
        if self.task.with_masks:
            axes["masks"] = {0: "detections", 2: "height", 3: "width"}
        return axes

    def metrics(self) -> Metric:
        metric = self.task.test_map.clone()
        metric.reset()
        return metric

    def update(self, metrics: Any, outputs: list[tuple[Tensor, ...]], batch: Any) -> None:
        keys = ("boxes", "scores", "labels", "masks")
        predictions = [dict(zip(keys, found, strict=False)) for found in outputs]
        self.task.update_map(metrics, StepOutput(None, predictions, batch[1], len(predictions)))

    def manifest(self) -> dict[str, Any]:
        size = self.data_settings.get("image_size")
        resize = [f"scale so that the longer side is {size} pixels (OpenCV, bilinear)"] if size else []
        outputs = [
            {"name": "boxes", "dtype": "float32", "shape": ["detections", 4], "meaning": "x0, y0, x1, y1 in pixels"},
            {"name": "scores", "dtype": "float32", "shape": ["detections"]},
            {"name": "labels", "dtype": "int64", "shape": ["detections"],
             "meaning": "1..classes: label k is class_names[k - 1] (0, the background, is never returned)"},
        ]  # fmt: skip
        if self.task.with_masks:
            outputs.append({"name": "masks", "dtype": "float32", "shape": ["detections", 1, "height", "width"],
                            "meaning": "per-pixel probability of each detection's instance; > 0.5 is the mask"})
        return {
            "inputs": [image_input(self.task, "height", "width", batched=False)],
            "before_the_graph": [READING, *resize, "channels first: (channels, height, width), one image per call"],
            "in_the_graph": [in_graph_normalization(self.task),
                             f"the detector ({self.task.hparams.arch}: resizes inside to "
                             f"{self.task.hparams.min_size}-{self.task.hparams.max_size} px and back), "
                             f"score threshold {self.task.hparams.score_thresh}, background dropped"],
            "outputs": outputs,
        }  # fmt: skip
