"""The MLflow pyfunc model a registered run becomes: raw inputs in (base64-encoded image files, sentences, or
local paths: cnnlab.serving.payloads), the run's own pre-processing, predictions out; the same code path as
`cnnlab predict`."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import yaml


class CnnlabPredictor(mlflow.pyfunc.PythonModel):
    """Artifacts: "checkpoint" (the best Lightning checkpoint) and "config" (the run's resolved config.yaml)."""

    def load_context(self, context: Any) -> None:
        from cnnlab.tasks import restore_task

        config = yaml.safe_load(Path(context.artifacts["config"]).read_text())
        self.task_name = config["task"]["name"]
        self.data_settings = config["data"]
        self.task = restore_task(self.task_name, context.artifacts["checkpoint"])

    def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """model_input: a DataFrame with a column "image" (base64 image files), "text" or "path", or a list of
        paths / sentences. An input that cannot be read is answered {"input", "error"}; the others still are."""
        from cnnlab.serving import predict
        from cnnlab.serving.payloads import model_inputs, with_mask_bytes

        inputs, read, for_client = model_inputs(model_input)
        if for_client:  # masks go back as bytes: the files are scratch
            with tempfile.TemporaryDirectory(prefix="cnnlab-predict-") as scratch:
                return with_mask_bytes(predict(self.task_name, self.task, inputs, Path(scratch), self.data_settings,
                                               read=read))  # fmt: skip
        out_dir = Path((params or {}).get("out_dir") or tempfile.mkdtemp(prefix="cnnlab-predict-"))
        return predict(self.task_name, self.task, inputs, out_dir, self.data_settings, read=read)
