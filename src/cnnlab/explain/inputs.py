"""What `cnnlab explain` reads and writes per input: the inputs read before anything is made (so a call that can
explain nothing makes no run), with one-line reasons for the unreadable ones, and short, visible, distinct names
for the pictures of each."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnlab.errors import CnnlabError
from cnnlab.tasks import BaseTask

MAX_STEM_BYTES = 100  # a file name may have 255 bytes; room for "-N" and "_features.png"


@dataclass(frozen=True)
class Input:
    name: str  # as results name it: the path, or a text file's path:line, or the sentence
    content: Any = None  # an image array or a sentence
    error: str | None = None  # why it cannot be explained (content is then None)


def read_inputs(task_name: str, task: BaseTask, inputs: Sequence[str], encoding: str) -> list[Input]:
    """Every input's items in order (a text file gives one per line); an unreadable input is one Input with its
    error, and costs only itself."""
    from cnnlab.serving.predictors import READERS, read_images

    read = READERS.get(task_name, read_images)
    found: list[Input] = []
    for item in inputs:
        try:
            items = read(task, item, encoding)
            if not items:  # a text file of blank lines: silence would pass for success
                raise CnnlabError(f"{item} holds no sentence; give a file with one sentence per line")
            found += [Input(name, content) for name, content in items]
        except CnnlabError as err:
            found.append(Input(item, error=str(err)))
    return found


def picture_names(inputs: Sequence[Input], out_dir: Path) -> list[str]:
    """A file stem per input (text: sentence<N>, N its place among the inputs), distinct within the call and from
    the files already in out_dir."""
    from cnnlab.serving.predictors import distinct_stems

    names = [f"sentence{number}" if isinstance(item.content, str) else short_name(item.name)
             for number, item in enumerate(inputs, 1)]  # fmt: skip
    return distinct_stems(names, out_dir, "_cam.png")


def short_name(name: str) -> str:
    """The input's file name without leading dots (a hidden input should not give hidden pictures) and with a long
    stem cut, a hash of the whole stem keeping two long names apart."""
    path = Path(name)
    stem = path.stem.lstrip(".") or "input"
    data = stem.encode()
    if len(data) > MAX_STEM_BYTES:
        digest = hashlib.sha1(data).hexdigest()[:8]
        stem = f"{data[: MAX_STEM_BYTES - 9].decode(errors='ignore')}-{digest}"
    return f"{stem}{path.suffix}"
