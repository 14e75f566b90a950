"""How fast the command line answers: `cnnlab --help`, `cnnlab train --help`, `cnnlab compare --help` beside
`python -c pass`, each a fresh process, alternating, median of several repeats after a warm-up (target: each
help <= 1 s). Writes outputs/bench/cli.json. usage: python scripts/bench_cli.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_common import machine, write_result

CNNLAB = str(Path(sys.executable).with_name("cnnlab"))
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "cnnlab --help": [CNNLAB, "--help"],
    "cnnlab train --help": [CNNLAB, "train", "--help"],
    "cnnlab compare --help": [CNNLAB, "compare", "--help"],
}
TARGET_S = 1.0


def seconds(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    repeats = parser.parse_args().repeats
    for command in COMMANDS.values():  # warm-up: the OS file cache
        seconds(command)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(repeats):
        for name, command in COMMANDS.items():
            times[name].append(seconds(command))
    medians = {name: statistics.median(values) for name, values in times.items()}
    baseline = medians["python -c pass"]
    for name, median in medians.items():
        within = "within" if median <= TARGET_S else "OVER"
        verdict = "" if name == "python -c pass" else f"  ({within} the {TARGET_S:g} s target)"
        print(f"{name:<24} {median:6.3f} s   {median / baseline:6.1f}x python -c pass{verdict}")
    write_result("cli", {"machine": machine(), "repeats": repeats, "median_s": medians, "target_s": TARGET_S})


if __name__ == "__main__":
    main()
