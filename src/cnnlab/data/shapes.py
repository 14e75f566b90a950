"""data=shapes: a generated dataset of circles, rectangles and triangles on noisy backgrounds, in the masks format.

Deterministic from its settings (seed included), written once under `root/<settings hash>/` and reused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from cnnlab.data.cache import settings_key, write_atomically
from cnnlab.data.masks import CLASSES_FILE, MaskFolderData

SHAPE_CLASSES = ["background", "circle", "rectangle", "triangle"]


def generate_shapes(
    root: Path,
    *,
    splits: dict[str, int],
    image_size: int,
    max_shapes: int,
    min_radius: float,
    max_radius: float,
    noise: float,
    seed: int,
    overlap: bool = False,
) -> None:
    """Writes root/<split>/images/*.png, root/<split>/masks/*.png and root/classes.txt, atomically."""

    def fill(staging: Path) -> None:
        rng = np.random.default_rng(seed)
        for split, count in splits.items():
            (staging / split / "images").mkdir(parents=True)
            (staging / split / "masks").mkdir(parents=True)
            for i in range(count):
                image, mask, _ = draw_scene(rng, image_size, max_shapes, min_radius, max_radius, noise, overlap)
                Image.fromarray(image).save(staging / split / "images" / f"{i:05d}.png")
                Image.fromarray(mask).save(staging / split / "masks" / f"{i:05d}.png")
        (staging / CLASSES_FILE).write_text("\n".join(SHAPE_CLASSES) + "\n")

    write_atomically(root, fill)


def draw_scene(
    rng: np.random.Generator,
    size: int,
    max_shapes: int,
    min_radius: float,
    max_radius: float,
    noise: float,
    overlap: bool = False,
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, np.ndarray]]]:
    """One RGB image, its class-index mask, and its instances as (class, visible-pixel mask) pairs.

    With overlap, later shapes occlude earlier ones (a half-hidden square can look like a pentagon: harder, and
    ambiguous); without, each shape is placed clear of the others or left out after a few tries.
    """
    corners = rng.uniform(0, 255, (2, 3))
    ramp = np.linspace(0, 1, size)[None, :, None]
    background = corners[0] * (1 - ramp) + corners[1] * ramp
    image = Image.fromarray(np.broadcast_to(background, (size, size, 3)).astype(np.uint8))
    paint = ImageDraw.Draw(image)
    placed: list[tuple[float, float, float]] = []
    shapes: list[tuple[int, np.ndarray]] = []
    for _ in range(rng.integers(1, max_shapes + 1)):
        kind = int(rng.integers(1, len(SHAPE_CLASSES)))
        radius = rng.uniform(min_radius, max_radius) * size
        for _attempt in range(30):
            cx, cy = rng.uniform(radius, size - radius, 2)
            if overlap or all(np.hypot(cx - x, cy - y) > radius + r + 1 for x, y, r in placed):
                break
        else:
            continue
        placed.append((cx, cy, radius))
        colour = tuple(int(c) for c in rng.uniform(0, 255, 3))
        silhouette = Image.new("1", (size, size), 0)
        outline = ImageDraw.Draw(silhouette)
        if kind == 1:
            box = [cx - radius, cy - radius, cx + radius, cy + radius]
            paint.ellipse(box, fill=colour), outline.ellipse(box, fill=1)
        elif kind == 2:
            w, h = radius * rng.uniform(0.6, 1.0, 2)
            box = [cx - w, cy - h, cx + w, cy + h]
            paint.rectangle(box, fill=colour), outline.rectangle(box, fill=1)
        else:
            angles = rng.uniform(0, 2 * np.pi) + np.array([0, 2 * np.pi / 3, 4 * np.pi / 3])
            points = [(cx + radius * np.cos(a), cy + radius * np.sin(a)) for a in angles]
            paint.polygon(points, fill=colour), outline.polygon(points, fill=1)
        shapes.append((kind, np.asarray(silhouette, bool)))
    mask = np.zeros((size, size), np.uint8)
    instances: list[tuple[int, np.ndarray]] = []
    covered = np.zeros((size, size), bool)
    for kind, silhouette in reversed(shapes):  # the last drawn is on top
        visible = silhouette & ~covered
        covered |= silhouette
        mask[visible] = kind
        if visible.any():
            instances.append((kind, visible))
    pixels = np.asarray(image, np.float32) + rng.normal(0, noise, (size, size, 3))
    return np.clip(pixels, 0, 255).astype(np.uint8), mask, instances[::-1]


class ShapesData(MaskFolderData):
    def __init__(
        self,
        *,
        root: str = "outputs/datasets/shapes",
        num_train: int = 400,
        num_val: int = 64,
        num_test: int = 64,
        size: int = 64,
        max_shapes: int = 4,
        min_radius: float = 0.12,
        max_radius: float = 0.3,
        noise: float = 12.0,
        overlap: bool = False,
        generator_seed: int = 0,
        **common,
    ) -> None:
        self.generator_settings = {
            "splits": {"train": num_train, "val": num_val, "test": num_test},
            "image_size": size, "max_shapes": max_shapes, "min_radius": min_radius, "max_radius": max_radius,
            "noise": noise, "overlap": overlap, "seed": generator_seed,
        }  # fmt: skip
        super().__init__(root=str(Path(root) / settings_key(self.generator_settings)), **common)

    def describe(self) -> str:
        return f"shapes ({self.root})"

    def prepare_data(self) -> None:
        if not self.root.is_dir():
            generate_shapes(self.root, **self.generator_settings)

    def load_splits(self):
        self.prepare_data()
        return super().load_splits()
