"""SplitDataModule: train/val/test datasets behind seeded DataLoaders; subclasses say how the splits are made."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import pytorch_lightning as pl
import torch
from lightning_fabric.utilities.distributed import DistributedSamplerWrapper
from pytorch_lightning.accelerators import CUDAAccelerator
from pytorch_lightning.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader, Dataset, Sampler

from cnnlab.data.bad_samples import BadSamples, SkippingDataset
from cnnlab.data.epochs import EpochIndexed, EpochShuffle, EpochWeighted, SeededSamples, balancing_weights
from cnnlab.data.loader import AUTO, LoaderOptions
from cnnlab.data.transforms import seed_worker_transform
from cnnlab.errors import CnnlabError


@dataclass
class Splits:
    """Three datasets and the class names their targets index."""

    train: Dataset
    val: Dataset
    test: Dataset
    class_names: list[str]


LABELLED_TASKS = ("classification", "text")  # data with one class label per sample


class SplitDataModule(pl.LightningDataModule):
    task = ""  # the task whose targets this data provides; set by each family of DataModules
    collate_fn: Callable | None = None  # how samples become a batch; None: torch's default
    train_is_fixed = False  # True: training samples draw nothing at random per sample (no augmentation in the loader)

    def __init__(
        self,
        *,
        batch_size: int,
        num_workers: int | str = AUTO,
        pin_memory: bool | str = AUTO,
        persistent_workers: bool = True,
        on_bad_sample: str = "fail",
        sampler: Literal["random", "weighted"] = "random",
    ) -> None:
        """sampler: random (each epoch a seeded permutation) or weighted (each epoch's draws balanced over the
        classes of the training split, with replacement)."""
        super().__init__()
        if batch_size < 1:
            raise CnnlabError(f"data.batch_size={batch_size} must be at least 1")
        self.batch_size = batch_size
        self.loader_options = LoaderOptions(num_workers, pin_memory, persistent_workers)
        self.bad_samples = BadSamples(on_bad_sample)
        if sampler == "weighted" and self.task not in LABELLED_TASKS:
            raise CnnlabError(self._no_labels_message())
        self.sampler = sampler
        self.splits: Splits | None = None
        # Transforms are seeded from torch's seed, which seed_everything(cfg.seed) has set before data is built.
        self.seed = torch.initial_seed() % 2**32

    def labels_of_train(self) -> Sequence[int]:
        """The class index of every training sample (data with one label per sample), in the split's order."""
        if self.task not in LABELLED_TASKS:
            raise CnnlabError(self._no_labels_message())
        return [int(label) for label in self.splits.train.labels]

    def _no_labels_message(self) -> str:
        return (f"data.sampler=weighted balances classes of one label per sample; {self.task} data has none (its "
                "targets are many per image): use data.sampler=random")  # fmt: skip

    @abstractmethod
    def load_splits(self) -> Splits:
        """Reads the data and returns the three splits with their transforms attached."""

    def describe(self) -> str:
        return type(self).__name__

    def setup(self, stage: str | None = None) -> None:
        if self.splits is None:
            self.splits = self.load_splits()
            for split in ("train", "val", "test"):
                if len(getattr(self.splits, split)) == 0:
                    raise CnnlabError(
                        f"data={self.describe()}: the {split} split is empty; add data or change the split fractions"
                    )
            if len(self.splits.train) < self.batch_size:
                raise CnnlabError(
                    f"data.batch_size={self.batch_size} is larger than the train split of data={self.describe()} "
                    f"({len(self.splits.train)} samples); lower data.batch_size"
                )
            if self.bad_samples.policy == "skip":
                for split in ("train", "val", "test"):
                    setattr(self.splits, split, SkippingDataset(getattr(self.splits, split), self.bad_samples))

    def train_dataloader(self) -> DataLoader:
        # Shuffle and augmentations seeded per epoch and sample: resumed runs repeat uninterrupted ones.
        epoch = (lambda: self.trainer.current_epoch) if self.trainer is not None else (lambda: 0)
        sampler: Sampler = EpochShuffle(len(self.splits.train), self.seed, epoch)
        if self.sampler == "weighted":
            sampler = EpochWeighted(balancing_weights(self.labels_of_train()), self.seed, epoch)
        if shard := self._shard():  # each rank a share of the epoch's order (padded to equal shares)
            sampler = DistributedSamplerWrapper(sampler, num_replicas=shard[0], rank=shard[1], shuffle=False)
        # A last batch of one sample breaks batch norm ("Expected more than 1 value per channel"): drop it.
        single = len(sampler) % self.batch_size == 1
        train = self.splits.train
        samples = EpochIndexed(train) if self.train_is_fixed else SeededSamples(train, self.seed)
        return self._loader(samples, sampler=sampler, drop_last=single)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.splits.val, sampler=self._evaluation_sampler(self.splits.val))

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.splits.test, sampler=self._evaluation_sampler(self.splits.test))

    def _evaluation_sampler(self, dataset: Dataset) -> Sampler | None:
        """Under DDP, each sample on exactly one rank. Lightning's default sampler pads the split with repeated
        samples to equal shares, so DDP metrics were of a slightly different test set (43/272, not 42/270)."""
        if not (shard := self._shard()):
            return None
        return UnrepeatedDistributedSampler(dataset, num_replicas=shard[0], rank=shard[1], shuffle=False)

    def _shard(self) -> tuple[int, int] | None:
        """(world size, rank) when the attached Trainer runs several processes; the loaders split data themselves
        (Trainer(use_distributed_sampler=False))."""
        trainer = self.trainer
        if trainer is None or trainer.world_size <= 1:
            return None
        return trainer.world_size, trainer.global_rank

    def _loader(self, dataset: Dataset, sampler: Sampler | None = None, drop_last: bool = False) -> DataLoader:
        options = self.loader_options.resolve(**self._accelerator())
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=False,  # training order comes from the sampler (EpochShuffle)
            sampler=sampler,
            drop_last=drop_last,
            worker_init_fn=seed_worker_transform if options["num_workers"] > 0 else None,
            collate_fn=type(self).collate_fn,
            **options,
        )

    def _accelerator(self) -> dict:
        """Whether the attached Trainer trains on CUDA and on how many devices of this node (no Trainer: this
        machine's GPU, if any)."""
        trainer = self.trainer
        if trainer is None:
            return {"on_gpu": torch.cuda.is_available(), "devices": 1}
        return {"on_gpu": isinstance(trainer.accelerator, CUDAAccelerator), "devices": trainer.num_devices}
