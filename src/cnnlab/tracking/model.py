"""The trained network as an MLflow model (mlflow.pytorch) with a signature and an input example."""

from __future__ import annotations

import copy
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
import numpy as np
import torch
import torchvision
import yaml
from mlflow.models import ModelSignature, infer_signature
from mlflow.types import Schema, TensorSpec
from torch import nn

import cnnlab
from cnnlab.tracking.provenance import SOURCE_DIR
from cnnlab.tracking.run import TrackedRun

log = logging.getLogger(__name__)


def log_pytorch_model(
    run: TrackedRun, network: nn.Module, example: torch.Tensor, dynamic_dims: tuple[int, ...] = (0,)
) -> str:
    """Logs `network` (on CPU, eval mode) as the run's "model"; returns the model URI.

    dynamic_dims: input dimensions that may vary between calls (the batch; also the length of sentences).

    The model is saved as a torch.export program (pt2): loading it runs no pickled code and needs no cnnlab.
    A network that torch.export cannot trace falls back to pickle, with cnnlab's source attached (code_paths).
    """
    network = copy.deepcopy(network).cpu().eval()
    # Two samples: torch.export specialises a batch dimension of 1 to a constant.
    example = example[:2].detach().cpu()
    example_np = example.numpy().astype(np.float32 if example.is_floating_point() else np.int64)
    with torch.no_grad():
        output = network(torch.from_numpy(example_np)).numpy()
    common = {
        "name": "model",
        "signature": _signature(example_np, output, dynamic_dims),
        "input_example": example_np,
        "pip_requirements": _requirements(),
        "metadata": {"cnnlab_version": cnnlab.__version__},
    }
    with logging_into(run):
        try:
            info = mlflow.pytorch.log_model(network, serialization_format="pt2", **common)
        except Exception as err:  # torch.export raises many types for untraceable code
            log.warning("torch.export failed (%s); logging the model pickled instead", str(err).splitlines()[0])
            info = mlflow.pytorch.log_model(
                network, serialization_format="pickle", code_paths=[str(SOURCE_DIR)], **common
            )
    return info.model_uri


@contextmanager
def logging_into(run: TrackedRun) -> Iterator[None]:
    """MLflow's fluent API (model logging has no client form) aimed at `run` for this block only. Setting MLflow's
    tracking URI also sets MLFLOW_TRACKING_URI in the environment: both are put back after, so that a later run of
    this process (a sweep's next job, evaluate after train) goes where its own settings say."""
    saved = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(run.tracking_uri)
    try:
        with mlflow.start_run(run_id=run.run_id):
            yield
    finally:
        mlflow.set_tracking_uri(None)
        if saved is not None:
            os.environ["MLFLOW_TRACKING_URI"] = saved


def _signature(example: np.ndarray, output: np.ndarray, dynamic_dims: tuple[int, ...]) -> ModelSignature:
    """Tensor specs with -1 (any size) on the dynamic input dimensions, which torch.export then keeps dynamic."""
    shape = tuple(-1 if dim in dynamic_dims else size for dim, size in enumerate(example.shape))
    inputs = Schema([TensorSpec(example.dtype, shape)])
    return ModelSignature(inputs=inputs, outputs=infer_signature(example, output).outputs)


def _requirements() -> list[str]:
    packages = {"torch": torch.__version__, "torchvision": torchvision.__version__}
    if "timm" in sys.modules:
        packages["timm"] = sys.modules["timm"].__version__
    return [f"{name}=={version.split('+')[0]}" for name, version in packages.items()]


def register_predictor(run: TrackedRun, checkpoint: str, config: dict, name: str) -> str:
    """Logs the run's predictor (cnnlab.serving.pyfunc: raw inputs, the run's pre-processing) as "predictor" and
    registers it as model `name`; returns the new version, loadable as models:/<name>/<version>."""
    from cnnlab.tracking.pyfunc import CnnlabPredictor

    with tempfile.TemporaryDirectory() as folder:
        config_file = Path(folder) / "config.yaml"
        config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        with logging_into(run):
            info = mlflow.pyfunc.log_model(
                name="predictor",
                python_model=CnnlabPredictor(),
                artifacts={"checkpoint": str(checkpoint), "config": str(config_file)},
                code_paths=[str(SOURCE_DIR)],
                pip_requirements=_requirements(),
                registered_model_name=name,
            )
    return str(info.registered_model_version)
