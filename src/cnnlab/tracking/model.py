"""The trained network as an MLflow model (mlflow.pytorch) with a signature and an input example."""

from __future__ import annotations

import copy
import logging
import sys

import mlflow
import numpy as np
import torch
import torchvision
from mlflow.models import infer_signature
from torch import nn

import cnnlab
from cnnlab.tracking.provenance import SOURCE_DIR
from cnnlab.tracking.run import TrackedRun

log = logging.getLogger(__name__)


def log_pytorch_model(run: TrackedRun, network: nn.Module, example: torch.Tensor) -> str:
    """Logs `network` (on CPU, eval mode) as the run's "model"; returns the model URI.

    The model is saved as a torch.export program (pt2): loading it runs no pickled code and needs no cnnlab.
    A network that torch.export cannot trace falls back to pickle, with cnnlab's source attached (code_paths).
    """
    network = copy.deepcopy(network).cpu().eval()
    # Two images: torch.export specialises a batch dimension of 1 to a constant.
    example_np = example[:2].detach().cpu().numpy().astype(np.float32)
    with torch.no_grad():
        output = network(torch.from_numpy(example_np)).numpy()
    common = {
        "name": "model",
        "signature": infer_signature(example_np, output),
        "input_example": example_np,
        "pip_requirements": _requirements(),
        "metadata": {"cnnlab_version": cnnlab.__version__},
    }
    mlflow.set_tracking_uri(run.tracking_uri)
    with mlflow.start_run(run_id=run.run_id):
        try:
            info = mlflow.pytorch.log_model(network, serialization_format="pt2", **common)
        except Exception as err:  # torch.export raises many types for untraceable code
            log.warning("torch.export failed (%s); logging the model pickled instead", str(err).splitlines()[0])
            info = mlflow.pytorch.log_model(
                network, serialization_format="pickle", code_paths=[str(SOURCE_DIR)], **common
            )
    return info.model_uri


def _requirements() -> list[str]:
    packages = {"torch": torch.__version__, "torchvision": torchvision.__version__}
    if "timm" in sys.modules:
        packages["timm"] = sys.modules["timm"].__version__
    return [f"{name}=={version.split('+')[0]}" for name, version in packages.items()]
