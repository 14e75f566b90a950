"""data.on_bad_sample: a sample that cannot be used (an unreadable image, a broken mask or annotation) either
stops the run (fail, the default) or is skipped and recorded (skip), so the run can report how many it lost."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from torch.utils.data import Dataset

from cnnlab.errors import CnnlabError

log = logging.getLogger(__name__)
POLICIES = ("fail", "skip")


class BadSamples:
    """The policy, and the file where skipped samples are recorded: one line each, appended by whichever process
    (DataLoader workers included) meets them."""

    def __init__(self, policy: str = "fail") -> None:
        if policy not in POLICIES:
            raise CnnlabError(f"data.on_bad_sample={policy} is not valid; use one of: {', '.join(POLICIES)}")
        self.policy = policy
        self.record_file: Path | None = None  # set per run; without one, skips are only logged
        self._seen: set[str] = set()

    def handle(self, error: CnnlabError) -> None:
        """Raises `error` under fail (pointing at the switch); under skip records it and returns."""
        if self.policy == "fail":
            raise CnnlabError(f"{error} (or set data.on_bad_sample=skip to skip such samples)") from error
        self.record(str(error))

    def record(self, reason: str) -> None:
        line = " ".join(reason.split())
        if line in self._seen:  # the same sample again (next epoch): recorded and logged once per process
            return
        self._seen.add(line)
        log.warning("skipped: %s", line)
        if self.record_file is not None:
            with open(self.record_file, "a", encoding="utf-8") as out:  # appends of one short line do not interleave
                out.write(line + "\n")

    def recorded(self) -> list[str]:
        """The distinct skips recorded so far (a sample skipped in every epoch, by several workers, or again after a
        resume counts once); the file is rewritten with each once."""
        if self.record_file is None or not self.record_file.is_file():
            return []
        distinct = sorted(set(self.record_file.read_text(encoding="utf-8").splitlines()))
        staging = self.record_file.with_suffix(".tmp")
        staging.write_text("".join(f"{line}\n" for line in distinct), encoding="utf-8")
        os.replace(staging, self.record_file)
        return distinct


class SkippingDataset(Dataset):
    """`dataset` with samples that raise a CnnlabError replaced by the next readable one, each skip recorded."""

    def __init__(self, dataset: Dataset, bad_samples: BadSamples) -> None:
        self.dataset = dataset
        self.bad_samples = bad_samples

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name: str):  # transform, class lists, ...: what callers read from the wrapped dataset
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __getitem__(self, index: int):
        for offset in range(len(self.dataset)):
            try:
                return self.dataset[(index + offset) % len(self.dataset)]
            except CnnlabError as error:
                self.bad_samples.handle(error)
        raise CnnlabError("data: every sample of a split is unreadable; check the data files")
