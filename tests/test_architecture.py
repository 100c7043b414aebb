"""No edge goes up the pipeline: every import between edgesnn's subpackages is one that ALLOWED lists, and
ALLOWED itself has no cycle (issue 15, item 3).

Edges are read from the source with `ast`, so every import counts: top-level ones, the lazy ones inside
functions (an import on use is still a dependency; it only moves the cost), imports under
``if TYPE_CHECKING:`` and ``importlib.import_module("edgesnn....")`` with a literal name. A node is a
subpackage (``edgesnn.export``, ``edgesnn.host``, ...) or a top-level module (``edgesnn.devices``); the
zoo's training scripts are their own node ("zoo.scripts": programs like the CLI), apart from ``edgesnn.zoo``
(the shipped models' paths). ``__version__`` is a leaf: ``from edgesnn import __version__`` only reads it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "edgesnn"

# node -> the nodes it may import. The pipeline, bottom to top:
#   resources, __version__, format (the .esnn layout, model, loader, writer) -> reference (its golden
#   interpreter and kernels), neurons, data
#   -> devices, models -> checkpoint, analysis -> train -> export -> qat -> runtime -> host -> stream
#   -> cli, zoo.scripts (programs: may import anything below them), edgesnn (the package's lazy load())
ALLOWED: dict[str, set[str]] = {
    "resources": set(),
    "__version__": set(),
    "format": set(),
    "reference": {"format", "resources"},
    "neurons": set(),
    "data": {"format", "reference"},
    "devices": {"resources"},
    "models": {"neurons"},
    "checkpoint": {"__version__", "format", "models"},
    "analysis": {"data", "models", "neurons"},
    "train": {"__version__", "analysis", "checkpoint", "data", "models", "neurons"},
    "export": {
        "__version__",
        "analysis",
        "data",
        "devices",
        "format",
        "models",
        "neurons",
        "reference",
        "resources",
    },
    "qat": {
        "__version__",
        "analysis",
        "checkpoint",
        "data",
        "export",
        "format",
        "models",
        "neurons",
        "train",
    },
    "runtime": {"export", "format", "reference", "resources"},
    "host": {"devices", "export", "format", "reference", "resources", "runtime"},  # export: the arena plan
    "stream": {"data", "format", "host", "reference"},
    "zoo": set(),
    "cli": {
        "__version__",
        "analysis",
        "checkpoint",
        "data",
        "devices",
        "export",
        "format",
        "host",
        "models",
        "neurons",
        "qat",
        "reference",
        "resources",
        "runtime",
        "stream",
        "train",
        "zoo",
    },
    "zoo.scripts": {
        "__version__",
        "checkpoint",
        "cli",
        "data",
        "devices",
        "export",
        "format",
        "models",
        "qat",
        "reference",
        "train",
        "zoo",
    },
    "edgesnn": {"checkpoint"},  # edgesnn.load(), a lazy façade
    "__main__": {"cli"},
}

# Edges that break ALLOWED today, each with where it is and what removes it; the test fails when one goes
# away (delete it here) or a new one appears.
KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {}


def _node(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "edgesnn":
        return None
    if len(parts) == 1 or parts[1] == "__version__":
        return "__version__"
    top = parts[1]
    if top == "checkpoint_errors":
        return "checkpoint"
    if top == "zoo" and len(parts) > 2:
        return "zoo.scripts"
    return top


def _source_node(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    if rel.parts == ("edgesnn", "__init__"):
        return "edgesnn"
    parts = [p for p in rel.parts if p != "__init__"]
    node = _node(".".join(parts))
    assert node is not None
    return node


def _is_module(module: str) -> bool:
    path = PACKAGE.parent.joinpath(*module.split("."))
    return path.is_dir() or path.with_suffix(".py").is_file()


def _imports(path: Path) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import in ``path``, wherever it stands in the file."""
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    package = list(rel.parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:  # `from edgesnn import checkpoint` imports edgesnn.checkpoint
                sub = f"{module}.{alias.name}"
                yield (sub if _is_module(sub) else module), node.lineno
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.args[0].value, node.lineno


def edges() -> dict[tuple[str, str], list[str]]:
    """(importing node, imported node) -> where, over every module of the package."""
    found: dict[tuple[str, str], list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        src = _source_node(path)
        for module, line in _imports(path):
            dst = _node(module)
            if dst is not None and dst != src:
                found.setdefault((src, dst), []).append(f"{path.relative_to(PACKAGE.parent)}:{line}")
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return [*stack[stack.index(m) :], m]
            if m not in state and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_allowed_graph_is_a_dag():
    assert _cycle(ALLOWED) is None, f"ALLOWED has a cycle: {' -> '.join(_cycle(ALLOWED) or [])}"
    unknown = {d for ds in ALLOWED.values() for d in ds} - set(ALLOWED)
    assert not unknown, f"ALLOWED names nodes it does not define: {sorted(unknown)}"


def test_every_module_maps_to_a_node():
    nodes = {_source_node(p) for p in PACKAGE.rglob("*.py")}
    new = sorted(nodes - set(ALLOWED))
    assert not new, f"new top-level nodes, place them in ALLOWED: {new}"


def test_no_upward_or_cyclic_edge():
    bad = {
        edge: where
        for edge, where in edges().items()
        if edge[1] not in ALLOWED.get(edge[0], set()) and edge not in KNOWN_VIOLATIONS
    }
    lines = [f"{a} -> {b}: {', '.join(w[:3])}" for (a, b), w in sorted(bad.items())]
    assert not bad, "imports that go up the pipeline (or are not in ALLOWED):\n" + "\n".join(lines)


def test_known_violations_still_exist():
    """Each listed violation is still there (none today: export -> qat went, the integer model of a QAT
    checkpoint is passed to export_model by its caller)."""
    gone = sorted(edge for edge in KNOWN_VIOLATIONS if edge not in edges())
    assert not gone, f"{gone} are gone: delete them from KNOWN_VIOLATIONS"


def test_the_check_sees_lazy_imports():
    """A lazy import inside a function is an edge: export_cmd imports qat only in its QAT branch."""
    assert "edgesnn/cli/export_cmd.py" in " ".join(edges()[("cli", "qat")])
