"""The argument parser of every subcommand: a wrong argument is one `cnnlab: error:` line, as any other mistake."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn


class CommandParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """argparse prints the whole usage and then the error; the usage is one `--help` away."""
        print(f"cnnlab: error: {self.prog}: {message}; see {self.prog} --help", file=sys.stderr)
        sys.exit(2)
