"""The package's imports run one way: parsed with `ast`, module level and inside functions.

- no import circle (a cycle is reported module by module);
- at most one import runs back up the floors below (FLOORS, lowest first);
- no production module imports `albert_bridge.testing` (the helpers for tests, benchmarks and fixtures);
- an albert_bridge module imported inside a function is a heavy optional framework in disguise (it imports one at
  its top) or one of the few reasons listed in LATE_IMPORTS; nothing else hides a circle that way.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "albert_bridge"

# The floors, lowest first: a module may import from its own floor and the floors below. A module is on the floor of
# the longest prefix listed (albert_bridge.formats.hf_layout -> albert_bridge.formats).
FLOORS: list[tuple[str, ...]] = [
    ("errors",),
    # Leaves that import nothing of ours but errors: tokenizer file names, the atomic output directory (and, from
    # the parallel part of issue 18, the array utilities, dtype names and the protobuf wire codec).
    ("tokenizer_files", "atomic", "arrays", "dtypes", "protowire"),
    ("config",),
    ("schema",),
    ("checkpoint",),
    ("inputs", "numpy_forward"),              # model inputs/outputs as numpy; the float64 reference forward pass
    ("export",),                              # the ONNX graph, built from canonical tensors
    ("formats",),                             # one adapter per file format, local paths only
    ("sources",),                             # a local path or Hub id -> local files: under every entry point
    ("tokenization",),
    ("inspection",),
    ("models",),
    ("deploy",),                              # deployment tiers: int8 ONNX, TFLite (from our TF2 classes)
    ("convert",),
    ("parity",),
    ("publish",),                             # push: convert + parity + model card + one commit
    ("fleet",),                               # many sources: ledger, engines (process pool, Ray), politeness
    ("cli", "__main__"),
]
# Outside the floors: test helpers that no production module may import.
TEST_HELPERS = ("albert_bridge.testing",)
# Imports of albert_bridge modules inside a function, and why each may not sit at the top of its module.
LATE_IMPORTS = {
    ("albert_bridge.formats.onnx_model", "albert_bridge.export.onnx"): "imports onnx at its top",
    ("albert_bridge.parity.backends", "albert_bridge.export.onnx"): "imports onnx at its top",
    ("albert_bridge.formats.onnx_model", "albert_bridge.export.onnx_runtime"): "imports onnx at its top",
    ("albert_bridge.parity.backends", "albert_bridge.export.onnx_runtime"): "imports onnx at its top",
    ("albert_bridge.parity.backends", "albert_bridge.deploy.tflite"): "imports tensorflow at its top",
    ("albert_bridge.deploy.tiers", "albert_bridge.deploy.tflite"): "imports tensorflow at its top",
    ("albert_bridge.publish", "albert_bridge.deploy.tiers"): "imports onnx at its top",
    ("albert_bridge.models.bridge", "albert_bridge.publish"): "push_to_hub: the one import that runs back up",
    ("albert_bridge.tokenization.saving", "albert_bridge.sources"):
        "sources loads the format registry (numpy); the tokenizers import the standard library alone",
    ("albert_bridge.parity.pytest_plugin", "albert_bridge.parity.harness"):
        "pytest loads the plugin in every session: the harness only when a test asks",
}
MOST_UPWARD_IMPORTS = 1


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _target(name: str) -> str | None:
    """The albert_bridge module an imported name lives in (`albert_bridge.formats.load` -> albert_bridge.formats)."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name if name in MODULES else None


def _imports(module: str) -> list[tuple[str, int, bool]]:
    """(imported albert_bridge module, line, inside a function) for every import statement of `module`."""
    path = MODULES[module]
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    base = ".".join(package[:len(package) - child.level + 1] + ([base] if base else []))
                names = [f"{base}.{alias.name}" for alias in child.names]
            else:
                visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))
                continue
            for name in names:
                target = _target(name) if name.startswith("albert_bridge") else None
                # The root package is every module's parent, loaded before any of them, and imports nothing.
                if target and target not in (module, "albert_bridge") and not module.startswith(target + "."):
                    found.append((target, child.lineno, in_function))

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


IMPORTS = {module: _imports(module) for module in MODULES}
GRAPH = {module: sorted({target for target, _, _ in found}) for module, found in IMPORTS.items()}


def floor(module: str) -> int | None:
    best = None
    for level, names in enumerate(FLOORS):
        for name in names:
            prefix = f"albert_bridge.{name}"
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (level, len(prefix))
    return None if best is None else best[0]


def cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module, each as one cycle through it (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, []):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(_cycle_through(sorted(component), graph))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return components


def _cycle_through(component: list[str], graph: dict[str, list[str]]) -> list[str]:
    """One cycle inside a strongly connected component, from its first module back to it (breadth first)."""
    members, start = set(component), component[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in graph.get(node, []):
            if nxt == start:
                return paths[node] + [start]
            if nxt in members and nxt not in paths:
                paths[nxt] = paths[node] + [nxt]
                queue.append(nxt)
    return component


def upward_imports() -> list[str]:
    return sorted({f"{module} -> {target} (line {line})" for module, found in IMPORTS.items()  # one per statement
                   for target, line, _ in found
                   if floor(module) is not None and floor(target) is not None and floor(target) > floor(module)})


def test_every_module_has_a_floor():
    homeless = [m for m in MODULES if m != "albert_bridge" and m not in TEST_HELPERS and floor(m) is None]
    assert not homeless, f"add these modules to FLOORS in {Path(__file__).name}: {homeless}"


def test_no_import_circle():
    found = cycles(GRAPH)
    assert not found, "import circles:\n" + "\n".join(" -> ".join(cycle) for cycle in found)


def test_the_cycle_finder_reports_a_circle():
    graph = {"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": []}
    assert cycles(graph) == [["a", "b", "c", "a"]]


def test_imports_run_one_way():
    upward = upward_imports()
    assert len(upward) <= MOST_UPWARD_IMPORTS, "imports that run back up:\n" + "\n".join(upward)


def test_no_production_module_imports_the_test_helpers():
    offenders = [f"{module} (line {line})" for module, found in IMPORTS.items() if module not in TEST_HELPERS
                 for target, line, _ in found if target in TEST_HELPERS]
    assert not offenders, "production modules importing albert_bridge.testing: " + ", ".join(offenders)


def test_imports_inside_functions_are_for_heavy_frameworks_only():
    late = {(module, target): line for module, found in IMPORTS.items()
            for target, line, in_function in found if in_function}
    unexplained = [f"{module}:{line} imports {target}" for (module, target), line in sorted(late.items())
                   if (module, target) not in LATE_IMPORTS]
    assert not unexplained, ("albert_bridge modules imported inside a function (move them to the top, or say why "
                             "in LATE_IMPORTS):\n" + "\n".join(unexplained))
    stale = [pair for pair in LATE_IMPORTS if pair not in late]
    assert not stale, f"LATE_IMPORTS lists imports that are gone: {stale}"


@pytest.mark.parametrize("module", ["albert_bridge.formats", "albert_bridge.sources", "albert_bridge.tokenizer_files"])
def test_the_lower_floors_need_nothing_above_them(module):
    """The transitive imports of a low module stay below `sources`: formats read local paths only."""
    seen, todo = set(), [module]
    while todo:
        for nxt in GRAPH[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    above = sorted(m for m in seen if floor(m) is not None and floor(m) > floor(module))
    assert not above, f"{module} reaches up to {above}"
