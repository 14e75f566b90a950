"""Listing data files safely: hidden files and folders are not data, links lead to each real file at most once and
never round a loop, and broken links are reported instead of read."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from cnnlab.errors import CnnlabError

# What PIL reads and users keep images in; matched case-insensitively (.PNG, .JPG are common from cameras).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".ppm", ".pgm", ".pbm", ".tif", ".tiff", ".webp")
SHOWN = 5  # paths named in one warning line; the rest are counted


class FileLister:
    """Lists folders and files under data roots, remembering across calls what it met on the way.

    unique: a real file reached twice (through a link, from another folder or split) is listed once, where it was
    first met; mask folders turn this off, since one blank mask may stand for many images.
    """

    def __init__(self, extensions: Sequence[str] = IMAGE_EXTENSIONS, unique: bool = True) -> None:
        self.extensions = tuple(e.lower() for e in extensions)
        self.unique = unique
        self.first_of: dict[Path, Path] = {}  # a repeated path -> the path its real file was listed under
        self.broken_links: dict[Path, None] = {}  # an ordered set: a folder may be listed more than once
        self._listed: dict[str, Path] = {}  # real path -> the path it was listed under

    def folders(self, root: Path) -> list[Path]:
        """The visible sub-folders of `root` (links to folders included), sorted by name."""
        entries = self._entries(root)
        self.broken_links.update(dict.fromkeys(Path(e.path) for e in entries if _broken(e)))
        return sorted((Path(e.path) for e in entries if e.is_dir()), key=lambda p: p.name)

    def files(self, folder: Path, recursive: bool = True) -> list[Path]:
        """The visible files with a data extension in `folder` (and, recursive, below it), in a fixed order."""
        found: list[Path] = []
        self._walk(folder, recursive, {os.path.realpath(folder)}, found)
        return found

    def warnings(self, where: str) -> list[str]:
        """One line per kind of file left out, naming them (`where`: the setting or folder they were under)."""
        lines = []
        if self.broken_links:
            lines.append(f"{where}: skipped {len(self.broken_links)} broken link(s): {shown(self.broken_links)}")
        if self.first_of:
            lines.append(
                f"{where}: {len(self.first_of)} file(s) reached again through links were used once: "
                + shown(f"{p} (= {first})" for p, first in self.first_of.items())
            )
        return lines

    def _walk(self, folder: Path, recursive: bool, walked: set[str], found: list[Path]) -> None:
        for entry in self._entries(folder):
            path = Path(entry.path)
            if entry.is_dir():
                real = os.path.realpath(path)
                if recursive and real not in walked:  # a link back up (a loop) or to a walked folder: not again
                    walked.add(real)
                    self._walk(path, recursive, walked, found)
            elif entry.is_file():
                if path.suffix.lower() in self.extensions:
                    self._add(path, found)
            elif _broken(entry):
                self.broken_links[path] = None

    def _add(self, path: Path, found: list[Path]) -> None:
        real = os.path.realpath(path)
        if self.unique and real in self._listed:
            self.first_of[path] = self._listed[real]
            return
        self._listed.setdefault(real, path)
        found.append(path)

    @staticmethod
    def _entries(folder: Path) -> list[os.DirEntry]:
        try:
            with os.scandir(folder) as entries:
                visible = [e for e in entries if not e.name.startswith(".")]
            # Plain entries before links: a file reached both ways is listed where it really is.
            return sorted(visible, key=lambda e: (e.is_symlink(), e.name))
        except OSError as err:
            reason = err.strerror or err
            raise CnnlabError(f"{folder}: cannot list the folder ({reason}); fix its permissions or move it") from err


def _broken(entry: os.DirEntry) -> bool:
    return entry.is_symlink() and not os.path.exists(entry.path)  # dangling, or a loop of links


def shown(items: Iterable[object]) -> str:
    """The first few items, comma-separated, and how many more there are."""
    items = [str(i) for i in items]
    more = f" and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return ", ".join(items[:SHOWN]) + more
