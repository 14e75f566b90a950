"""Augmentation throughput: cnnlab's albumentations training pipeline against the equivalent
torchvision.transforms.v2 pipeline on the same images, alternating, median of several repeats; prints images/s
and the ratio albumentations / torchvision (target >= 1.0). Writes outputs/bench/augment.json.
usage: python scripts/bench_augment.py [--images 256] [--size 256] [--crop 224] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from bench_common import machine, write_result
from torchvision.transforms import v2

from cnnlab.data.transforms import build_transforms

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def albumentations_pipeline(crop: int):
    augment = [
        {"HorizontalFlip": {"p": 0.5}},
        {"Affine": {"rotate": [-15, 15], "scale": [0.9, 1.1], "translate_percent": [-0.05, 0.05], "p": 1.0}},
        {"ColorJitter": {"brightness": 0.2, "contrast": 0.2, "saturation": 0.2, "hue": 0.0, "p": 1.0}},
    ]
    transform = build_transforms(augment=augment, normalize={"mean": MEAN, "std": STD}, image_size=None,
                                 train=True, seed=0, crop_size=crop)  # fmt: skip
    return lambda image: transform(image=image)["image"]


def torchvision_pipeline(crop: int):
    transform = v2.Compose([
        v2.ToImage(),
        v2.RandomHorizontalFlip(0.5),
        v2.RandomAffine(degrees=15, translate=(0.05, 0.05), scale=(0.9, 1.1)),
        v2.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2),
        v2.RandomCrop(crop, pad_if_needed=True),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(MEAN, STD),
    ])  # fmt: skip
    return transform


def images_per_second(pipeline, images: list[np.ndarray]) -> float:
    start = time.perf_counter()
    for image in images:
        pipeline(image)
    return len(images) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--crop", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)  # one DataLoader worker's view: transforms run per sample in a worker
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (args.size, args.size, 3), dtype=np.uint8) for _ in range(args.images)]
    ours, theirs = albumentations_pipeline(args.crop), torchvision_pipeline(args.crop)
    rates = {"albumentations": [], "torchvision_v2": []}
    for _ in range(args.repeats):
        rates["albumentations"].append(images_per_second(ours, images))
        rates["torchvision_v2"].append(images_per_second(theirs, images))
    medians = {name: statistics.median(values) for name, values in rates.items()}
    ratio = medians["albumentations"] / medians["torchvision_v2"]
    for name, value in medians.items():
        print(f"{name:>15}: {value:7.1f} images/s")
    print(f"ratio albumentations / torchvision.v2: {ratio:.2f} (target >= 1.0)")
    write_result("augment", {"machine": machine(), "args": vars(args), "images_per_s": medians, "ratio": ratio})


if __name__ == "__main__":
    main()
