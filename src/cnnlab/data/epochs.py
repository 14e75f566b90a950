"""Training randomness as a function of (seed, epoch, sample): the shuffle order of each epoch and each sample's
augmentation depend on nothing that ran before, so a run resumed at an epoch boundary trains exactly as an
uninterrupted one, whichever process (main or DataLoader worker) draws them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence

import torch
from albumentations.core.composition import BaseCompose
from torch.utils.data import Dataset, Sampler

MIX = 0x9E3779B1  # mixes seed, epoch and index into well-separated 32-bit seeds


def mixed_seed(*parts: int) -> int:
    seed = 0
    for part in parts:
        seed = (seed * MIX + part + 1) % 2**32
    return seed


class EpochShuffle(Sampler):
    """A permutation per epoch, seeded by (seed, epoch); yields (epoch, index) so samples can seed themselves.

    The epoch is read when iteration starts (Lightning may create the iterator before its epoch hooks run).
    """

    def __init__(self, size: int, seed: int, current_epoch: Callable[[], int]) -> None:
        self.size = size
        self.seed = seed
        self.current_epoch = current_epoch

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = self.current_epoch()
        order = torch.randperm(self.size, generator=torch.Generator().manual_seed(mixed_seed(self.seed, epoch)))
        return iter([(epoch, index) for index in order.tolist()])


class EpochWeighted(EpochShuffle):
    """Per epoch, as many draws (with replacement) as there are samples, each sample drawn with probability
    proportional to its weight, seeded by (seed, epoch) (torch's WeightedRandomSampler, reproducible per epoch);
    yields (epoch, index) as EpochShuffle does."""

    def __init__(self, weights: Sequence[float], seed: int, current_epoch: Callable[[], int]) -> None:
        super().__init__(len(weights), seed, current_epoch)
        self.weights = torch.as_tensor(weights, dtype=torch.double)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = self.current_epoch()
        generator = torch.Generator().manual_seed(mixed_seed(self.seed, epoch))
        order = torch.multinomial(self.weights, self.size, replacement=True, generator=generator)
        return iter([(epoch, index) for index in order.tolist()])


def balancing_weights(labels: Sequence[int]) -> list[float]:
    """Each sample's weight 1 / (its class's count): every class drawn equally often on average."""
    counts = Counter(int(label) for label in labels)
    return [1.0 / counts[int(label)] for label in labels]


def epoch_and_index(key: tuple[int, int] | int) -> tuple[int, int]:
    """The (epoch, index) key EpochShuffle yields, or a plain index from a sampler Lightning put in its place
    (trainer.overfit_batches, which reads the same first batches every epoch): epoch 0 then."""
    return (0, int(key)) if not isinstance(key, tuple) else key


class SeededSamples(Dataset):
    """Seeds the wrapped dataset's transform from (seed, epoch, index) before reading a sample EpochShuffle names."""

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset = dataset
        self.seed = seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int] | int):
        epoch, index = epoch_and_index(key)
        transform = getattr(self.dataset, "transform", None)
        if isinstance(transform, BaseCompose):  # albumentations draws from its own generator
            transform.set_random_seed(mixed_seed(self.seed, epoch, index))
        return self.dataset[index]


class EpochIndexed(Dataset):
    """The wrapped dataset read by the keys EpochShuffle names, for samples that draw nothing at random (their
    transform is fixed): no seed to set per sample."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int] | int):
        return self.dataset[epoch_and_index(key)[1]]
