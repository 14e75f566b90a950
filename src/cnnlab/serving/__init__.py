"""Serving a trained task: raw inputs (image files, sentences) -> predictions, as `cnnlab predict` and the
registered MLflow pyfunc model both do it."""

from cnnlab.serving.predictors import PREDICTORS, predict

__all__ = ["PREDICTORS", "predict"]
