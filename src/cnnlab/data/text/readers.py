"""Labelled sentences from files: `LABEL sentence` lines, one file per class, or CSV/TSV/JSONL tables.

Every sentence remembers where it came from ("file:line") so a bad one is named in the error. Blank lines are
skipped and counted (files often end with one); a label with no sentence is an error.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
import re
import string
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from cnnlab.errors import CnnlabError

Skipped = Callable[[str], None] | None  # receives one reason per skipped line
log = logging.getLogger(__name__)
FIELD_SEPARATOR = re.compile(r"[ \t]+")  # not str.split(): it also splits at \x1c-\x1f, which are text here
LINE_END = re.compile(r"\r\n|\r|\n")
TABLES = (".csv", ".tsv", ".jsonl")  # read by column name; every other file is `LABEL sentence` lines
SPACE = string.whitespace  # ASCII only: U+0085, U+00A0 and the like at a line's end are text, not padding


@dataclass(frozen=True)
class Sentence:
    text: str
    label: str
    where: str  # "path:line", for error messages


def read_text(path: str | Path, encoding: str, setting: str = "data.encoding") -> str:
    """The file's text with a leading byte-order mark removed (whatever the encoding says: a BOM is never text);
    one-line errors for a missing or undecodable file or an unknown encoding, naming `setting` as the fix."""
    path = Path(path)
    if not path.is_file():
        raise CnnlabError(f"{path}: no such file; check the data.* path settings")
    try:
        wide = codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))
    except LookupError as err:
        raise CnnlabError(f"{setting}={encoding} is not a known encoding, e.g. utf-8 or iso-8859-1") from err
    data = path.read_bytes()
    if not wide:  # read as Latin-1 or cp1252, a UTF-8 BOM would become the text "ï»¿"
        data = data.removeprefix(codecs.BOM_UTF8)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        line = len(LINE_END.findall(data[: err.start].decode("latin-1"))) + 1
        raise CnnlabError(
            f"{path}:{line}: not valid {encoding} ({err.reason}); set {setting} to the file's encoding, "
            f"e.g. {setting}=iso-8859-1"
        ) from err
    return text.removeprefix("\ufeff")


def split_lines(text: str) -> list[str]:
    """Lines ended by \\n, \\r\\n or \\r only. str.splitlines() also ends lines at U+0085 (byte 0x85, the ellipsis
    of Windows-1252 text read as Latin-1), U+2028 and others, which are text inside a sentence."""
    lines = LINE_END.split(text)
    return lines[:-1] if lines[-1] == "" else lines


def read_lines(
    path: str | Path, encoding: str, skipped: Skipped = None, setting: str = "data.encoding"
) -> Iterator[tuple[int, str]]:
    """(line number, stripped line) for each non-blank line; one-line errors for a missing or undecodable file.
    Blank lines carry no sample: each is passed to `skipped` (to be counted), else logged."""
    lines = split_lines(read_text(path, encoding, setting))
    report_blank(path, [number for number, line in enumerate(lines, 1) if not line.strip(SPACE)], skipped)
    for number, line in enumerate(lines, 1):
        if line.strip(SPACE):
            yield number, line.strip(SPACE)


def report_blank(path: str | Path, numbers: list[int], skipped: Skipped) -> None:
    """Each blank line to `skipped` (to be counted); without one, a single warning listing them."""
    if numbers and skipped is None:
        log.warning("%s: skipped %d blank line(s): %s", path, len(numbers), _line_list(numbers))
    for number in numbers if skipped else ():
        skipped(f"{path}:{number}: blank line")


def read_prefixed(
    path: str | Path, *, encoding: str, label_pattern: str | None = None, skipped: Skipped = None
) -> list[Sentence]:
    """`LABEL sentence` per line. label_pattern: a regex whose first group is the label within the first
    field (TREC's coarse label of `NUM:dist`: "^([^:]+)"); None: the whole first field."""
    pattern = re.compile(label_pattern) if label_pattern else None
    sentences = []
    for number, line in read_lines(path, encoding, skipped):
        field, text = (FIELD_SEPARATOR.split(line, maxsplit=1) + [""])[:2]  # a tab separates as a space does
        where = f"{path}:{number}"
        if not text.strip(SPACE):
            raise CnnlabError(f"{where}: label '{field}' has no sentence; expected 'LABEL sentence' per line")
        sentences.append(Sentence(text.strip(SPACE), _label(field, pattern, where), where))
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
    if suffix not in TABLES:
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
        text, label = _cell(row[text_column], text_column, where), _cell(row[label_column], label_column, where)
        sentences.append(Sentence(text, label, where))
    return sentences


def read_any(
    path: str | Path,
    *,
    encoding: str,
    text_column: str = "text",
    label_column: str = "label",
    label_pattern: str | None = None,
    skipped: Skipped = None,
) -> list[Sentence]:
    """A table (.csv, .tsv, .jsonl: named columns) or, for any other extension, `LABEL sentence` lines."""
    if Path(path).suffix.lower() in TABLES:
        return read_table(
            path, encoding=encoding, text_column=text_column, label_column=label_column, skipped=skipped
        )
    return read_prefixed(path, encoding=encoding, label_pattern=label_pattern, skipped=skipped)


def _cell(value: object, column: str, where: str) -> str:
    """A table cell as stripped text; an empty one (or JSON null) is an error: no sample has no text or label."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | type(None)):
        raise CnnlabError(f"{where}: the '{column}' value is {type(value).__name__}; give text (or a number)")
    text = "" if value is None else str(value).strip(SPACE)
    if not text:
        raise CnnlabError(f"{where}: the '{column}' column is empty; fill it in or remove the row")
    return text


def _delimited_rows(path: Path, encoding: str, suffix: str, skipped: Skipped) -> Iterator[tuple[str, dict]]:
    """({path}:{line}, {column: field}) per row, the line being where the row starts; a row whose field count
    differs from the header's is an error (an unquoted separator inside a field would shift the label)."""
    separator = "tab" if suffix == ".tsv" else "comma"
    records = list(_csv_records(path, encoding, "\t" if suffix == ".tsv" else ","))
    blank = {number for number, fields in records if len(fields) <= 1 and not "".join(fields).strip(SPACE)}
    report_blank(path, sorted(blank), skipped)
    rows = [(number, fields) for number, fields in records if number not in blank]
    if not rows:
        return
    (_, header), *rows = rows
    header = [name.strip(SPACE) for name in header]
    for name in header:
        if header.count(name) > 1:
            raise CnnlabError(f"{path}:1: column '{name}' appears twice in the header; name each column once")
    for number, fields in rows:
        if len(fields) != len(header):
            raise CnnlabError(
                f"{path}:{number}: {len(fields)} field(s), but the header has {len(header)} ({', '.join(header)}); "
                f'quote fields that contain a {separator} ("like, this"), doubling quotes inside them'
            )
        yield f"{path}:{number}", dict(zip(header, fields, strict=True))


def _csv_records(path: Path, encoding: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(first line number, fields) per record, by the csv module: quoted fields may hold separators and line ends."""
    reader = csv.reader(io.StringIO(read_text(path, encoding), newline=""), delimiter=delimiter, strict=True)
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise CnnlabError(
                f'{path}:{start}: {err}; quote a whole field ("like, this") and double the quotes inside it'
            ) from err
        yield start, fields


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
