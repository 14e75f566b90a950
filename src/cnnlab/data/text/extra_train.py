"""data.extra_train: more labelled text that only ever trains, joined after the splits are made.

Kim (2014) trained SST on every labelled phrase of the training sentences' parse trees as well as the sentences.
Such files join the training split only, so they never move the validation or test split; a text that is already
in the training split is not added twice, and one that is in the validation or test split is dropped (it would be
a test sentence seen in training).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnlab.data.text.readers import TABLES, Sentence, Skipped, read_any
from cnnlab.errors import CnnlabError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExtraTrainingFile:
    path: str
    text_column: str = "text"  # tables (.csv, .tsv, .jsonl) only; other files are `LABEL sentence` lines
    label_column: str = "label"
    label_pattern: str | None = None  # `LABEL sentence` lines only: as data.label_pattern
    encoding: str | None = None  # None: data.encoding

    def read(self, encoding: str, skipped: Skipped) -> list[Sentence]:
        return read_any(
            self.path,
            encoding=self.encoding or encoding,
            text_column=self.text_column,
            label_column=self.label_column,
            label_pattern=self.label_pattern,
            skipped=skipped,
        )


def extra_training_files(entries: Sequence[Any] | None) -> list[ExtraTrainingFile]:
    """The data.extra_train list: each entry a path, or {path, text_column, label_column, label_pattern, encoding}."""
    files = []
    for number, entry in enumerate(entries or ()):
        setting = f"data.extra_train[{number}]"
        if isinstance(entry, str):
            entry = {"path": entry}
        if not isinstance(entry, Mapping) or not isinstance(entry.get("path"), str) or not entry["path"]:
            raise CnnlabError(f"{setting} needs a path: give a file name or {{path: FILE, text_column: …}}")
        unknown = sorted(set(entry) - set(ExtraTrainingFile.__dataclass_fields__))
        if unknown:
            raise CnnlabError(
                f"{setting} has no setting {', '.join(unknown)}; "
                "use path, text_column, label_column, label_pattern, encoding"
            )
        check_pattern(entry, setting)
        files.append(ExtraTrainingFile(**{key: str(value) for key, value in entry.items() if value is not None}))
    return files


def join_extra(
    train: list[Sentence], held_out: Sequence[Sentence], extra: Sequence[Sentence]
) -> list[Sentence]:
    """train plus the extra sentences whose text is neither in train nor held out, each distinct text once."""
    seen = {s.text for s in train}
    held = {s.text for s in held_out}
    added, repeated, leaked = [], 0, 0
    for sentence in extra:
        if sentence.text in held:
            leaked += 1
        elif sentence.text in seen:
            repeated += 1
        else:
            seen.add(sentence.text)
            added.append(sentence)
    log.info(
        "data.extra_train: %d sentence(s) added to the %d of the training split; %d already there, "
        "%d dropped because the validation or test split holds them",
        len(added), len(train), repeated, leaked,
    )  # fmt: skip
    return train + added


def check_pattern(entry: Mapping[str, Any], setting: str) -> None:
    pattern = entry.get("label_pattern")
    if pattern is None:
        return
    if Path(entry["path"]).suffix.lower() in TABLES:
        raise CnnlabError(
            f"{setting}: label_pattern is for `LABEL sentence` files; {Path(entry['path']).name} is a table: "
            "name its label_column instead"
        )
    try:
        re.compile(str(pattern))
    except re.error as err:
        raise CnnlabError(f"{setting}.label_pattern='{pattern}' is not a valid regex ({err}); e.g. '^([^:]+)'") from err
