"""The MLflow pyfunc model a registered run becomes: raw inputs in (image paths or sentences), the run's own
pre-processing, predictions out; the same code path as `cnnlab predict`."""

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
        """model_input: a list of image paths / sentences, or a DataFrame whose first column holds them."""
        from cnnlab.serving import predict

        inputs = model_input.iloc[:, 0].tolist() if hasattr(model_input, "iloc") else list(model_input)
        out_dir = Path((params or {}).get("out_dir") or tempfile.mkdtemp(prefix="cnnlab-predict-"))
        return predict(self.task_name, self.task, [str(item) for item in inputs], out_dir, self.data_settings)
