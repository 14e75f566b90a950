"""data=masks: images/ and masks/ folders (same file stem), or train/ val/ test/ sub-roots that each hold them."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path

from torchvision.datasets.folder import IMG_EXTENSIONS

from cnnlab.data.base import Splits
from cnnlab.data.segmentation import SegmentationData, SegmentationDataset, read_pair
from cnnlab.data.splits import split_indices
from cnnlab.errors import CnnlabError

CLASSES_FILE = "classes.txt"  # optional, one class name per line, index order


class MaskFolderData(SegmentationData):
    def __init__(
        self,
        *,
        root: str,
        class_names: Sequence[str] | None = None,
        palette: Sequence[Sequence[int]] | None = None,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        split_seed: int = 0,
        **common,
    ) -> None:
        super().__init__(**common)
        self.root = Path(root)
        self.class_names = list(class_names) if class_names else None
        self.palette = palette
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.split_seed = split_seed

    def describe(self) -> str:
        return f"masks ({self.root})"

    def load_splits(self) -> Splits:
        if not self.root.is_dir():
            raise CnnlabError(f"data.root={self.root} is not a folder; it should hold images/ and masks/")
        names = self._class_names()
        if (self.root / "train").is_dir():
            present = [split for split in ("train", "val", "test") if (self.root / split).is_dir()]
            pairs = {split: _pairs(self.root / split) for split in present}
        else:
            pairs = {"train": _pairs(self.root)}
        if "test" not in pairs:
            pairs["train"], pairs["test"] = _split(pairs["train"], self.test_fraction, self.split_seed)
        if "val" not in pairs:
            fraction = self.val_fraction / max(1e-9, 1 - (self.test_fraction if "test" not in pairs else 0))
            pairs["train"], pairs["val"] = _split(pairs["train"], min(fraction, 0.9), self.split_seed)
        load = partial(read_pair, mode={3: "RGB", 1: "L"}[self.channels], palette=self.palette)
        make = lambda split, tf: SegmentationDataset(pairs[split], load, tf, len(names), self.ignore_index)  # noqa: E731
        return Splits(
            train=make("train", self.train_transform),
            val=make("val", self.eval_transform),
            test=make("test", self.eval_transform),
            class_names=names,
        )

    def _class_names(self) -> list[str]:
        if self.class_names:
            return self.class_names
        listed = self.root / CLASSES_FILE
        if listed.is_file():
            return [line.strip() for line in listed.read_text().splitlines() if line.strip()]
        raise CnnlabError(
            f"data.class_names is not set and {listed} does not exist; list the classes in index order in either"
        )


def _pairs(folder: Path) -> list[tuple[Path, Path]]:
    images, masks = folder / "images", folder / "masks"
    if not images.is_dir() or not masks.is_dir():
        raise CnnlabError(f"{folder} needs images/ and masks/ sub-folders (a mask per image, same file stem)")
    pairs = []
    for image in sorted(p for p in images.iterdir() if p.suffix.lower() in IMG_EXTENSIONS):
        mask = masks / f"{image.stem}.png"
        if not mask.is_file():
            raise CnnlabError(f"{mask}: missing mask for image {image}; every image needs a PNG mask with its stem")
        pairs.append((image, mask))
    return pairs


def _split(pairs: list, fraction: float, seed: int) -> tuple[list, list]:
    kept, held = split_indices([0] * len(pairs), fraction, seed)
    return [pairs[i] for i in kept], [pairs[i] for i in held]
