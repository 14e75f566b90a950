"""Export formats: how each writes an ExportSpec's module to one file, and how the file is run again to check it
(ONNX through onnxruntime, TorchScript through torch.jit, pt2 through torch.export) - never through the eager
module it came from. Each file carries the manifest (JSON) inside as well: ONNX metadata, TorchScript and pt2
extra files."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from cnnlab.errors import CnnlabError
from cnnlab.registry import Registry
from cnnlab.serving.exported import ExportSpec

MANIFEST = "cnnlab-export.json"
ONNX_OPSET = 17  # for the TorchScript-based exporter; the dynamo one picks its own
Runner = Callable[..., tuple[Tensor, ...]]  # input tensors -> output tensors
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportFormat:
    file_name: str
    runtime: str  # what runs the file, for messages and the manifest
    save: Callable[[ExportSpec, tuple[Tensor, ...], Path, str], None]  # spec, example inputs, path, manifest JSON
    load: Callable[[Path], Runner]


FORMATS: Registry[ExportFormat] = Registry("--format")


def as_tuple(outputs: Any) -> tuple[Tensor, ...]:
    return tuple(outputs) if isinstance(outputs, (tuple, list)) else (outputs,)


@contextlib.contextmanager
def exporter_quiet() -> Iterator[None]:
    """The exporters narrate every pass on stdout and warn about what tracing cannot see; the check that follows
    each export is what decides whether the file is right, so their chatter stays out of the user's console."""
    loggers = [logging.getLogger(name) for name in ("torch", "torch.onnx", "torch.export", "torch._dynamo")]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        for logger in loggers:  # a failing export logs its whole graph before raising
            logger.setLevel(logging.CRITICAL)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


def _exported_program(spec: ExportSpec, example: tuple[Tensor, ...]) -> torch.export.ExportedProgram:
    return torch.export.export(spec.module, example, dynamic_shapes=spec.dynamic_shapes())


def save_onnx(spec: ExportSpec, example: tuple[Tensor, ...], path: Path, manifest: str) -> None:
    import onnx

    names = {"input_names": list(spec.input_names), "output_names": list(spec.output_names)}
    with exporter_quiet():
        if spec.onnx_exporter == "torchscript":
            torch.onnx.export(spec.module, example, str(path), dynamo=False, opset_version=ONNX_OPSET,
                              dynamic_axes=spec.dynamic_axes(), **names)  # fmt: skip
            model = onnx.load(str(path))
        else:
            program = torch.onnx.export(spec.module, example, dynamic_shapes=spec.dynamic_shapes(), dynamo=True,
                                        verbose=False, **names)  # fmt: skip
            model = program.model_proto
    entry = model.metadata_props.add()
    entry.key, entry.value = "cnnlab", manifest
    onnx.save(model, str(path))


def load_onnx(path: Path) -> Runner:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [item.name for item in session.get_inputs()]

    def run(*inputs: Tensor) -> tuple[Tensor, ...]:
        feed = {name: tensor.numpy() for name, tensor in zip(names, inputs, strict=True)}
        return tuple(torch.from_numpy(array) for array in session.run(None, feed))

    return run


def save_torchscript(spec: ExportSpec, example: tuple[Tensor, ...], path: Path, manifest: str) -> None:
    """Scripted, which keeps control flow and any input size; a network TorchScript cannot compile is traced at the
    example's size instead (the check on the test split then says whether that held)."""
    with exporter_quiet():
        try:
            with spec.scripting():
                module = torch.jit.script(spec.module)
        except Exception as err:  # TorchScript raises many error types for code it cannot compile
            reason = next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)
            log.warning("TorchScript cannot script the network (%s); tracing it", reason[:200])
            module = torch.jit.trace(spec.module, example, check_trace=False)
        torch.jit.save(module, str(path), _extra_files={MANIFEST: manifest})


def load_torchscript(path: Path) -> Runner:
    with exporter_quiet():  # torch deprecates TorchScript in favour of torch.export; the format is still asked for
        module = torch.jit.load(str(path), map_location="cpu").eval()

    def run(*inputs: Tensor) -> tuple[Tensor, ...]:
        with warnings.catch_warnings():  # scripted torchvision detectors warn on every call that they return a pair
            warnings.simplefilter("ignore", UserWarning)
            return as_tuple(module(*inputs))

    return run


def save_pt2(spec: ExportSpec, example: tuple[Tensor, ...], path: Path, manifest: str) -> None:
    with exporter_quiet():
        program = _exported_program(spec, example)
    torch.export.save(program, str(path), extra_files={MANIFEST: manifest})


def load_pt2(path: Path) -> Runner:
    module = torch.export.load(str(path)).module()
    return lambda *inputs: as_tuple(module(*inputs))


FORMATS.add("onnx", ExportFormat("model.onnx", "onnxruntime", save_onnx, load_onnx))
FORMATS.add("torchscript", ExportFormat("model.pt", "torch.jit", save_torchscript, load_torchscript))
FORMATS.add("pt2", ExportFormat("model.pt2", "torch.export", save_pt2, load_pt2))


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of an export folder, or None where there is none."""
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CnnlabError(f"{path}: not a readable export manifest ({err}); remove the folder or pick another") from err
