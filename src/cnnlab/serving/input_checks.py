"""What `predict` and `explain` refuse in an input before reading it: a folder (its files are the inputs), and a
binary file given to a text run (an image's bytes would be read as sentences)."""

from __future__ import annotations

import codecs
from pathlib import Path

from cnnlab.errors import CnnlabError

# File signatures of the image formats users are likely to hand a text run by mistake.
IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\x00", b"MM\x00*", b"RIFF")
SNIFFED_BYTES = 8192


def refuse_folder(item: str) -> None:
    if item and len(item) < 4096 and Path(item).is_dir():  # Path("") is the current folder
        raise CnnlabError(f"{item} is a folder; pass the files in it (e.g. {Path(item) / '*'})")


def refuse_binary_file(path: Path, encoding: str) -> None:
    """NUL bytes are text only in a UTF-16 or UTF-32 file."""
    try:
        with path.open("rb") as file:
            head = file.read(SNIFFED_BYTES)
    except OSError:
        return  # the reader says why it cannot be read
    if head.startswith(IMAGE_MAGIC) or (b"\x00" in head and not wide_encoding(encoding)):
        raise CnnlabError(f"{path} is not a text file (binary data, e.g. an image); a text run reads sentences: "
                          "give them as arguments or in a .txt file, one per line")  # fmt: skip


def wide_encoding(encoding: str) -> bool:
    try:
        return codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))
    except LookupError:
        return False  # the reader names the unknown encoding
