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


def read_all(data) -> list:
    data.setup()
    return [s for split in ("train", "val", "test") for s in getattr(data.splits, split).sentences]


def test_only_cr_lf_and_crlf_end_lines_and_u0085_stays_in_its_sentence(tmp_path: Path, caplog) -> None:
    # MR's ellipsis is byte 0x85 in Windows-1252; read as Latin-1 it is U+0085, which str.splitlines() breaks on.
    neg = tmp_path / "rt-polarity.neg"
    neg.write_bytes(b"it goes on\x85 and on\r\nflat\xe2\x80\xa8 dull\rsad\n\nslow\n")
    pos = tmp_path / "rt-polarity.pos"
    pos.write_bytes(b"fine\nbright\ngood\nwarm\n")
    with caplog.at_level(logging.WARNING):
        sentences = read_all(build_data({"name": "text_lines", "train": {"neg": str(neg), "pos": str(pos)},
                                         "encoding": "iso-8859-1", **COMMON}))  # fmt: skip
    by_where = {s.where: s.text for s in sentences}
    assert by_where[f"{neg}:1"] == "it goes on\x85 and on" and by_where[f"{neg}:2"] == "flat\xe2\x80\xa8 dull"
    assert by_where[f"{neg}:3"] == "sad" and by_where[f"{neg}:5"] == "slow" and len(sentences) == 8
    assert f"skipped: {neg}:4: blank line" in caplog.text and caplog.text.count("blank line") == 1


@pytest.mark.parametrize("encoding", ["utf-8", "iso-8859-1", "cp1252"])
def test_a_bom_is_not_text_in_any_reader(tmp_path: Path, encoding: str) -> None:
    bom = b"\xef\xbb\xbf"
    prefixed = tmp_path / "train.txt"
    prefixed.write_bytes(bom + b"pos a good film\nneg a bad film\n" * 5)
    data = build_data({"name": "text_prefixed", "train": str(prefixed), "encoding": encoding, **COMMON})
    assert data.facts()["class_names"] == ["neg", "pos"]
    table = tmp_path / "train.csv"
    table.write_bytes(bom + b"text,label\n" + b"a good film,pos\na bad film,neg\n" * 5)
    data = build_data({"name": "text_csv", "train": str(table), "encoding": encoding, **COMMON})
    assert data.facts()["class_names"] == ["neg", "pos"]
    lines = tmp_path / "neg.txt"
    lines.write_bytes(bom + b"dull\n" * 5)
    (tmp_path / "pos.txt").write_bytes(b"bright\n" * 5)
    files = {"neg": str(lines), "pos": str(tmp_path / "pos.txt")}
    texts = {s.text for s in read_all(build_data({"name": "text_lines", "train": files, "encoding": encoding,
                                                  **COMMON}))}  # fmt: skip
    assert texts == {"dull", "bright"}


def test_csv_quotes_hold_commas_and_line_ends_and_lines_are_where_rows_start(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    rows = ['"a good, long film",pos', '"a bad\nfilm",neg', *["fine,pos", "dull,neg"] * 4, '"say ""no""",neg']
    path.write_text("text,label\n" + "\n".join(rows) + "\n")
    sentences = read_all(build_data({"name": "text_csv", "train": str(path), **COMMON}))
    where = {s.text: (s.where, s.label) for s in sentences}
    assert where["a good, long film"] == (f"{path}:2", "pos") and where["a bad\nfilm"] == (f"{path}:3", "neg")
    assert where['say "no"'] == (f"{path}:13", "neg") and len(sentences) == 11


@pytest.mark.parametrize(
    ("suffix", "body", "message"),
    [
        (".csv", "a good film,pos\na bad film\n", r"train.csv:3: 1 field\(s\), but the header has 2 \(text, label\); "
                                                 r"quote fields that contain a comma"),
        (".csv", "a good, film,pos\n", r"train.csv:2: 3 field\(s\), but the header has 2 .*quote fields"),
        (".tsv", "a good film\tpos\textra\n", r"train.tsv:2: 3 field\(s\).*quote fields that contain a tab"),
        (".csv", "a good film,\n", r"train.csv:2: the 'label' column is empty; fill it in or remove the row"),
        (".csv", '"a good film,pos\nfine,neg\n', r"train.csv:2: unexpected end of data; quote a whole field"),
        (".csv", '"a" good film,pos\n', r"train.csv:2: ',' expected after '\"'; quote a whole field"),
        (".jsonl", '{"text": "a good film", "label": null}\n', r"train.jsonl:1: the 'label' column is empty"),
        (".jsonl", '{"text": "a good film", "label": ["x"]}\n', r"train.jsonl:1: the 'label' value is list"),
    ],
)  # fmt: skip
def test_rows_with_a_wrong_field_count_or_an_empty_label_are_named(tmp_path: Path, suffix, body, message) -> None:
    path = tmp_path / f"train{suffix}"
    path.write_text(body if suffix == ".jsonl" else ("text,label\n" if suffix == ".csv" else "text\tlabel\n") + body)
    with pytest.raises(CnnlabError, match=message):
        build_data({"name": "text_csv", "train": str(path), **COMMON}).setup()


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ({"A": 2, "B": 2}, r"data.cv_folds=5 needs at least 5 sentences of each class, but class 'A:x' has 2 "
                           r"\(4 sentences in all\); lower data.cv_folds or add sentences"),
        ({"A": 12, "B": 3}, r"data.cv_folds=5 needs at least 5 sentences of each class, but class 'B:x' has 3"),
    ],
)  # fmt: skip
def test_more_folds_than_sentences_of_a_class_is_one_error(tmp_path: Path, counts: dict, message: str) -> None:
    train = write_prefixed(tmp_path / "train.txt", counts)
    with pytest.raises(CnnlabError, match=message):
        build_data({"name": "text_prefixed", "train": str(train), "cv_folds": 5, "fold": 0, **COMMON}).setup()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"min_freq": 0}, r"data.min_freq=0 is not valid"),
        ({"val_fraction": 1.5}, r"data.val_fraction=1.5 is not valid"),
        ({"test_fraction": -0.1}, r"data.test_fraction=-0.1 is not valid"),
        ({"cv_folds": -1}, r"data.cv_folds=-1 is not valid"),
        ({"max_length": 0}, r"data.max_length=0 is not valid"),
        ({"split_seed": -3}, r"data.split_seed=-3 is not valid"),
        ({"classes": ["A", "B", "A"]}, r"data.classes lists 'A' twice"),
    ],
)
def test_settings_out_of_range_are_one_error_before_reading(tmp_path: Path, settings: dict, message: str) -> None:
    with pytest.raises(CnnlabError, match=message):
        build_data({"name": "text_prefixed", "train": str(tmp_path / "absent.txt"), **COMMON, **settings})


def test_splits_that_cannot_be_made_are_one_error(tmp_path: Path) -> None:
    train = write_prefixed(tmp_path / "train.txt", {"A": 3, "B": 3})
    settings = {"name": "text_prefixed", "train": str(train), **COMMON}
    with pytest.raises(CnnlabError, match=r"data.val_fraction=0.5 \+ data.test_fraction=0.5 leaves no sentences"):
        build_data({**settings, "val_fraction": 0.5, "test_fraction": 0.5}).setup()
    single = write_prefixed(tmp_path / "single.txt", {"A": 1})
    with pytest.raises(CnnlabError, match=r"cannot hold out data.test_fraction=0.2 of 1 sentence\(s\)"):
        build_data({**settings, "train": str(single)}).setup()


@pytest.mark.parametrize(
    ("pattern", "message"),
    [("^([^:]+", r"data.label_pattern='\^\(\[\^:\]\+' is not a valid regex"), ("^[^:]+", r"has no group")],
)
def test_a_label_pattern_that_cannot_give_labels_is_one_error(tmp_path: Path, pattern: str, message: str) -> None:
    with pytest.raises(CnnlabError, match=message):
        build_data({"name": "text_prefixed", "train": str(tmp_path / "train.txt"), "label_pattern": pattern, **COMMON})


def test_extra_training_files_only_train_and_never_repeat_or_leak_a_held_out_text(tmp_path: Path) -> None:
    train = write_prefixed(tmp_path / "train.txt", {"POS": 6, "NEG": 6})
    test = tmp_path / "test.txt"
    test.write_text("POS:x a held out sentence\nNEG:x another held out one\n")
    phrases = tmp_path / "phrases (sst).tsv"
    phrases.write_text("label\tsentence\nPOS\tphrasal words only\nNEG\ta held out sentence\n"
                       f"POS\t{sentences('POS', 1)[0]}\nNEG\tgloomy\n")  # fmt: skip
    more = tmp_path / "more.txt"
    more.write_text("POS phrasal words only\nNEG dreary\n")
    data = build_data({"name": "text_prefixed", "train": str(train), "test": str(test), "label_pattern": "^([^:]+)",
                       "extra_train": [{"path": str(phrases), "text_column": "sentence"},
                                       str(more)], **COMMON})  # fmt: skip
    vocabulary = data.facts()["vocabulary"]
    texts = [s.text for s in data.splits.train.sentences]
    assert len(data.splits.test) == 2 and data.facts()["class_names"] == ["NEG", "POS"]
    assert len(texts) == 12 - len(data.splits.val) + 3  # phrasal, gloomy, dreary: each once
    assert len(set(texts)) == len(texts) and "a held out sentence" not in texts
    assert {"phrasal", "gloomy", "dreary"} <= set(vocabulary)
    assert [data.splits.train.labels[texts.index(t)].item() for t in ("gloomy", "dreary")] == [0, 0]


@pytest.mark.parametrize(
    ("entry", "message"),
    [({"text_column": "x"}, r"data.extra_train\[0\] needs a path"),
     ({"path": "p.tsv", "column": "x"}, r"data.extra_train\[0\] has no setting column"),
     (3, r"data.extra_train\[0\] needs a path"),
     ({"path": "p.tsv", "label_pattern": "^(.)"}, r"label_pattern is for `LABEL sentence` files; p.tsv is a table"),
     ({"path": "p.txt", "label_pattern": "^.)"}, r"data.extra_train\[0\].label_pattern='\^.\)' is not a valid regex"),
     ("more.txt", r"more.txt:1: label 'NEW' is not one of the classes \['NEG', 'POS'\]")],
)  # fmt: skip
def test_a_bad_extra_training_entry_is_one_error(tmp_path: Path, entry, message: str) -> None:
    train = write_prefixed(tmp_path / "train.txt", {"POS": 6, "NEG": 6})
    (tmp_path / "more.txt").write_text("NEW an unknown label\n")
    entry = str(tmp_path / entry) if isinstance(entry, str) else entry
    with pytest.raises(CnnlabError, match=message):
        build_data({"name": "text_prefixed", "train": str(train), "extra_train": [entry], "label_pattern": "^([^:]+)",
                    **COMMON}).setup()  # fmt: skip


@pytest.mark.skipif(not (SHARED_TEXT / "sst2" / "phrases_train.tsv").is_file(), reason="../shared/data absent")
def test_sst2_as_kim_trained_it_joins_the_phrases_to_the_sentences(monkeypatch) -> None:
    from cnnlab.config import composed_job

    monkeypatch.setenv("CNNLAB_SHARED_DATA", str(SHARED_TEXT.parent))
    data = build_data(composed_job(["experiment=sst2_cnn_rand"])["data"])
    data.setup()  # 6,920 sentences + 60,447 phrases not among them (one phrase is a test sentence: dropped)
    assert (len(data.splits.train), len(data.splits.val), len(data.splits.test)) == (67367, 872, 1821)
