"""Labelled sentences from files: `LABEL sentence` lines, one file per class, or CSV/TSV/JSONL tables.

Every sentence remembers where it came from ("file:line") so a bad one is named in the error. Blank lines are
skipped and counted (files often end with one); a label with no sentence is an error.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from cnnlab.errors import CnnlabError

Skipped = Callable[[str], None] | None  # receives one reason per skipped line
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sentence:
    text: str
    label: str
    where: str  # "path:line", for error messages


def read_lines(path: str | Path, encoding: str, skipped: Skipped = None) -> Iterator[tuple[int, str]]:
    """(line number, stripped line) for each non-blank line; one-line errors for a missing or undecodable file.
    Blank lines carry no sample: each is passed to `skipped` (to be counted), else logged."""
    path = Path(path)
    if not path.is_file():
        raise CnnlabError(f"{path}: no such file; check the data.* path settings")
    try:
        lines = path.read_text(encoding=encoding).splitlines()
    except UnicodeDecodeError as err:
        line = path.read_bytes()[: err.start].count(b"\n") + 1
        raise CnnlabError(
            f"{path}:{line}: not valid {encoding} ({err.reason}); set data.encoding to the file's encoding, "
            "e.g. data.encoding=iso-8859-1"
        ) from err
    except LookupError as err:
        raise CnnlabError(f"data.encoding={encoding} is not a known encoding, e.g. utf-8 or iso-8859-1") from err
    blank = [number for number, line in enumerate(lines, 1) if not line.strip()]
    if blank and skipped is None:
        log.warning("%s: skipped %d blank line(s): %s", path, len(blank), _line_list(blank))
    for number in blank if skipped else ():
        skipped(f"{path}:{number}: blank line")
    for number, line in enumerate(lines, 1):
        if line.strip():
            yield number, line.strip()


def read_prefixed(
    path: str | Path, *, encoding: str, label_pattern: str | None = None, skipped: Skipped = None
) -> list[Sentence]:
    """`LABEL sentence` per line. label_pattern: a regex whose first group is the label within the first
    field (TREC's coarse label of `NUM:dist`: "^([^:]+)"); None: the whole first field."""
    pattern = re.compile(label_pattern) if label_pattern else None
    sentences = []
    for number, line in read_lines(path, encoding, skipped):
        field, _, text = line.partition(" ")
        where = f"{path}:{number}"
        if not text.strip():
            raise CnnlabError(f"{where}: label '{field}' has no sentence; expected 'LABEL sentence' per line")
        sentences.append(Sentence(text.strip(), _label(field, pattern, where), where))
    return sentences


def read_class_files(files: Mapping[str, str], *, encoding: str, skipped: Skipped = None) -> list[Sentence]:
    """One file per class (the MR polarity layout): {class name: path}, one sentence per line."""
    return [
        Sentence(line, label, f"{path}:{number}")
        for label, path in files.items()
        for number, line in read_lines(path, encoding, skipped)
    ]


def read_table(
    path: str | Path, *, encoding: str, text_column: str, label_column: str, skipped: Skipped = None
) -> list[Sentence]:
    """CSV (.csv), TSV (.tsv) with a header row, or JSON lines (.jsonl), by the file's extension."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".tsv", ".jsonl"):
        raise CnnlabError(f"{path}: unknown table format '{suffix}'; use a .csv, .tsv or .jsonl file")
    if suffix == ".jsonl":
        rows = _jsonl_rows(path, encoding, skipped)
    else:
        rows = _delimited_rows(path, encoding, suffix, skipped)
    sentences = []
    for where, row in rows:
        for column in (text_column, label_column):
            if column not in row:
                raise CnnlabError(
                    f"{where}: no column '{column}' (columns: {', '.join(map(str, row))}); "
                    "set data.text_column / data.label_column"
                )
        text, label = str(row[text_column] or "").strip(), str(row[label_column]).strip()
        if not text:
            raise CnnlabError(f"{where}: the '{text_column}' column is empty; remove the row or fill it in")
        sentences.append(Sentence(text, label, where))
    return sentences


def _delimited_rows(path: Path, encoding: str, suffix: str, skipped: Skipped) -> Iterator[tuple[str, dict]]:
    lines = [line for _, line in read_lines(path, encoding, skipped)]
    reader = csv.DictReader(lines, delimiter="\t" if suffix == ".tsv" else ",")
    for number, row in enumerate(reader, 2):
        yield f"{path}:{number}", row


def _jsonl_rows(path: Path, encoding: str, skipped: Skipped) -> Iterator[tuple[str, dict]]:
    for number, line in read_lines(path, encoding, skipped):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise CnnlabError(f"{path}:{number}: not a JSON object ({err.msg}); JSONL has one object per line") from err
        if not isinstance(row, dict):
            raise CnnlabError(f"{path}:{number}: expected a JSON object per line, got {type(row).__name__}")
        yield f"{path}:{number}", row


def _label(field: str, pattern: re.Pattern | None, where: str) -> str:
    if pattern is None:
        return field
    match = pattern.search(field)
    if not match or not match.groups():
        raise CnnlabError(f"{where}: label '{field}' does not match data.label_pattern='{pattern.pattern}'")
    return match.group(1)


def _line_list(numbers: list[int], shown: int = 10) -> str:
    listed = ", ".join(map(str, numbers[:shown]))
    return listed + (f", ... ({len(numbers) - shown} more)" if len(numbers) > shown else "")
