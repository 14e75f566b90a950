"""The backbone registry: one entry per name a user can give as `backbone=`, built for the task that asks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.models.layers import ResizeInput
from cnnlab.registry import Registry, check_settings

# Settings every backbone config carries; the rest are the builder's own keyword arguments.
COMMON_SETTINGS = ("name", "pretrained", "weights_path")


@dataclass(frozen=True)
class Backbone:
    """What one backbone name can become, per task.

    builders: task name -> what serves it:
        "classification": builds an image classifier, called with keyword arguments in_channels, num_classes,
            image_size and the backbone's own settings (plus pretrained/weights_path when `weights` is set);
        "segmentation": the segmentation_models_pytorch encoder name, or a function of the backbone settings
            (for passthroughs);
        "detection": the torchvision classifier whose trunk becomes a detector's feature pyramid;
        "text": builds a sentence classifier, called with keyword arguments vocabulary, num_classes and the
            backbone's own settings (the model keeps Kim's max-norm in `constrain_norms()`).
    min_size: smallest input side the classifier accepts; smaller images are upsampled to it in the model.
    weights: where pretrained weights come from ("torchvision", "timm"), None when there are none.
    check: called with the backbone's settings before a run starts, for what a signature cannot say.
    """

    builders: Mapping[str, Any]
    min_size: int = 1
    weights: str | None = None
    check: Callable[[Mapping[str, Any]], None] | None = None

    def builder(self, task: str) -> Any:
        """What serves `task`, None if nothing."""
        return self.builders.get(task)


# What each task fills in itself when it calls a backbone's builder.
PROVIDED = {"classification": ("in_channels", "num_classes", "image_size"), "text": ("vocabulary", "num_classes")}


BACKBONES: Registry[Backbone] = Registry("backbone")


def backbones_for(task: str) -> list[str]:
    """Names that can serve `task`, for listings and error messages."""
    return [name for name in BACKBONES if BACKBONES.get(name).builder(task) is not None]


def build_classifier(
    settings: Mapping[str, Any], *, in_channels: int, num_classes: int, image_size: tuple[int, int]
) -> nn.Module:
    """Builds the classifier named by settings["name"] for inputs of `in_channels` x `image_size`."""
    name = settings["name"]
    entry = require_backbone(name, "classification")
    options = backbone_options(settings, entry, "classification")
    model = entry.builder("classification")(in_channels=in_channels, num_classes=num_classes, image_size=image_size,
                                            **options)  # fmt: skip
    if min(image_size) < entry.min_size:
        target = (max(image_size[0], entry.min_size), max(image_size[1], entry.min_size))
        model = nn.Sequential(ResizeInput(target), model)
    return model


def build_text_classifier(settings: Mapping[str, Any], *, vocabulary: list[str], num_classes: int) -> nn.Module:
    """Builds the sentence classifier named by settings["name"] over `vocabulary` (index = token id)."""
    entry = require_backbone(settings["name"], "text")
    options = backbone_options(settings, entry, "text")
    return entry.builder("text")(vocabulary=vocabulary, num_classes=num_classes, **options)


def require_backbone(name: str, task: str) -> Backbone:
    """The entry for `name`, or a one-line error if it is unknown or cannot serve `task`."""
    entry = BACKBONES.get(name)
    if entry.builder(task) is None:
        raise CnnlabError(
            f"backbone={name} cannot serve task={task}; valid backbones for {task}: {', '.join(backbones_for(task))}"
        )
    return entry


def check_backbone(settings: Mapping[str, Any], task: str) -> None:
    """Fails in one line if the backbone is unknown, cannot serve `task`, or has settings its builder lacks."""
    entry = require_backbone(settings["name"], task)
    if entry.check is not None:
        entry.check(settings)
    if task in PROVIDED:
        backbone_options(settings, entry, task)
    elif settings.get("pretrained") and entry.weights is None:
        raise CnnlabError(f"backbone={settings['name']} has no pretrained weights; set backbone.pretrained=false")


def backbone_options(settings: Mapping[str, Any], entry: Backbone, task: str) -> dict[str, Any]:
    """The builder's keyword arguments from a backbone config, checked against its signature."""
    name = settings["name"]
    options = {k: v for k, v in settings.items() if k not in COMMON_SETTINGS}
    if entry.weights is None:
        if settings.get("pretrained"):
            raise CnnlabError(f"backbone={name} has no pretrained weights; set backbone.pretrained=false")
    else:
        options["pretrained"] = bool(settings.get("pretrained", False))
        options["weights_path"] = settings.get("weights_path")
    return check_settings(entry.builder(task), {"name": name, **options}, "backbone", PROVIDED[task])
