"""The house rules (docs/architecture.md), computed from the static import graph of ``quinr``.

Every import counts, at module level or inside a function (it runs when the function is called),
and, to be strict, inside ``if TYPE_CHECKING:`` blocks too. Rules:

* no import cycle anywhere in ``quinr`` (no strongly connected component of two or more modules);
* the core (circuit, sim, model, train, quant, bitstream, signal, noise, and the small modules
  they use) reaches, transitively, no ``quinr.backends`` module and no quantum or cloud SDK;
* drivers never reach ``quinr.train``;
* no module is over 400 lines;
* no module imports a quantum SDK at import time, ``import quinr`` loads none, the library never
  prints.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "quinr"
SDKS = ("qiskit", "qiskit_aer", "qiskit_ibm_runtime", "braket", "boto3", "botocore", "pennylane", "pennylane_qiskit",
        "pennylane_lightning")
CORE = ("quinr.circuit", "quinr.sim", "quinr.model", "quinr.train", "quinr.quant", "quinr.bitstream", "quinr.signal",
        "quinr.noise")
DRIVERS = ("quinr.backends.torch_exact", "quinr.backends.pennylane", "quinr.backends.aer", "quinr.backends.ibm",
           "quinr.backends.braket_local", "quinr.backends.braket_device", "quinr.backends.replay")
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    out = {}
    for f in sorted(PKG.rglob("*.py")):
        parts = f.relative_to(PKG.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = f
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every module ``name`` imports (quinr modules resolved to the deepest existing module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for alias in node.names:
                sub = f"{mod}.{alias.name}"
                found.add(sub if sub in MODULES else mod)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    out = set()
    for target in found:
        if target.split(".")[0] == "quinr":
            while target not in MODULES and "." in target:
                target = target.rpartition(".")[0]
        out.add(target)
    return out - {name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _reach(start: str) -> set[str]:
    """Every module (quinr's and external) that importing and using ``start`` can import."""
    seen, todo = set(), [m for m in MODULES if m == start or m.startswith(start + ".")]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo += [t for t in GRAPH.get(m, ()) if t not in seen]
    return seen


def _cycles() -> list[list[str]]:
    """Strongly connected components of two or more quinr modules (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w not in MODULES:
                continue
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in MODULES:
        if v not in index:
            strong(v)
    return out


def test_the_graph_sees_function_level_imports():
    # quinr.codec imports the backends only inside encode(): the graph must still see it
    assert "quinr.backends" in GRAPH["quinr.codec"]
    assert "quinr.backends.registry" in _reach("quinr.hardware")


def test_there_is_no_import_cycle():
    assert _cycles() == []


@pytest.mark.parametrize("core", CORE)
def test_the_core_reaches_no_backend_and_no_sdk(core):
    assert any(m == core or m.startswith(core + ".") for m in MODULES), core
    reached = _reach(core)
    assert not [m for m in reached if m.startswith("quinr.backends")], f"{core} reaches the backends"
    assert not [m for m in reached if m.split(".")[0] in SDKS], f"{core} reaches an SDK"


@pytest.mark.parametrize("driver", DRIVERS)
def test_drivers_never_reach_train(driver):
    assert driver in MODULES
    assert "quinr.train" not in _reach(driver)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_over_400_lines(name):
    assert len(MODULES[name].read_text().splitlines()) <= MAX_LINES


def test_no_module_imports_a_vendor_sdk_at_import_time():
    for name, f in MODULES.items():
        for node in ast.parse(f.read_text()).body:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            for n in names:
                assert n.split(".")[0] not in SDKS, f"{name} imports {n} at module level"


def test_import_quinr_stays_free_of_quantum_sdks():
    code = f"import sys, quinr; print(sorted(m for m in sys.modules if m.split('.')[0] in {SDKS!r}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _is_main_block(node: ast.AST) -> bool:
    """``if __name__ == "__main__":`` (a module run as a script may print)."""
    t = getattr(node, "test", None)
    return isinstance(node, ast.If) and isinstance(t, ast.Compare) and getattr(t.left, "id", "") == "__name__"


def test_library_never_prints():
    for name, f in MODULES.items():
        if name.startswith("quinr.cli"):
            continue
        tree = ast.parse(f.read_text())
        for top in tree.body:
            if _is_main_block(top):
                continue
            for node in ast.walk(top):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                    raise AssertionError(f"{name} calls print()")
