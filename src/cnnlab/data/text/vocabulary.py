"""The vocabulary: token <-> index, built from the training split only, with <pad> = 0 and <unk> = 1."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch

PAD = "<pad>"
UNK = "<unk>"


class Vocabulary:
    def __init__(self, tokens: Sequence[str]) -> None:
        if list(tokens[:2]) != [PAD, UNK]:
            raise ValueError(f"a vocabulary starts with {PAD}, {UNK}; got {list(tokens[:2])}")
        self.tokens = list(tokens)
        self.index = {token: i for i, token in enumerate(self.tokens)}

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], *, min_freq: int = 1, max_size: int | None = None) -> Vocabulary:
        """Tokens seen at least `min_freq` times, most frequent first (ties alphabetical), at most `max_size`."""
        counts = Counter(token for sentence in sentences for token in sentence)
        ranked = sorted((t for t, n in counts.items() if n >= min_freq), key=lambda t: (-counts[t], t))
        return cls([PAD, UNK, *ranked[:max_size]])

    @property
    def pad_index(self) -> int:
        return 0

    @property
    def unk_index(self) -> int:
        return 1

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: Sequence[str], max_length: int | None = None) -> torch.Tensor:
        """Token ids, unknown tokens as <unk>, cut to `max_length`; padding is the collate function's job."""
        ids = [self.index.get(token, self.unk_index) for token in tokens[:max_length]]
        return torch.tensor(ids or [self.pad_index], dtype=torch.long)

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.tokens[i] for i in ids if i != self.pad_index]

    def save(self, path: str | Path) -> None:
        Path(path).write_text("\n".join(self.tokens) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        return cls(Path(path).read_text(encoding="utf-8").splitlines())


def pad_batch(sequences: Sequence[torch.Tensor], pad_index: int = 0) -> torch.Tensor:
    """(batch, longest) ids, right-padded."""
    return torch.nn.utils.rnn.pad_sequence(list(sequences), batch_first=True, padding_value=pad_index)
