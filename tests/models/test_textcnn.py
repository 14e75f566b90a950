"""TextCNN: the four variants build and their frozen/tuned embeddings behave as named; vectors files load."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from cnnlab.errors import CnnlabError
from cnnlab.models import build_text_classifier, check_backbone
from cnnlab.models.word_vectors import KIM_UNIFORM, load_vectors

WORDS = ["<pad>", "<unk>", "good", "bad", "film", "plot"]
VECTORS = {"good": [1.0, 0.0, 0.5, 0.25], "bad": [-1.0, 0.0, -0.5, 0.5], "film": [0.0, 1.0, 0.0, 0.0]}


def write_text_vectors(path: Path, header: bool, vectors: dict = VECTORS) -> Path:
    dim = len(next(iter(vectors.values())))
    lines = [f"{len(vectors)} {dim}"] if header else []
    lines += [" ".join([word, *map(str, vector)]) for word, vector in vectors.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_binary_vectors(path: Path) -> Path:
    with open(path, "wb") as file:
        file.write(f"{len(VECTORS)} 4\n".encode())
        for word, vector in VECTORS.items():
            file.write(word.encode() + b" " + struct.pack("4f", *vector) + b"\n")
    return path


def build(mode: str, vectors: Path | None = None, **settings):
    backbone = {"name": "textcnn", "mode": mode, "vectors": str(vectors) if vectors else None, "embedding_dim": 4,
                "windows": [2, 3], "maps": 5, **settings}  # fmt: skip
    check_backbone(backbone, "text")
    return build_text_classifier(backbone, vocabulary=WORDS, num_classes=2)


def train_step(model: torch.nn.Module) -> None:
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0)
    ids = torch.tensor([[2, 4, 5, 0], [3, 4, 1, 5]])
    torch.nn.functional.cross_entropy(model(ids), torch.tensor([1, 0])).backward()
    optimizer.step()


@pytest.mark.parametrize("fmt", ["word2vec_binary", "word2vec_text", "glove"])
def test_vectors_load_in_every_format_and_missing_words_get_kims_uniform_init(tmp_path: Path, fmt: str) -> None:
    path = {
        "word2vec_binary": lambda: write_binary_vectors(tmp_path / "v.bin"),
        "word2vec_text": lambda: write_text_vectors(tmp_path / "v.txt", header=True),
        "glove": lambda: write_text_vectors(tmp_path / "glove.txt", header=False),
    }[fmt]()
    matrix, found = load_vectors(path, WORDS, dim=4)  # format detected
    assert found == 3
    assert torch.equal(matrix[WORDS.index("bad")], torch.tensor(VECTORS["bad"]))
    assert matrix[WORDS.index("plot")].abs().max() <= KIM_UNIFORM


def test_a_vectors_file_of_another_dimension_is_named(tmp_path: Path) -> None:
    path = write_text_vectors(tmp_path / "glove.6B.50d.txt", header=False)
    with pytest.raises(CnnlabError, match=r"50d.txt:1: vectors have 4 dimensions but backbone.embedding_dim=3"):
        load_vectors(path, WORDS, dim=3)


def test_pretrained_modes_need_a_vectors_file() -> None:
    for mode in ("static", "non-static", "multichannel"):
        with pytest.raises(CnnlabError, match=f"backbone.mode={mode} needs pretrained vectors: set backbone.vectors"):
            build(mode)
    with pytest.raises(CnnlabError, match="backbone.mode=dynamic is not valid"):
        build("dynamic")


def test_static_embeddings_do_not_change_and_non_static_ones_do(tmp_path: Path) -> None:
    vectors = write_text_vectors(tmp_path / "v.txt", header=True)
    for mode, should_change in (("static", False), ("non-static", True), ("rand", True)):
        model = build(mode, vectors)
        before = model.embedding.weight.detach().clone()
        if mode != "rand":
            assert torch.equal(before[WORDS.index("good")], torch.tensor(VECTORS["good"]))
        train_step(model)
        assert torch.equal(model.embedding.weight, before) != should_change, mode
        assert torch.equal(model.embedding.weight[0], torch.zeros(4))  # <pad> stays zero


def test_multichannel_keeps_one_frozen_and_one_tuned_copy(tmp_path: Path) -> None:
    model = build("multichannel", write_text_vectors(tmp_path / "v.txt", header=True))
    frozen, tuned = model.static_embedding.weight.detach().clone(), model.embedding.weight.detach().clone()
    assert torch.equal(frozen, tuned) and model.convs[0].in_channels == 8  # each filter spans both channels
    train_step(model)
    assert torch.equal(model.static_embedding.weight, frozen)
    assert not torch.equal(model.embedding.weight, tuned)


def test_sentences_shorter_than_the_widest_filter_still_classify() -> None:
    model = build("rand", windows=[3, 4, 5])
    assert model(torch.tensor([[2], [3]])).shape == (2, 2)


def test_max_norm_caps_each_class_weight_vector() -> None:
    model = build("rand", max_norm=0.5)
    with torch.no_grad():
        model.fc.weight.mul_(100)
    model.constrain_norms()
    norms = model.fc.weight.detach().norm(dim=1)
    assert torch.all(norms <= 0.5 + 1e-5) and np.allclose(norms.numpy(), 0.5, atol=1e-5)
