"""The embedded text default: built offline from the standard library, deterministic, cached."""

from __future__ import annotations

import sysconfig
from collections import Counter
from pathlib import Path

from cnnlab.data import build_data
from cnnlab.data.text.pydocs import PACKAGES, build_corpus, corpus_file


def test_corpus_is_real_prose_from_every_package_and_deterministic() -> None:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    corpus = build_corpus(stdlib)
    counts = Counter(label for _, label in corpus)
    assert set(counts) == set(PACKAGES) and min(counts.values()) >= 200 and len(corpus) > 3000
    assert all(5 <= len(text.split()) <= 50 for text, _ in corpus)
    assert len({text for text, _ in corpus}) == len(corpus)  # no sentence twice
    assert build_corpus(stdlib) == corpus


def test_the_cache_is_written_once_and_reused(tmp_path: Path) -> None:
    path = corpus_file(tmp_path)
    stamp = path.stat().st_mtime_ns
    assert corpus_file(tmp_path) == path and path.stat().st_mtime_ns == stamp
    data = build_data({"name": "pydocs", "root": str(tmp_path), "batch_size": 8, "num_workers": 0})
    facts = data.facts()
    assert facts["num_classes"] == len(PACKAGES) and len(facts["vocabulary"]) > 2000
