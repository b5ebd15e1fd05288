"""The wheel carries the catalogue, and `import quinr` stays free of the cloud SDKs."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_installed_outside_the_checkout_lists_the_catalogue(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
                    str(ROOT)], check=True, capture_output=True)
    (wheel,) = wheels.glob("quinr-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(n for n in names if n.startswith("quinr/_catalogue/") and n.endswith(".toml"))
    assert len(shipped) == len(list((ROOT / "backends").glob("*.toml")))

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True,
                   capture_output=True)
    # the new venv borrows this environment's third-party packages (torch, SDKs) through a .pth
    # path line; .pth files of that directory are not processed, so the editable checkout of
    # quinr installed there is not visible.
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    code = ("import quinr, quinr.backends.registry as r; print(quinr.__file__); print(r.catalogue_dirs()[0]); "
            "from quinr.cli import main; main(['backends'])")
    out = subprocess.run([str(py), "-c", code], check=True, capture_output=True, text=True, cwd=tmp_path).stdout
    lines = out.splitlines()
    assert lines[0].startswith(str(venv)) and lines[1].startswith(str(venv))
    for toml in (ROOT / "backends").glob("*.toml"):
        assert f"\n{toml.stem} " in out


def test_the_default_install_covers_the_product_stack():
    import importlib.util

    for module in ("pennylane", "pennylane_qiskit", "qiskit_aer", "qiskit_ibm_runtime", "braket.pennylane_plugin",
                   "braket.devices", "torch", "numpy", "PIL"):
        assert importlib.util.find_spec(module) is not None, module


def test_pip_check_is_clean_with_the_cluster_engine_installed():
    """Ray installs beside the pinned quantum SDKs without breaking any requirement (the reason it
    replaced Dask: amazon-braket-sdk pins cloudpickle 2.2.1, recent Dask needs >= 3)."""
    import importlib.util

    assert importlib.util.find_spec("ray") is not None, "make test installs the cluster extra"
    out = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
