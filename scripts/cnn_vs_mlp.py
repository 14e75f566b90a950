"""The primer's claim, measured: a CNN (local connections, shared weights) against fully connected networks of
similar and of equal parameter count, each trained by cnnlab under 3 seeds, on clean test images and on test images
translated by 1, 2, 3 pixels (right and down, the uncovered border filled with the background).

No augmentation for either (the digits default shifts training images, which would teach the MLP what the CNN's
structure gives it), the same epochs, optimizer and split. Writes outputs/bench/cnn_vs_mlp.json and
docs/cnn_vs_mlp.png.
usage: python scripts/cnn_vs_mlp.py [--data digits] [--image-size 16] [--seeds 42 43 44] [--epochs 30]
  --data fashion_mnist needs the dataset (torchvision downloads it once; offline it fails in one line).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import torch
from bench_common import compose_config, machine, scratch_store, write_result

from cnnlab.data import build_data
from cnnlab.dispatch import train
from cnnlab.models.mlp import mlp_parameters
from cnnlab.tasks import restore_task

SHIFTS = (0, 1, 2, 3)
PLOT = Path("docs/cnn_vs_mlp.png")


def equal_width(parameters: int, inputs: int, classes: int) -> int:
    """The one hidden layer width whose MLP has the parameter count nearest `parameters`."""
    width = (parameters - classes) / (inputs + 1 + classes)  # (inputs + 1)·w + (w + 1)·classes
    candidates = (math.floor(width), math.ceil(width))
    return min(candidates, key=lambda w: abs(mlp_parameters(inputs, [w], classes) - parameters))


def shifted(images: torch.Tensor, pixels: int) -> torch.Tensor:
    """Translated right and down by `pixels`; what moves in is the background (each image's smallest value)."""
    if pixels == 0:
        return images
    moved = images.amin(dim=(2, 3), keepdim=True).expand_as(images).clone()
    moved[:, :, pixels:, pixels:] = images[:, :, :-pixels, :-pixels]
    return moved


def shifted_accuracies(checkpoint: Path, config: dict) -> list[float]:
    task = restore_task("classification", checkpoint).eval()
    data = build_data(config["data"])
    data.setup()
    right, total = [0] * len(SHIFTS), 0
    with torch.no_grad():
        for images, labels in data.test_dataloader():
            for index, pixels in enumerate(SHIFTS):
                right[index] += int((task.predict_step(shifted(images, pixels), 0).argmax(1) == labels).sum())
            total += len(labels)
    return [r / total for r in right]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits")
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    common = [f"data={args.data}", f"data.image_size={args.image_size}", "data.batch_augment=[]",
              f"trainer.max_epochs={args.epochs}", "tracking.log_model=false", "tracking.explain_images=0",
              "tracking.system_metrics=false"]  # fmt: skip
    with scratch_store() as tmp:
        facts = build_data(compose_config(common, tmp)["data"]).facts()
        channels = 1 if args.data in ("digits", "mnist", "fashion_mnist") else 3
        inputs, classes = channels * args.image_size**2, facts["num_classes"]
        cnn = restore_parameters(common, tmp)
        width = equal_width(cnn, inputs, classes)
        models = {
            "simple_cnn": ["backbone=simple_cnn"],
            "mlp [256, 128]": ["backbone=mlp", "backbone.hidden=[256,128]"],
            f"mlp [{width}] (equal)": ["backbone=mlp", f"backbone.hidden=[{width}]"],
        }
        rows = {}
        for name, overrides in models.items():
            runs = []
            for seed in args.seeds:
                folder = tmp / f"{name.split()[0]}-{len(rows)}-{seed}"
                config = compose_config([*common, *overrides, f"seed={seed}"], folder)
                start = time.perf_counter()
                train(config_as_cfg(config))
                runs.append({"seed": seed, "accuracy": shifted_accuracies(folder / "checkpoints" / "best.ckpt", config),
                             "wall_s": time.perf_counter() - start})  # fmt: skip
            task = restore_task("classification", tmp / f"{name.split()[0]}-{len(rows)}-{args.seeds[0]}" /
                                "checkpoints" / "best.ckpt")  # fmt: skip
            parameters = sum(p.numel() for p in task.net.parameters())
            rows[name] = {"parameters": parameters, "runs": runs, **summary(runs)}
            shown = zip(SHIFTS, rows[name]["mean"], rows[name]["std"], strict=True)
            print(f"{name:<22} {parameters:>8,} params  " + "  ".join(f"{s}px {m:.4f}±{d:.4f}" for s, m, d in shown))
    plot(rows, args)
    write_result("cnn_vs_mlp", {"machine": machine(), "data": args.data, "image_size": args.image_size,
                                "epochs": args.epochs, "shifts_px": list(SHIFTS), "models": rows})  # fmt: skip


def restore_parameters(common: list[str], tmp: Path) -> int:
    """simple_cnn's parameter count on this data, from the network cnnlab builds for it."""
    from cnnlab.tasks import build_task

    config = compose_config([*common, "backbone=simple_cnn"], tmp / "count")
    data = build_data(config["data"])
    task = build_task(config["task"], backbone=config["backbone"], optimizer=config["optimizer"],
                      scheduler=config["scheduler"], data_facts=data.facts())  # fmt: skip
    return sum(p.numel() for p in task.net.parameters())


def config_as_cfg(config: dict):
    from omegaconf import OmegaConf

    return OmegaConf.create(config)


def summary(runs: list[dict]) -> dict:
    columns = list(zip(*(run["accuracy"] for run in runs), strict=True))
    return {"mean": [statistics.mean(c) for c in columns], "std": [statistics.stdev(c) for c in columns]}


def plot(rows: dict, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5.6, 3.6))
    for name, row in rows.items():
        axis.errorbar(SHIFTS, row["mean"], yerr=row["std"], marker="o", capsize=3,
                      label=f"{name}: {row['parameters']:,} params")  # fmt: skip
    axis.set_xticks(SHIFTS)
    axis.set_xlabel(f"test images translated by (px, of {args.image_size})")
    axis.set_ylabel("test accuracy")
    axis.set_title(f"CNN vs MLP on {args.data} ({len(args.seeds)} seeds, mean ± std)", fontsize=10)
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    PLOT.parent.mkdir(exist_ok=True)
    figure.savefig(PLOT, dpi=100)
    print(f"wrote {PLOT}")


if __name__ == "__main__":
    main()
