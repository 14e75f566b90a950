"""User errors stay one line, also when they come back from a DataLoader worker process."""

from __future__ import annotations

import pytest
from torch.utils.data import DataLoader, Dataset

from cnnlab.errors import CnnlabError, user_message


class BrokenDataset(Dataset):
    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int):
        raise CnnlabError("images/7.png: cannot read image (truncated); remove or replace the file")


def test_worker_error_keeps_its_one_line_message() -> None:
    with pytest.raises(CnnlabError) as caught:
        next(iter(DataLoader(BrokenDataset(), num_workers=1)))
    assert "Original Traceback" in str(caught.value)  # what PyTorch hands back
    assert user_message(caught.value) == "images/7.png: cannot read image (truncated); remove or replace the file"


def test_plain_error_is_unchanged() -> None:
    assert user_message(CnnlabError("data.root must be set")) == "data.root must be set"
