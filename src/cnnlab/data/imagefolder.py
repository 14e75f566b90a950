"""data=imagefolder: a folder of class sub-folders (root/<class>/<image>), or train/ val/ test/ sub-roots holding
them. The classes are train/'s; every split labels its images by class name."""

from __future__ import annotations

import logging
from itertools import islice
from pathlib import Path
from typing import Literal

from cnnlab.data.base import Splits
from cnnlab.data.datasets import ImageFileDataset, warn_of_odd_images
from cnnlab.data.files import FileLister, shown
from cnnlab.data.image_classification import ImageClassificationData
from cnnlab.data.splits import plan_splits, sub_roots
from cnnlab.errors import CnnlabError
from cnnlab.setting_types import Fraction, NonNegativeInt

log = logging.getLogger(__name__)
Sample = tuple[Path, int]


class ImageFolderData(ImageClassificationData):
    def __init__(
        self,
        *,
        root: str,
        channels: Literal[1, 3] = 3,
        val_fraction: Fraction = 0.1,
        test_fraction: Fraction = 0.1,
        test_from: Literal["train", "val"] = "train",
        split_seed: NonNegativeInt = 0,
        **common,
    ) -> None:
        super().__init__(**common)
        if common.get("image_size") is None:
            raise CnnlabError("data.image_size must be set for data=imagefolder (its images may differ in size)")
        self.root = Path(root)
        self.channels = channels
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.test_from = test_from
        self.split_seed = split_seed

    def describe(self) -> str:
        return f"imagefolder ({self.root})"

    def load_splits(self) -> Splits:
        if not self.root.is_dir():
            raise CnnlabError(f"data.root={self.root} is not a folder; point it at a folder of class sub-folders")
        lister = FileLister()
        roots = sub_roots(self.root, lister) or {"train": self.root}
        class_names = [folder.name for folder in lister.folders(roots["train"])]
        if not class_names:
            where = roots["train"]
            raise CnnlabError(f"data.root: {where} has no class sub-folders; lay images out as {where}/<class>/<image>")
        _check_classes_known(roots, lister, class_names)
        listed = _list_samples(roots, lister, {name: i for i, name in enumerate(class_names)})
        _check_no_empty_class(roots["train"], listed["train"], class_names)
        train, val, test = plan_splits(
            listed, lambda items: [label for _, label in items], val_fraction=self.val_fraction,
            test_fraction=self.test_fraction, test_from=self.test_from, seed=self.split_seed, noun="images",
        )  # fmt: skip
        for line in lister.warnings("data.root"):
            log.warning(line)
        warn_of_odd_images([path for items in (train, val, test) for path, _ in items], "data.root")
        make = lambda items, tf: ImageFileDataset(  # noqa: E731
            [p for p, _ in items], [label for _, label in items], tf, self.channels
        )
        return Splits(
            train=make(train, self.train_transform),
            val=make(val, self.eval_transform),
            test=make(test, self.eval_transform),
            class_names=class_names,
        )


def _check_classes_known(roots: dict[str, Path], lister: FileLister, class_names: list[str]) -> None:
    """A class only val/ or test/ has would never be learnt, and its images would vanish from the scores."""
    unknown = [folder for split in ("val", "test") if split in roots for folder in lister.folders(roots[split])
               if folder.name not in class_names]  # fmt: skip
    if unknown:
        raise CnnlabError(
            f"data.root: {shown(unknown)}: class folder(s) that {roots['train']} lacks; add training images for "
            "them under train/<class>/, or remove them"
        )


def _list_samples(roots: dict[str, Path], lister: FileLister, class_to_idx: dict[str, int]) -> dict[str, list[Sample]]:
    """The (image, label) samples of each sub-root; one real image under two classes is a one-line error."""
    listed: dict[str, list[Sample]] = {}
    label_of: dict[Path, int] = {}
    for split, root in roots.items():
        listed[split] = []
        for folder in lister.folders(root):
            label = class_to_idx[folder.name]
            repeats_before = len(lister.first_of)
            found = lister.files(folder)
            label_of.update(dict.fromkeys(found, label))
            for path, first in islice(lister.first_of.items(), repeats_before, None):
                if label_of[first] != label:
                    raise CnnlabError(
                        f"{path} is the same file as {first} (through a link) but in another class; an image has one "
                        "class: remove one of the two"
                    )
            listed[split] += [(path, label) for path in found]
    return listed


def _check_no_empty_class(root: Path, samples: list[Sample], class_names: list[str]) -> None:
    labels = {label for _, label in samples}
    empty = [str(root / name) for i, name in enumerate(class_names) if i not in labels]
    if empty:
        raise CnnlabError(
            f"data.root: class folder(s) {shown(empty)} are empty (no images); add images or remove the folder(s)"
        )
