"""Every layer's output shape, parameters and receptive field, from one forward pass of an example input: the
"output dimensions" a CNN primer draws (conv1 32×32×32 → pool1 16×16×32 → …), for any network.

The receptive field (how many input pixels, or tokens, one output unit sees along each side) follows the standard
recurrence over convolutions and poolings, rf += (kernel - 1) × dilation × jump, jump ×= stride, walked in the order
the layers run. A layer's input is traced to the layer whose output it is (through views such as a transpose); an
input no layer made (a residual sum, a concatenation) takes the widest field recorded so far, the main path's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

SPATIAL = (nn.Conv1d, nn.Conv2d, nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)
GLOBAL = (nn.Linear, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d)


@dataclass(frozen=True)
class LayerRow:
    name: str
    kind: str
    shape: tuple[int, ...]  # one example's output (channels first, as the tensor has it)
    parameters: int
    receptive_field: int | None  # input units along one side; None: every input (after a global layer)

    def shape_text(self) -> str:
        """H×W×C for feature maps (the primer's order); other outputs as the tensor has them, batch left out."""
        if len(self.shape) == 3:
            channels, height, width = self.shape
            return f"{height}×{width}×{channels}"
        return "×".join(map(str, self.shape))


def _pair(value) -> int:
    return int(value[0] if isinstance(value, Sequence) else value)


def _step(module: nn.Module) -> tuple[int, int, int]:
    """(kernel, stride, dilation) along the first spatial axis."""
    kernel = _pair(module.kernel_size)
    stride = _pair(module.stride if module.stride is not None else module.kernel_size)
    dilation = _pair(getattr(module, "dilation", 1))
    return kernel, stride, dilation


def layer_table(network: nn.Module, example: torch.Tensor) -> list[LayerRow]:
    """One row per leaf layer that ran, in running order, for `example` (a batch of one)."""
    rows: list[LayerRow] = []
    fields: dict[int, tuple[int | None, int]] = {}  # storage of an output -> (receptive field, jump)
    keep: list[torch.Tensor] = []  # outputs stay alive, so their storages are not reused during the pass
    names = {module: name for name, module in network.named_modules()}

    def record(module: nn.Module, inputs: tuple, output) -> None:
        if not isinstance(output, torch.Tensor) or not inputs or not isinstance(inputs[0], torch.Tensor):
            return
        field, jump = fields.get(_storage(inputs[0])) or _widest(fields)
        if isinstance(module, SPATIAL) and field is not None:
            kernel, stride, dilation = _step(module)
            field, jump = field + (kernel - 1) * dilation * jump, jump * stride
        elif isinstance(module, GLOBAL):
            field = None
        fields[_storage(output)] = (field, jump)
        keep.append(output)
        parameters = sum(p.numel() for p in module.parameters(recurse=False))
        rows.append(LayerRow(names[module], type(module).__name__, tuple(output.shape[1:]), parameters, field))

    leaves = [m for m in network.modules() if not list(m.children())]
    handles = [m.register_forward_hook(record) for m in leaves]
    modes = {module: module.training for module in network.modules()}  # some may be frozen in eval on purpose
    try:
        network.eval()
        with torch.no_grad():
            fields[_storage(example)] = (1, 1)
            network(example)
    finally:
        for module, training in modes.items():
            module.training = training
        for handle in handles:
            handle.remove()
    return rows


def _storage(tensor: torch.Tensor) -> int:
    """Views (a transpose, a reshape) share their source's storage: traced through as the same output."""
    return tensor.untyped_storage().data_ptr()


def _widest(fields: dict[int, tuple[int | None, int]]) -> tuple[int | None, int]:
    if not fields:
        return 1, 1
    if any(field is None for field, _ in fields.values()):
        return None, 1
    return max(fields.values(), key=lambda item: item[0])


def format_layer_table(rows: Sequence[LayerRow], unit: str = "px") -> str:
    header = ("layer", "type", "output", "params", f"receptive field ({unit})")
    lines = [(r.name, r.kind, r.shape_text(), f"{r.parameters:,}",
              "all" if r.receptive_field is None else f"{r.receptive_field}") for r in rows]  # fmt: skip
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *lines, strict=True)]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
                     for line in [header, *lines])  # fmt: skip
