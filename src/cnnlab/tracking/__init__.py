"""Everything MLflow: run lifecycle, params, tags, artifacts and models. The only package that imports mlflow."""

from cnnlab.tracking.callbacks import MlflowArtifacts, RankConsistency, StartupTime
from cnnlab.tracking.model import log_pytorch_model, register_predictor
from cnnlab.tracking.run import ERROR_TAG, TrackedRun, tracked_run

__all__ = [
    "ERROR_TAG",
    "MlflowArtifacts",
    "RankConsistency",
    "StartupTime",
    "TrackedRun",
    "log_pytorch_model",
    "register_predictor",
    "tracked_run",
]
