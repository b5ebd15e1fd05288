"""Run records: what a decode on a backend leaves behind so that anyone can audit and re-decode
it offline, bit for bit (``hardware_runs/README.md`` documents the layout).

A record directory (the decode's ``--run-dir``) holds ``manifest.json`` (what ran, where, with
which software, what it cost), ``input.qinr`` (the decoded file), ``results.npz`` (the raw
results of every circuit, and the readout calibration when mitigated: a ``replay`` record),
``decoded.png`` or ``decoded.npy``, ``metrics.json``, ``reference.npy`` (the exact decode the
metrics compare with, kept so that a replay simulates no circuit and so cannot depend on how a
CPU rounds a float32 simulation), and the checkpoint files of the run.

Nothing secret is written: options whose names look like credentials or account ids are
redacted, and no environment variable is ever read into a record.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .errors import BitstreamError, QuinrError

SCHEMA = "quinr.run-record/1"
_SDKS = ("torch", "pennylane", "qiskit", "qiskit-aer", "qiskit-ibm-runtime", "amazon-braket-sdk", "numpy")
_SECRET_OPTION = re.compile(r"token|secret|password|key|credential|instance|account|crn", re.I)


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _versions() -> dict[str, str | None]:
    out = {}
    for name in _SDKS:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def safe_options(options: dict[str, Any]) -> dict[str, str]:
    """Backend options fit for a record: values as text, credential-like keys redacted."""
    return {k: ("<redacted>" if _SECRET_OPTION.search(k) else str(v)) for k, v in sorted(options.items())}


def calibration_date(backend) -> str | None:
    """The calibration snapshot date a run used, where the backend has one."""
    if "fake_device" in backend.driver.options:
        try:
            return backend.driver._runtime_backend()[0].properties().last_update_date.date().isoformat()
        except Exception:  # noqa: BLE001 - best effort: a record without the date is still a record
            return None
    src = backend.driver.noise.source
    return src or None


def write_record(run_dir: Path, *, data: bytes, backend, report, shots, seed, crop, scale, mitigate,
                 calls: list[np.ndarray], signal, exact, command: list[str] | None) -> Path:
    """Write the record files of a finished decode into ``run_dir``."""
    from .backends.replay import save_record
    from .signal import save_signal

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "input.qinr").write_bytes(data)
    conf = None if report.readout_confusion is None else np.array(report.readout_confusion)
    save_record(run_dir / "results.npz", calls, conf)
    out = save_signal(signal, run_dir / ("decoded.npy" if signal.kind.name == "F32" else "decoded.png"))
    np.save(run_dir / "reference.npy", exact.data)  # the metrics' reference, so replay needs no simulator
    (run_dir / "metrics.json").write_text(json.dumps(_metrics(signal, exact), indent=2) + "\n")
    p = backend.profile
    manifest = {
        "schema": SCHEMA,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "command": command,
        "quinr_version": _quinr_version(),
        "git_commit": _git_commit(),
        "input": {"file": "input.qinr", "sha256": hashlib.sha256(data).hexdigest()},
        "backend": {"name": p.name, "driver": p.driver, "kind": p.kind, "device": report.device,
                    "profile_description": p.description, "pricing": p.pricing.describe(),
                    "pricing_date": p.pricing.date or None},
        "emulated": p.kind != "qpu",
        "calibration_date": calibration_date(backend),
        "options": safe_options(report.options),
        "noise": report.noise,
        "mitigation": mitigate,
        "shots": shots,
        "seed": seed,
        "crop": list(crop) if crop else None,
        "scale": scale,
        "circuits": report.circuits,
        "tasks": report.tasks,
        "task_ids": report.task_ids,
        "estimated_cost": report.estimated_cost,
        "billed_cost": report.billed_cost,
        "billed_tasks": report.billed_tasks,
        "currency": report.currency,
        "seconds": report.seconds,
        "sdk_versions": _versions(),
        "outputs": {"decoded": out.name, "results": "results.npz", "metrics": "metrics.json",
                    "reference": "reference.npy"},
    }
    path = run_dir / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    return path


def _quinr_version() -> str:
    from . import __version__

    return __version__


def replay_record(run_dir: str | Path) -> dict[str, Any]:
    """Re-decode a record offline through the ``replay`` backend and compare with what it saved:
    returns the recorded and replayed metrics and whether the decoded signal is identical."""
    from .codec import decode, decode_on_backend
    from .signal import Signal

    run_dir = Path(run_dir)
    try:
        manifest = json.loads((run_dir / "manifest.json").read_text())
        metrics = json.loads((run_dir / "metrics.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BitstreamError(f"{run_dir} is not a quinr run record: {exc}") from None
    data = (run_dir / manifest["input"]["file"]).read_bytes()
    crop = tuple(manifest["crop"]) if manifest["crop"] else None
    sig, _ = decode_on_backend(data, "replay", shots=manifest["shots"], options={"record": str(run_dir / "results.npz")},
                               crop=crop, scale=manifest["scale"], mitigate=manifest["mitigation"])
    ref = run_dir / "reference.npy"
    if ref.exists():  # no circuit is simulated: only the recorded probabilities' post-processing runs
        try:
            exact = Signal(np.load(ref, allow_pickle=False), sig.kind, sig.vmin, sig.vmax)
        except (OSError, ValueError, QuinrError) as exc:
            raise BitstreamError(f"{ref} is not this record's reference decode: {exc}") from None
    else:  # records written before the reference was kept
        exact = decode(data, crop=crop, scale=manifest["scale"])
    again = _metrics(sig, exact)
    return {"recorded": metrics, "replayed": again, "identical": again == metrics}


def _metrics(signal, exact) -> dict[str, Any]:
    """A record's metrics.json: PSNR against the exact decode of the same window, and a hash of the
    decoded samples (what replay compares, bit for bit)."""
    from .signal import psnr

    return {"psnr_vs_exact_decode": psnr(exact, signal), "peak": exact.peak,
            "decoded_sha256": hashlib.sha256(np.ascontiguousarray(signal.data).tobytes()).hexdigest()}
