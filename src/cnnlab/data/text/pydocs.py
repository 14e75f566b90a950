"""data=pydocs, the embedded text default: sentences of the Python standard library's docstrings, labelled by
the package they document (asyncio, email, importlib, logging, multiprocessing, unittest, web, xml).

Real English written by many authors, built offline from this interpreter's own source files (parsed, never
imported), so it exists on every machine. It depends only on the Python version, which names the cache file.
"""

from __future__ import annotations

import ast
import csv
import re
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

from cnnlab.data.cache import write_atomically
from cnnlab.data.text.datamodule import TextClassificationData
from cnnlab.data.text.readers import Sentence, read_table

# label -> the standard-library packages whose docstrings it collects
PACKAGES = {
    "asyncio": ["asyncio"],
    "email": ["email"],
    "importlib": ["importlib"],
    "logging": ["logging"],
    "multiprocessing": ["multiprocessing", "concurrent"],
    "unittest": ["unittest"],
    "web": ["http", "urllib", "wsgiref"],
    "xml": ["xml"],
}
MIN_WORDS, MAX_WORDS = 5, 50
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def docstring_sentences(source: str) -> Iterator[str]:
    """Prose sentences of every docstring in `source`; code examples and markup paragraphs are left out."""
    for node in ast.walk(ast.parse(source)):
        docstring = ast.get_docstring(node) if isinstance(node, _DOCUMENTED) else None
        for paragraph in (docstring or "").split("\n\n"):
            if ">>>" in paragraph or "::" in paragraph:
                continue
            for sentence in _SENTENCE_END.split(" ".join(paragraph.split())):
                if _is_prose(sentence):
                    yield sentence


def _is_prose(sentence: str) -> bool:
    """Long enough to say something, mostly letters (not code), not a comment."""
    letters = sum(c.isalpha() for c in sentence)
    words = len(sentence.split())
    return MIN_WORDS <= words <= MAX_WORDS and letters > 0.6 * len(sentence) and not sentence.startswith("#")


def build_corpus(stdlib: Path) -> list[tuple[str, str]]:
    """(sentence, label) pairs, sorted and de-duplicated; a sentence found under two labels is dropped."""
    labels: dict[str, set[str]] = {}
    for label, packages in PACKAGES.items():
        for package in packages:
            for path in sorted((stdlib / package).rglob("*.py")):
                if {"test", "tests"} & set(path.parts):
                    continue
                for sentence in docstring_sentences(path.read_text(encoding="utf-8")):
                    labels.setdefault(sentence, set()).add(label)
    return sorted((sentence, next(iter(found))) for sentence, found in labels.items() if len(found) == 1)


def corpus_file(root: Path) -> Path:
    """The corpus as TSV under root, written once per Python version."""
    path = root / f"python{sys.version_info.major}.{sys.version_info.minor}" / "sentences.tsv"
    if not path.is_file():

        def fill(staging: Path) -> None:
            with open(staging / path.name, "w", encoding="utf-8", newline="") as file:
                writer = csv.writer(file, delimiter="\t", quoting=csv.QUOTE_MINIMAL)
                writer.writerow(["text", "label"])
                writer.writerows(build_corpus(Path(sysconfig.get_paths()["stdlib"])))

        write_atomically(path.parent, fill)
    return path


class PyDocsData(TextClassificationData):
    def __init__(self, *, root: str = "outputs/datasets/pydocs", **common) -> None:
        super().__init__(**common)
        self.root = Path(root)

    def read(self) -> dict[str, list[Sentence] | None]:
        path = corpus_file(self.root)
        return {
            "train": read_table(path, encoding="utf-8", text_column="text", label_column="label"),
            "val": None,
            "test": None,
        }
