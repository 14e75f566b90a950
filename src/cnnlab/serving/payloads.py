"""What the registered model takes and gives as a service (`mlflow models serve`, or any pyfunc caller): a
DataFrame whose column "image" holds base64-encoded image files, "text" sentences, or "path" local files (the
first column when none of these is named); a path on the server means nothing to a client on another machine, so
masks come back as base64-encoded PNG files too."""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab.data.datasets import read_image
from cnnlab.errors import CnnlabError
from cnnlab.serving.predictors import Reader, image_mode
from cnnlab.tasks import BaseTask

COLUMNS = ("image", "text", "path")


def model_inputs(model_input: Any) -> tuple[list[str], Reader | None, bool]:
    """(the inputs' names, how to read them (None: the task's own reader of paths and sentences), whether the
    answers go to a client: masks as bytes) from a DataFrame or a list of paths / sentences."""
    if not hasattr(model_input, "columns"):
        return [str(item) for item in model_input], None, False
    named = [column for column in COLUMNS if column in model_input.columns]
    column = named[0] if named else model_input.columns[0]
    values = model_input[column].tolist()
    if column != "image":
        return [str(value) for value in values], None, column == "text"
    names = [f"image {row}" for row in range(len(values))]
    return names, encoded_image_reader(dict(zip(names, values, strict=True))), True


def encoded_image_reader(encoded: dict[str, str | bytes]) -> Reader:
    def read(task: BaseTask, name: str, encoding: str) -> list[tuple[str, np.ndarray]]:
        return [(name, read_image(io.BytesIO(decoded(encoded[name], name)), image_mode(task), name=name))]

    return read


def decoded(value: str | bytes, name: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError, TypeError) as err:
        raise CnnlabError(f"{name}: not base64 ({err}); send each image file's bytes base64-encoded") from err


def with_mask_bytes(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each mask written on this machine, as base64 PNG bytes in "mask_png" (its path is dropped)."""
    answers = []
    for result in results:
        if "mask" in result:
            path = Path(result["mask"])
            result = {key: value for key, value in result.items() if key != "mask"}
            result["mask_png"] = base64.b64encode(path.read_bytes()).decode("ascii")
        answers.append(result)
    return answers
