"""Run records: what a decode on a backend leaves behind so that anyone can audit and re-decode
it offline, bit for bit (``hardware_runs/README.md`` documents the layout).

A record directory (the decode's ``--run-dir``) holds ``manifest.json`` (what ran, where, with
which software, what it cost, and the notes of a resumed run), ``input.qinr`` (the decoded file),
``results.npz`` (the raw results of every circuit, and the readout calibration when mitigated: a
``replay`` record), ``decoded.png`` or ``decoded.npy``, ``metrics.json``, ``reference.npy`` (the
exact decode the metrics compare with, kept so that a replay simulates no circuit and so cannot
depend on how a CPU rounds a float32 simulation), and the checkpoint files of the run. Every file
is written atomically.

Nothing secret is written: everything goes through the run's :class:`~quinr.redact.Redactor`
(credential-like option values, and anything shaped like a CRN or an access key id), and no
environment variable is ever read into a record.

Reading a record (:func:`read_record`) trusts nothing in it: the manifest's keys and types are
checked, and only regular files inside the record are opened (no ``..``, no absolute path, no
link leading out), without pickles.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .checks import finite
from .errors import BitstreamError, FileError, QuinrError
from .files import atomic_write, inside, read_bytes
from .redact import Redactor

SCHEMA = "quinr.run-record/1"
_SDKS = ("torch", "pennylane", "qiskit", "qiskit-aer", "qiskit-ibm-runtime", "amazon-braket-sdk", "numpy")


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
    return Redactor(options).options(options)


def _json_bytes(doc: Any) -> bytes:
    return (json.dumps(doc, indent=2, default=str) + "\n").encode()


def write_record(run_dir: Path, *, data: bytes, backend, report, shots, seed, crop, scale, mitigate,
                 calls: list[np.ndarray], signal, exact, command: list[str] | None, redactor: Redactor | None = None,
                 folds: list[int] | None = None) -> Path:
    """Write the record files of a finished decode into ``run_dir``, each atomically, everything
    written going through ``redactor``."""
    from .backends.replay import save_record
    from .signal import save_signal

    redactor = redactor or backend.redactor()
    run_dir = Path(run_dir)
    atomic_write(run_dir / "input.qinr", data)
    conf = None if report.readout_confusion is None else np.array(report.readout_confusion)
    save_record(run_dir / "results.npz", calls, conf, folds)
    from .signal import output_suffixes

    out = save_signal(signal, run_dir / ("decoded" + output_suffixes(signal.kind, signal.channels, len(signal.grid))[0]))
    buf = io.BytesIO()
    np.save(buf, exact.data)
    atomic_write(run_dir / "reference.npy", buf.getvalue())  # the metrics' reference: replay needs no simulator
    atomic_write(run_dir / "metrics.json", _json_bytes(metrics(signal, exact)))
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
                    "pricing_date": p.pricing.date or None, "overrides_builtin": p.overrides_builtin},
        "emulated": p.kind != "qpu" and not backend.remote_target,
        "calibration_date": backend.driver.calibration_date(),
        "options": report.options,
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
        "notes": report.notes,
        "prediction": report.prediction,
        "sdk_versions": _versions(),
        "outputs": {"decoded": out.name, "results": "results.npz", "metrics": "metrics.json",
                    "reference": "reference.npy"},
    }
    return atomic_write(run_dir / "manifest.json", _json_bytes(redactor.json(manifest)))


def _quinr_version() -> str:
    from .version import __version__

    return __version__


#: What a manifest must hold for a replay, with the types each key may have.
_MANIFEST_KEYS: dict[str, tuple[type, ...]] = {
    "input": (dict,), "shots": (int, type(None)), "crop": (list, type(None)), "scale": (int, float, type(None)),
    "mitigation": (str, type(None)),
}
#: Largest manifest, metrics or reference file read from a record.
_MAX_JSON = 1 << 20
_MAX_ARRAY = 1 << 31


@dataclass(frozen=True)
class Record:
    """A run record, read and checked (see :func:`read_record`)."""

    path: Path
    manifest: dict[str, Any]
    metrics: dict[str, Any]
    data: bytes
    results: Path
    crop: tuple[int, int, int, int] | None
    has_reference: bool

    def reference(self, like) -> Any:
        """The exact decode the metrics compare with, as a signal of ``like``'s kind and range."""
        from .signal import Signal

        p = inside(self.path, "reference.npy")
        try:
            arr = np.load(io.BytesIO(read_bytes(p, "reference decode", _MAX_ARRAY)), allow_pickle=False)
            return Signal(arr, like.kind, like.vmin, like.vmax)
        except (OSError, ValueError, EOFError, QuinrError) as exc:
            raise BitstreamError(f"{p} is not this record's reference decode: {exc}") from None


def read_record(run_dir: str | Path) -> Record:
    """A run record's manifest, metrics and input, checked: keys and types as the schema says,
    every file a regular file inside the record, the input's sha256 the manifest's."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise FileError(f"{run_dir}: no such folder (a run record is a folder written by decode --run-dir)")
    if not run_dir.is_dir():
        raise FileError(f"{run_dir}: not a run record (not a folder)")
    try:
        manifest = json.loads(read_bytes(inside(run_dir, "manifest.json"), "manifest", _MAX_JSON))
        metrics_doc = json.loads(read_bytes(inside(run_dir, "metrics.json"), "metrics file", _MAX_JSON))
    except FileError as exc:
        raise FileError(f"{run_dir} is not a quinr run record: {exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BitstreamError(f"{run_dir} is not a quinr run record: {exc}") from None
    if not isinstance(manifest, dict) or not isinstance(metrics_doc, dict):
        raise BitstreamError(f"{run_dir}: manifest.json and metrics.json must hold JSON objects")
    for key, types in _MANIFEST_KEYS.items():
        if key not in manifest:
            raise BitstreamError(f"{run_dir}: manifest.json has no {key!r}")
        if isinstance(manifest[key], bool) or not isinstance(manifest[key], types):
            raise BitstreamError(f"{run_dir}: manifest.json's {key!r} has the wrong type ({type(manifest[key]).__name__})")
    name, digest = manifest["input"].get("file"), manifest["input"].get("sha256")
    if not isinstance(name, str) or not isinstance(digest, str):
        raise BitstreamError(f"{run_dir}: manifest.json's input needs a file name and its sha256")
    data = read_bytes(inside(run_dir, name), "recorded bitstream", 1 << 30)
    if hashlib.sha256(data).hexdigest() != digest:
        raise BitstreamError(f"{run_dir}: {name} is not the file the manifest recorded (sha256 differs)")
    crop = manifest["crop"]
    if crop is not None and not (len(crop) in (2, 4) and all(isinstance(v, int) and not isinstance(v, bool) for v in crop)):
        raise BitstreamError(f"{run_dir}: manifest.json's crop must be two or four integers")
    scale = manifest["scale"]
    if scale is not None and not finite(scale):
        raise BitstreamError(f"{run_dir}: manifest.json's scale must be a finite number")
    results = inside(run_dir, "results.npz")
    has_reference = (run_dir / "reference.npy").exists() or (run_dir / "reference.npy").is_symlink()
    return Record(run_dir, manifest, metrics_doc, data, results, tuple(crop) if crop else None, has_reference)


def metrics(signal, exact) -> dict[str, Any]:
    """A record's metrics.json: PSNR against the exact decode of the same window, and a hash of the
    decoded samples (what replay compares, bit for bit)."""
    from .signal import psnr

    return {"psnr_vs_exact_decode": psnr(exact, signal), "peak": exact.peak,
            "decoded_sha256": hashlib.sha256(np.ascontiguousarray(signal.data).tobytes()).hexdigest()}
