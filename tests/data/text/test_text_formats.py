"""The three text layouts, seeded splits and k-fold CV, and one-line errors for bad files."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from cnnlab.data import build_data
from cnnlab.errors import CnnlabError

SHARED_TEXT = Path(__file__).resolve().parents[4] / "shared" / "data" / "text"
needs_trec = pytest.mark.skipif(not (SHARED_TEXT / "trec" / "train.txt").is_file(), reason="../shared/data absent")
COMMON = {"batch_size": 4, "num_workers": 0, "val_fraction": 0.2, "test_fraction": 0.2}


def sentences(label: str, count: int) -> list[str]:
    return [f"this is {label} sentence number {i} about {label}" for i in range(count)]


def write_prefixed(path: Path, rows: dict[str, int], encoding: str = "utf-8") -> Path:
    lines = [f"{label}:x {text}" for label, count in rows.items() for text in sentences(label, count)]
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


def test_prefixed_files_with_a_label_pattern_and_a_seeded_split(tmp_path: Path) -> None:
    train = write_prefixed(tmp_path / "train.txt", {"POS": 10, "NEG": 10})
    test = write_prefixed(tmp_path / "test.txt", {"POS": 3, "NEG": 2})
    data = build_data({"name": "text_prefixed", "train": str(train), "test": str(test), "label_pattern": "^([^:]+)",
                       **COMMON})  # fmt: skip
    facts = data.facts()
    assert facts["class_names"] == ["NEG", "POS"]
    assert len(data.splits.test) == 5  # the given test file, not a split
    assert len(data.splits.train) + len(data.splits.val) == 20
    assert facts["vocabulary"][:2] == ["<pad>", "<unk>"] and "about" in facts["vocabulary"]
    ids, labels = next(iter(data.train_dataloader()))
    assert ids.dtype == labels.dtype and ids.shape[0] == 4


def test_vocabulary_comes_from_the_training_split_only(tmp_path: Path) -> None:
    train = tmp_path / "train.txt"
    train.write_text("a common words here\nb common words there\n" * 5)
    test = tmp_path / "test.txt"
    test.write_text("a unseenword common\nb common\n")
    data = build_data({"name": "text_prefixed", "train": str(train), "test": str(test), **COMMON})
    vocabulary = data.facts()["vocabulary"]
    assert "common" in vocabulary and "unseenword" not in vocabulary
    assert 1 in data.splits.test[0][0].tolist()  # <unk>


def test_one_file_per_class(tmp_path: Path) -> None:
    files = {}
    for label in ("neg", "pos"):
        files[label] = str(tmp_path / f"rt-polarity.{label}")
        Path(files[label]).write_text("\n".join(sentences(label, 10)) + "\n")
    data = build_data({"name": "text_lines", "train": files, **COMMON})
    assert data.facts()["class_names"] == ["neg", "pos"]
    assert sum(len(getattr(data.splits, s)) for s in ("train", "val", "test")) == 20


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl"])
def test_tables_by_extension_with_named_columns(tmp_path: Path, suffix: str) -> None:
    rows = [{"sentence": text, "topic": label} for label in ("x", "y") for text in sentences(label, 10)]
    path = tmp_path / f"train{suffix}"
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    else:
        sep = "," if suffix == ".csv" else "\t"
        path.write_text("sentence" + sep + "topic\n" + "".join(f"{r['sentence']}{sep}{r['topic']}\n" for r in rows))
    data = build_data({"name": "text_csv", "train": str(path), "text_column": "sentence", "label_column": "topic",
                       **COMMON})  # fmt: skip
    assert data.facts()["class_names"] == ["x", "y"]
    with pytest.raises(CnnlabError, match=r"train.*: no column 'text'.*set data.text_column"):
        build_data({"name": "text_csv", "train": str(path), "label_column": "topic", **COMMON}).setup()


def test_k_fold_puts_every_sentence_in_exactly_one_test_fold(tmp_path: Path) -> None:
    train = write_prefixed(tmp_path / "train.txt", {"A": 12, "B": 8})
    seen = []
    for fold in range(5):
        data = build_data({"name": "text_prefixed", "train": str(train), "cv_folds": 5, "fold": fold, **COMMON})
        data.setup()
        test = [s.text for s in data.splits.test.sentences]
        rest = [s.text for s in data.splits.train.sentences + data.splits.val.sentences]
        assert len(test) == 4 and not set(test) & set(rest) and len(rest) == 16
        seen += test
    assert sorted(seen) == sorted(sentences("A", 12) + sentences("B", 8))
    with pytest.raises(CnnlabError, match=r"data.fold=5 must be in 0..4"):
        build_data({"name": "text_prefixed", "train": str(train), "cv_folds": 5, "fold": 5, **COMMON})


def test_blank_lines_are_skipped_and_logged_with_their_numbers(tmp_path: Path, caplog) -> None:
    train = tmp_path / "train.txt"
    train.write_text("\n".join(["a first one", "", "b second one", "   ", *["a x", "b y"] * 5]) + "\n")
    with caplog.at_level(logging.WARNING):
        build_data({"name": "text_prefixed", "train": str(train), **COMMON}).setup()
    assert f"skipped: {train}:2: blank line" in caplog.text and f"skipped: {train}:4: blank line" in caplog.text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("POS good\nNEG\n", r"train.txt:2: label 'NEG' has no sentence"),
        ("POS good\nNEG bad\n", None),  # valid train; the test file below carries the unknown label
    ],
)
def test_bad_lines_are_named_with_file_and_line(tmp_path: Path, content: str, message: str | None) -> None:
    train = tmp_path / "train.txt"
    train.write_text(content * 3 if message is None else content)
    test = tmp_path / "test.txt"
    test.write_text("POS fine\nMAYBE unsure\n")
    data = build_data({"name": "text_prefixed", "train": str(train), "test": str(test), **COMMON})
    expected = message or r"test.txt:2: label 'MAYBE' is not one of the classes \['NEG', 'POS'\]"
    with pytest.raises(CnnlabError, match=expected):
        data.setup()


def test_a_file_in_another_encoding_names_the_line_and_the_setting(tmp_path: Path) -> None:
    train = write_prefixed(tmp_path / "train.txt", {"A": 5, "B": 5})
    with open(train, "a", encoding="iso-8859-1") as file:
        file.write("A café au lait\n")
    settings = {"name": "text_prefixed", "train": str(train), **COMMON}
    with pytest.raises(CnnlabError, match=r"train.txt:11: not valid utf-8 .*set data.encoding"):
        build_data(settings).setup()
    build_data({**settings, "encoding": "iso-8859-1"}).setup()


@needs_trec
def test_trec_reads_with_its_latin1_encoding_and_coarse_labels() -> None:
    data = build_data({"name": "text_prefixed", "train": str(SHARED_TEXT / "trec" / "train.txt"),
                       "test": str(SHARED_TEXT / "trec" / "test.txt"), "encoding": "iso-8859-1",
                       "label_pattern": "^([^:]+)", **COMMON})  # fmt: skip
    assert data.facts()["class_names"] == ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
    assert len(data.splits.test) == 500 and len(data.splits.train) + len(data.splits.val) == 5452
