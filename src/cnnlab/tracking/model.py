"""The trained network as an MLflow model (mlflow.pytorch) with a signature and an input example."""

from __future__ import annotations

import copy
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


def log_pytorch_model(run: TrackedRun, network: nn.Module, example: torch.Tensor) -> str:
    """Logs `network` (on CPU, eval mode) under the run's "model" artifact; returns the model URI.

    cnnlab's source travels with the model (code_paths) so it loads where cnnlab is not installed.
    """
    network = copy.deepcopy(network).cpu().eval()
    example_np = example[:1].detach().cpu().numpy().astype(np.float32)
    with torch.no_grad():
        output = network(torch.from_numpy(example_np)).numpy()
    requirements = [
        f"torch=={torch.__version__.split('+')[0]}",
        f"torchvision=={torchvision.__version__.split('+')[0]}",
    ]
    if "timm" in sys.modules:
        requirements.append(f"timm=={sys.modules['timm'].__version__}")
    mlflow.set_tracking_uri(run.tracking_uri)
    with mlflow.start_run(run_id=run.run_id):
        info = mlflow.pytorch.log_model(
            network,
            name="model",
            signature=infer_signature(example_np, output),
            input_example=example_np,
            pip_requirements=requirements,
            code_paths=[str(SOURCE_DIR)],
            metadata={"cnnlab_version": cnnlab.__version__},
        )
    return info.model_uri
