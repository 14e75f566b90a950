"""Kim (2014)'s CNN for sentence classification: embeddings -> parallel 1-D convolutions of several widths
-> ReLU -> max over time -> dropout -> linear. Four embedding variants:

rand: random init, trained. static: pretrained vectors, frozen. non-static: pretrained, fine-tuned.
multichannel: a frozen and a tuned copy of the pretrained vectors; each filter spans both channels and sums them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnlab.errors import CnnlabError, pick
from cnnlab.models.word_vectors import load_vectors, uniform_init
from cnnlab.setting_types import NonEmpty, PositiveFloat, PositiveInt, Probability

log = logging.getLogger(__name__)

MODES = {"rand": False, "static": True, "non-static": True, "multichannel": True}  # mode -> needs vectors


class TextCNN(nn.Module):
    def __init__(
        self,
        *,
        vocab_size: int,
        num_classes: int,
        embedding_dim: int = 300,
        windows: Sequence[int] = (3, 4, 5),
        maps: int = 100,
        dropout: float = 0.5,
        max_norm: float | None = 3.0,
        mode: str = "rand",
        vectors: Tensor | None = None,
        pad_index: int = 0,
    ) -> None:
        super().__init__()
        pick("backbone.mode", mode, MODES)
        self.mode = mode
        self.pad_index = pad_index
        self.max_norm = max_norm
        initial = vectors if vectors is not None else uniform_init(vocab_size, embedding_dim)
        initial = initial.clone()
        initial[pad_index] = 0
        self.embedding = nn.Embedding.from_pretrained(initial, freeze=mode == "static", padding_idx=pad_index)
        # The frozen channel of multichannel; the tuned one is `embedding`.
        self.static_embedding = (
            nn.Embedding.from_pretrained(initial.clone(), freeze=True, padding_idx=pad_index)
            if mode == "multichannel"
            else None
        )
        channels = embedding_dim * (2 if self.static_embedding is not None else 1)
        self.windows = tuple(windows)
        self.convs = nn.ModuleList(nn.Conv1d(channels, maps, width) for width in self.windows)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(maps * len(self.windows), num_classes)

    def forward(self, ids: Tensor) -> Tensor:
        """ids: (batch, time), sentences right-padded with pad_index to the longest in the batch."""
        # Kim pads every sentence with (widest window - 1) <pad>s on both sides: each word is seen in every
        # position of every filter, and one-word sentences still fit (no length-dependent branch to export).
        margin = max(self.windows) - 1
        lengths = (ids != self.pad_index).sum(dim=1, keepdim=True)
        ids = F.pad(ids, (margin, margin), value=self.pad_index)
        embedded = self.embedding(ids)
        if self.static_embedding is not None:
            embedded = torch.cat([self.static_embedding(ids), embedded], dim=-1)
        embedded = embedded.transpose(1, 2)  # (batch, channels, time) for Conv1d
        pooled = [self._max_over_own_windows(conv(embedded), lengths + 2 * margin - width + 1)
                  for conv, width in zip(self.convs, self.windows, strict=True)]  # fmt: skip
        return self.fc(self.dropout(torch.cat(pooled, dim=1)))

    @staticmethod
    def _max_over_own_windows(features: Tensor, windows: Tensor) -> Tensor:
        """Max over time of ReLU(features), over each sentence's own windows only: the extra <pad>s that make a
        batch rectangular must not change a sentence's answer (a sentence scores the same alone or in any batch,
        as in Kim's code, which pads every sentence to one fixed length). ReLU is >= 0, so masked windows are 0."""
        positions = torch.arange(features.shape[2], device=features.device)
        own = (positions[None, :] < windows).unsqueeze(1)
        return (F.relu(features) * own).amax(dim=2)

    @torch.no_grad()
    def constrain_norms(self) -> None:
        """Kim's max-norm: rescale each class's output weight vector to l2 norm <= max_norm (after a step)."""
        if self.max_norm:
            self.fc.weight.copy_(torch.renorm(self.fc.weight, p=2, dim=0, maxnorm=self.max_norm))


def build_textcnn(
    *,
    vocabulary: Sequence[str],
    num_classes: int,
    mode: str = "rand",
    vectors: str | None = None,
    vectors_format: str = "auto",
    embedding_dim: PositiveInt = 300,
    windows: NonEmpty[PositiveInt] = (3, 4, 5),
    maps: PositiveInt = 100,
    dropout: Probability = 0.5,
    max_norm: PositiveFloat | None = 3.0,
) -> TextCNN:
    """A TextCNN over `vocabulary` (index = token id); `vectors` is the path of a pretrained vectors file."""
    matrix = None
    if vectors and MODES[mode]:
        matrix, found = load_vectors(vectors, vocabulary, dim=embedding_dim, file_format=vectors_format)
        log.info("%s: vectors for %d of %d vocabulary words; the rest start uniform", vectors, found, len(vocabulary))
    return TextCNN(
        vocab_size=len(vocabulary),
        num_classes=num_classes,
        embedding_dim=embedding_dim,
        windows=windows,
        maps=maps,
        dropout=dropout,
        max_norm=max_norm,
        mode=mode,
        vectors=matrix,
    )


def check_textcnn(settings: Mapping[str, Any]) -> None:
    """Pretrained modes need a vectors file; fails in one line before a run starts."""
    mode, vectors = settings.get("mode", "rand"), settings.get("vectors")
    if pick("backbone.mode", mode, MODES) and not vectors:
        raise CnnlabError(
            f"backbone.mode={mode} needs pretrained vectors: set backbone.vectors=PATH "
            "(word2vec .bin/.txt or GloVe .txt), or use backbone.mode=rand"
        )
