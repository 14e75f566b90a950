"""albumentations pipelines from config: `augment` is a list of {TransformName: {kwargs}}."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import albumentations as A
import torch
from albumentations.pytorch import ToTensorV2

from cnnlab.errors import CnnlabError
from cnnlab.registry import check_value
from cnnlab.setting_types import Probability


def build_transforms(
    *,
    augment: Sequence[Mapping[str, Any]] | None,
    normalize: Mapping[str, Sequence[float]],
    image_size: int | None,
    train: bool,
    seed: int | None = None,
    crop_size: int | None = None,
    size_multiple: int | None = None,
    mask_fill: int = 0,
) -> A.Compose:
    """Resize, (train only: augmentations, random crop), pad to a size multiple, normalise, to tensor.

    Spatial steps move a `mask` passed with the image along with it; padded mask pixels get `mask_fill`
    (the ignore index), so padding never counts as background.
    """
    steps: list[A.BasicTransform] = []
    if image_size:
        steps.append(A.Resize(image_size, image_size))
    if train:
        steps += [augmentation(item) for item in augment or ()]
        if crop_size:
            steps.append(A.RandomCrop(crop_size, crop_size, pad_if_needed=True, fill_mask=mask_fill))
    if size_multiple:
        steps.append(
            A.PadIfNeeded(
                min_height=None, min_width=None, pad_height_divisor=size_multiple, pad_width_divisor=size_multiple,
                position="top_left", fill_mask=mask_fill,
            )
        )  # fmt: skip
    steps.append(normalization(normalize))
    steps.append(ToTensorV2())
    # albumentations draws from its own generator, untouched by seed_everything: seed it explicitly.
    return A.Compose(steps, seed=seed)


def build_detection_transforms(
    *,
    augment: Sequence[Mapping[str, Any]] | None,
    normalize: Mapping[str, Sequence[float]],
    image_size: int | None,
    train: bool,
    seed: int | None = None,
) -> A.Compose:
    """Like build_transforms, with boxes (pascal_voc x0,y0,x1,y1) moved along and label/instance lists kept in step.

    Boxes pushed partly out of the image are clipped to it; a box left with under 30 % of its area is dropped.
    """
    steps: list[A.BasicTransform] = []
    if image_size:
        steps.append(A.LongestMaxSize(max_size=image_size))
    if train:
        steps += [augmentation(item) for item in augment or ()]
    moves_pixels = any(isinstance(step, A.DualTransform) for step in steps)
    steps.append(normalization(normalize))
    steps.append(ToTensorV2())
    if not moves_pixels:  # boxes pass through unchanged (albumentations warns of box settings with nothing to apply)
        return A.Compose(steps, seed=seed)
    boxes = A.BboxParams(format="pascal_voc", label_fields=["labels", "instance"], min_visibility=0.3, clip=True)
    return A.Compose(steps, bbox_params=boxes, seed=seed)


def normalization(normalize: Mapping[str, Sequence[float]]) -> A.Normalize:
    """(pixel / 255 - mean) / std per channel; a std of 0 would make every pixel infinite."""
    if any(not std > 0 for std in normalize["std"]):
        raise CnnlabError(f"data.normalize.std={list(normalize['std'])}: every std must be above 0")
    return A.Normalize(mean=list(normalize["mean"]), std=list(normalize["std"]), max_pixel_value=255.0)


def pixels_of(images: torch.Tensor, normalize: Mapping[str, Sequence[float]]) -> torch.Tensor:
    """The uint8 pixels (N, C, H, W) a batch was normalised from: exact, for the evaluation pipeline resizes and
    pads 8-bit images before `normalization`, and inverting it in float32 lands within 1e-3 of those integers."""
    mean = torch.tensor(normalize["mean"], dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor(normalize["std"], dtype=torch.float32).view(-1, 1, 1)
    return ((images.float() * std + mean) * 255.0).round().clamp(0, 255).to(torch.uint8)


def seed_worker_transform(worker_id: int) -> None:
    """DataLoader worker_init_fn: Lightning's per-worker seeding plus a distinct seed for the worker's transform.

    Each worker holds a copy of the dataset's Compose; without this they would all draw the same augmentations.
    """
    from lightning_fabric.utilities.seed import pl_worker_init_function
    from torch.utils.data import get_worker_info

    pl_worker_init_function(worker_id)
    info = get_worker_info()
    transform = getattr(info.dataset, "transform", None)
    if isinstance(transform, A.Compose):
        transform.set_random_seed(info.seed % 2**32)


def transform_entry(item: Mapping[str, Any], setting: str) -> tuple[str, Mapping[str, Any]]:
    """(name, keyword arguments) of one entry of a transform list such as {"HorizontalFlip": {"p": 0.5}}."""
    if len(item) != 1:
        raise CnnlabError(f"{setting} entries take one transform each, as {{Name: {{kwargs}}}}; got {dict(item)}")
    ((name, kwargs),) = item.items()
    return name, kwargs or {}


def augmentation(item: Mapping[str, Any]) -> A.BasicTransform:
    """One albumentations transform from a one-key mapping such as {"HorizontalFlip": {"p": 0.5}}."""
    name, kwargs = transform_entry(item, "data.augment")
    cls = getattr(A, name, None)
    if not (isinstance(cls, type) and issubclass(cls, A.BasicTransform)):
        raise CnnlabError(f"data.augment: '{name}' is not an albumentations transform (see albumentations.ai/docs)")
    try:
        # albumentations only warns about unknown arguments; a typo in config should not pass silently.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            transform = cls(**kwargs)
    except (TypeError, ValueError) as err:
        detail = " ".join(str(err).split())[:300]  # pydantic's summary line alone does not say which value
        raise CnnlabError(f"data.augment: bad settings for {name}: {detail}") from err
    for warning in caught:
        if "not valid for transform" in str(warning.message):
            raise CnnlabError(f"data.augment: bad settings for {name}: {warning.message}")
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return transform


def build_batch_augmentation(items: Sequence[Mapping[str, Any]] | None) -> Any:
    """kornia augmentations applied to whole training batches, e.g. [{"RandomAffine": {"degrees": 10}}]; None
    when there are none. Each image of a batch draws its own parameters, in one vectorised call: for small images
    in memory, far cheaper than one albumentations pipeline per sample."""
    if not items:
        return None
    import kornia.augmentation as K  # only runs that augment batches pay for kornia
    from torch import nn

    steps = []
    for item in items:
        name, kwargs = transform_entry(item, "data.batch_augment")
        cls = getattr(K, name, None)
        if not (isinstance(cls, type) and issubclass(cls, K.AugmentationBase2D)):
            raise CnnlabError(f"data.batch_augment: '{name}' is not a kornia.augmentation transform")
        for key in ("p", "p_batch"):  # kornia takes any number as a probability
            if key in kwargs:
                check_value(f"data.batch_augment.{name}.{key}", kwargs[key], Probability)
        try:
            step = cls(**kwargs)
            # kornia checks some settings (translate, padding_mode) only on its first batch: one made-up batch
            # now, on a forked generator, so that a bad setting fails before the run
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                step(torch.rand(2, 3, 16, 16))
        except Exception as err:  # kornia raises its own error types besides the built-in ones
            detail = " ".join(str(err).split())[:300]
            raise CnnlabError(f"data.batch_augment: bad settings for {name}: {detail}") from err
        steps.append(step)
    return nn.Sequential(*steps)
