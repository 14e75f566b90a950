"""Pretrained word vectors from a local file: word2vec binary, word2vec text, or GloVe text.

Only the vocabulary's words are kept while streaming the file, so GoogleNews' 3M x 300 vectors load in a
few hundred MB rather than the whole file's worth (gensim's loader keeps every word).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from cnnlab.errors import CnnlabError, pick

KIM_UNIFORM = 0.25  # Kim (2014): words without a vector get U[-a, a], a chosen so their variance matches word2vec's


def uniform_init(rows: int, dim: int, generator: torch.Generator | None = None) -> torch.Tensor:
    return (torch.rand(rows, dim, generator=generator) * 2 - 1) * KIM_UNIFORM


def load_vectors(
    path: str | Path, words: Sequence[str], *, dim: int, file_format: str = "auto"
) -> tuple[torch.Tensor, int]:
    """(len(words) x dim matrix, number of words found). Rows of missing words get Kim's uniform init."""
    path = Path(path)
    if not path.is_file():
        raise CnnlabError(f"backbone.vectors={path}: no such file; give a local word2vec or GloVe file")
    file_format = _detect_format(path) if file_format == "auto" else file_format
    reader = pick("backbone.vectors_format", file_format, READERS)
    index = {word: i for i, word in enumerate(words)}
    matrix = uniform_init(len(words), dim)
    found = 0
    for line, word, vector in reader(path):
        if len(vector) != dim:
            raise CnnlabError(
                f"{path}:{line}: vectors have {len(vector)} dimensions but backbone.embedding_dim={dim}; "
                f"set backbone.embedding_dim={len(vector)}"
            )
        row = index.get(word)
        if row is not None:
            matrix[row] = torch.as_tensor(vector.copy())
            found += 1
    return matrix, found


def _detect_format(path: Path) -> str:
    """word2vec files start with a "<count> <dim>" header; binary ones are not valid UTF-8 after it."""
    if path.suffix == ".bin":
        return "word2vec_binary"
    with open(path, "rb") as file:
        first = file.readline().split()
    header = len(first) == 2 and all(field.isdigit() for field in first)
    return "word2vec_text" if header else "glove"


def _text_vectors(path: Path, *, header: bool) -> Iterator[tuple[int, str, np.ndarray]]:
    with open(path, encoding="utf-8", errors="replace") as file:
        for number, line in enumerate(file, 1):
            if header and number == 1:
                continue
            fields = line.rstrip().split(" ")
            if len(fields) < 2:
                continue
            try:
                yield number, fields[0], np.asarray(fields[1:], dtype=np.float32)
            except ValueError as err:
                message = f"{path}:{number}: not a 'word v1 v2 ...' line; check backbone.vectors_format"
                raise CnnlabError(message) from err


def _binary_vectors(path: Path) -> Iterator[tuple[int, str, np.ndarray]]:
    """word2vec's C format: "<count> <dim>\\n", then per word: the word, a space, dim float32s (a newline may lead)."""
    with open(path, "rb") as file:
        try:
            count, dim = map(int, file.readline().split())
        except ValueError as err:
            raise CnnlabError(f"{path}: no '<count> <dim>' header; is it really word2vec binary?") from err
        for number in range(1, count + 1):
            word = bytearray()
            while (char := file.read(1)) != b" ":
                if not char:
                    raise CnnlabError(f"{path}: ends after {number - 1} of {count} vectors; the file is truncated")
                if char != b"\n":
                    word += char
            data = file.read(4 * dim)
            if len(data) < 4 * dim:
                raise CnnlabError(f"{path}: ends inside vector {number} of {count}; the file is truncated")
            yield number, word.decode("utf-8", errors="replace"), np.frombuffer(data, dtype=np.float32)


READERS = {
    "word2vec_binary": _binary_vectors,
    "word2vec_text": lambda path: _text_vectors(path, header=True),
    "glove": lambda path: _text_vectors(path, header=False),
}
