"""The shape of the code: no import cycles (deferred imports and packages' __init__ included), every module
importable on its own, the layering rules, and a command line that answers without loading torch, Lightning or
MLflow."""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
HEAVY = ("torch", "pytorch_lightning", "mlflow")


def module_names() -> dict[str, Path]:
    names = {}
    for path in (SRC / "cnnlab").rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def imported(path: Path, known: dict[str, Path]) -> set[str]:
    """cnnlab modules `path` imports anywhere (inside functions too), except under `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text())
    type_only = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
                 and getattr(block.test, "id", "") == "TYPE_CHECKING" for node in ast.walk(block)}  # fmt: skip
    found = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("cnnlab"):
            found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                      for a in node.names}  # fmt: skip
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("cnnlab")}
    return {name for name in found if name in known}


def import_graph() -> dict[str, set[str]]:
    """Edges module -> what importing it imports: its imports, and the packages above each of them."""
    known = module_names()
    graph = {}
    for name, path in known.items():
        targets = imported(path, known)
        for target in list(targets):
            parts = target.split(".")
            targets |= {".".join(parts[:i]) for i in range(2, len(parts)) if ".".join(parts[:i]) in known}
        parents = {p for p in known if name.startswith(f"{p}.")}  # a module's own package is imported before it
        graph[name] = targets - {name} - parents
    return graph


def test_the_import_graph_has_no_cycle() -> None:
    graph, visiting, done, cycles = import_graph(), [], set(), []

    def visit(node: str) -> None:
        visiting.append(node)
        for target in sorted(graph[node]):
            if target in visiting:
                cycles.append(visiting[visiting.index(target):] + [target])
            elif target not in done:
                visit(target)
        visiting.pop()
        done.add(node)

    for node in sorted(graph):
        if node not in done:
            visit(node)
    assert cycles == []


# package (or module) -> cnnlab packages it must not import: data flows one way (config -> builders -> run)
FORBIDDEN = {
    "cnnlab.data": ("cnnlab.tasks", "cnnlab.tracking", "cnnlab.train", "cnnlab.serving", "cnnlab.commands"),
    "cnnlab.models": ("cnnlab.data", "cnnlab.tasks", "cnnlab.tracking", "cnnlab.train", "cnnlab.serving"),
    "cnnlab.tasks": ("cnnlab.tracking", "cnnlab.train", "cnnlab.serving", "cnnlab.commands"),
    "cnnlab.tracking": ("cnnlab.train", "cnnlab.dispatch", "cnnlab.preflight", "cnnlab.config", "cnnlab.cli",
                        "cnnlab.crossval", "cnnlab.resume", "cnnlab.commands"),
    "cnnlab.serving": ("cnnlab.tracking", "cnnlab.train", "cnnlab.commands", "cnnlab.explain"),
    "cnnlab.explain": ("cnnlab.tracking", "cnnlab.train", "cnnlab.commands"),
}
LEAVES = ("cnnlab.errors", "cnnlab.registry", "cnnlab.setting_types", "cnnlab.distributed", "cnnlab.signals",
          "cnnlab.run_folder", "cnnlab.config_files")  # fmt: skip


def test_the_layers_import_only_downwards() -> None:
    graph = import_graph()
    broken = [(module, target) for module, targets in graph.items() for target in targets
              for package, forbidden in FORBIDDEN.items() if module == package or module.startswith(f"{package}.")
              if target.startswith(forbidden)]  # fmt: skip
    leaves = [(leaf, sorted(graph[leaf] - {"cnnlab", "cnnlab.errors"})) for leaf in LEAVES]
    assert broken == [] and [leaf for leaf in leaves if leaf[1]] == []


def ours(name: str) -> bool:
    return name == "cnnlab" or name.startswith("cnnlab.")


def test_every_module_imports_on_its_own() -> None:
    """Each cnnlab module first, in a fresh set of cnnlab modules (third-party ones stay loaded: they are not ours
    to untangle, and reloading torch per module would take minutes). The modules loaded before are put back, so
    later tests keep the classes they imported (CnnlabError above all)."""
    loaded_before = {name: module for name, module in sys.modules.items() if ours(name)}
    failures = []
    try:
        for name in sorted(module_names()):
            for loaded in [m for m in sys.modules if ours(m)]:
                del sys.modules[loaded]
            try:
                importlib.import_module(name)
            except Exception as err:  # an ImportError from a half-initialised module, for one
                failures.append(f"{name}: {type(err).__name__}: {err}")
    finally:
        for loaded in [m for m in sys.modules if ours(m)]:
            del sys.modules[loaded]
        sys.modules.update(loaded_before)
    assert failures == []


@pytest.mark.parametrize("command", [[], ["--help"], ["train", "--help"], ["compare", "--help"], ["predict", "--help"]])
def test_the_usage_loads_no_torch_lightning_or_mlflow(command: list[str]) -> None:
    probe = (
        "import sys\nfrom cnnlab.cli import main\n"
        f"try:\n    main({command!r})\nexcept SystemExit:\n    pass\n"
        f"print('LOADED', sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(SRC)})  # fmt: skip
    assert "LOADED []" in done.stdout, done.stdout[-500:] + done.stderr[-2000:]


def test_shell_completion_lists_config_groups() -> None:
    env = {**os.environ, "COMP_LINE": "cnnlab train backbone=", "COMP_POINT": "22"}
    done = subprocess.run([str(Path(sys.executable).with_name("cnnlab")), "-sc", "query=bash"], capture_output=True,
                          text=True, timeout=120, env=env)  # fmt: skip
    assert "backbone=resnet18" in done.stdout and "backbone=lenet5" in done.stdout, done.stderr[-2000:]
