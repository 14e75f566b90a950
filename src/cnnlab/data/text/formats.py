"""The three file layouts users bring: `LABEL sentence` lines, one file per class, and CSV/TSV/JSONL tables."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cnnlab.data.text.datamodule import TextClassificationData
from cnnlab.data.text.readers import Sentence, read_class_files, read_prefixed, read_table
from cnnlab.errors import CnnlabError


def _read_optional(path: str | None, read) -> list[Sentence] | None:
    return read(path) if path else None


def check_label_pattern(pattern: str) -> None:
    """A regex with a group around the label, or a one-line error before any file is read."""
    try:
        groups = re.compile(pattern).groups
    except re.error as err:
        raise CnnlabError(f"data.label_pattern='{pattern}' is not a valid regex ({err}); e.g. '^([^:]+)'") from err
    if groups < 1:
        raise CnnlabError(f"data.label_pattern='{pattern}' has no group; put ( ) around the label, e.g. '^([^:]+)'")


class TextPrefixedData(TextClassificationData):
    """data=text_prefixed: `LABEL sentence` per line (TREC's `COARSE:fine ...`, SST's `0/1 ...`)."""

    def __init__(
        self, *, train: str, val: str | None = None, test: str | None = None, label_pattern: str | None = None, **common
    ) -> None:
        super().__init__(**common)
        self.paths = {"train": train, "val": val, "test": test}
        self.label_pattern = label_pattern
        if label_pattern is not None:
            check_label_pattern(label_pattern)

    def describe(self) -> str:
        return f"text_prefixed ({self.paths['train']})"

    def read(self) -> dict[str, list[Sentence] | None]:
        def read(path: str) -> list[Sentence]:
            return read_prefixed(
                path, encoding=self.encoding, label_pattern=self.label_pattern, skipped=self.bad_samples.record
            )

        return {split: _read_optional(path, read) for split, path in self.paths.items()}


class TextLinesData(TextClassificationData):
    """data=text_lines: one file per class, one sentence per line (the MR polarity layout).

    train: {class: path}; val/test the same, or null to split them from train.
    """

    def __init__(
        self,
        *,
        train: Mapping[str, str],
        val: Mapping[str, str] | None = None,
        test: Mapping[str, str] | None = None,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        self.files = {"train": dict(train or {}), "val": val, "test": test}
        for split, files in self.files.items():
            paths = [str(Path(path).resolve()) for path in (files or {}).values()]
            if len(set(paths)) < len(paths):  # every sentence would carry every label
                raise CnnlabError(f"data.{split}: two classes name the same file; give each class its own file")

    def describe(self) -> str:
        return f"text_lines ({', '.join(Path(p).name for p in self.files['train'].values())})"

    def read(self) -> dict[str, list[Sentence] | None]:
        def read(files: Mapping[str, str]) -> list[Sentence]:
            return read_class_files(files, encoding=self.encoding, skipped=self.bad_samples.record)

        return {split: _read_optional(files, read) for split, files in self.files.items()}


class TextTableData(TextClassificationData):
    """data=text_csv: CSV/TSV with a header, or JSON lines, by extension; text and label columns by name."""

    def __init__(
        self,
        *,
        train: str,
        val: str | None = None,
        test: str | None = None,
        text_column: str = "text",
        label_column: str = "label",
        **common: Any,
    ) -> None:
        super().__init__(**common)
        self.paths = {"train": train, "val": val, "test": test}
        self.columns = {"text_column": text_column, "label_column": label_column}

    def describe(self) -> str:
        return f"text_csv ({self.paths['train']})"

    def read(self) -> dict[str, list[Sentence] | None]:
        def read(path: str) -> list[Sentence]:
            return read_table(path, encoding=self.encoding, skipped=self.bad_samples.record, **self.columns)

        return {split: _read_optional(path, read) for split, path in self.paths.items()}
