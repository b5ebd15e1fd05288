"""Import rules that keep the layers apart (see docs/architecture.md)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "quinr"
VENDOR = ("qiskit", "qiskit_aer", "qiskit_ibm_runtime", "braket", "boto3", "pennylane", "pennylane_qiskit")
# The circuit spec may emit PennyLane operations (lazily, inside a function); nothing in the core
# may touch the cloud SDKs at all.
CLOUD = ("qiskit", "qiskit_aer", "qiskit_ibm_runtime", "braket", "boto3", "pennylane_qiskit")
CORE = ["circuit.py", "model.py", "train.py", "quant.py", "bitstream.py", "signal.py", "errors.py", "sim"]


def _module_imports(path: Path) -> set[str]:
    """Top-level imports of a module (imports inside functions are lazy and allowed)."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
    return names


def _all_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
    return names


@pytest.mark.parametrize("entry", CORE)
def test_core_layers_never_import_backends_or_vendor_sdks(entry):
    files = [PKG / entry] if entry.endswith(".py") else sorted((PKG / entry).glob("*.py"))
    assert files
    for f in files:
        for name in _all_imports(f):
            root = name.lstrip(".").split(".")[0]
            assert root not in CLOUD, f"{f.name} imports {name}"
            assert "backends" not in name, f"{f.name} imports {name}"


def test_no_module_imports_a_vendor_sdk_at_import_time():
    for f in sorted(PKG.rglob("*.py")):
        for name in _module_imports(f):
            assert name.split(".")[0] not in VENDOR, f"{f.relative_to(PKG)} imports {name} at module level"


def test_import_quinr_stays_free_of_quantum_sdks():
    code = f"import sys, quinr; print(sorted(m for m in sys.modules if m.split('.')[0] in {VENDOR!r}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_library_never_prints():
    for f in sorted(PKG.rglob("*.py")):
        if f.name in ("cli.py",):
            continue
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                raise AssertionError(f"{f.relative_to(PKG)} calls print()")
