"""Replay: serve the results recorded by an earlier run, offline and bit for bit.

Minimal format (extended with the hardware-run records): an ``.npz`` file with ``probs``
(float64, (B, 2^Nq)) for every circuit call of the run concatenated in call order, ``calls``
(int64, the number of rows of each call), ``n_qubits`` and, when the run was mitigated,
``readout_confusion`` (the calibration it used, so a replay mitigates identically). The driver hands back the rows of the
next call each time it is asked, and refuses when the request does not match the record.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..circuit import CircuitSpec
from ..errors import BackendError, NoDeviceModel
from ..mitigation import uses_zne
from .base import Driver, ExecutionReport, Option

#: Largest replay record read (bytes): far above any decode quinr can make, far below a crafted bomb.
MAX_RECORD_BYTES = 1 << 32


def save_record(path: str | Path, calls: list[np.ndarray], readout_confusion: np.ndarray | None = None,
                folds: list[int] | None = None) -> Path:
    """Write the raw probability arrays of a run's calls (in order) as a replay record (atomically),
    with the folding factor of each call when the run extrapolated to zero noise."""
    from ..files import atomic_path

    p = Path(path)
    n_states = calls[0].shape[1]
    extra = {} if readout_confusion is None else {"readout_confusion": np.asarray(readout_confusion, np.float64)}
    if folds is not None and any(f != 1 for f in folds):
        extra["folds"] = np.asarray(folds, np.int64)
    with atomic_path(p) as tmp, tmp.open("wb") as f:
        np.savez(f, probs=np.concatenate(calls), calls=np.array([c.shape[0] for c in calls], np.int64),
                 n_qubits=np.int64(n_states.bit_length() - 1), **extra)
    return p


def load_record(path: str | Path) -> dict[str, np.ndarray]:
    """Read and check a replay record: a regular file, no pickles, every member's size declared
    before it is inflated, and arrays whose shapes agree."""
    import io
    import zipfile

    from ..errors import FileError
    from ..files import read_bytes

    try:
        raw = read_bytes(path, "replay record", MAX_RECORD_BYTES)
    except FileError as exc:
        raise BackendError(f"cannot read replay record: {exc}") from None
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            if sum(i.file_size for i in zf.infolist()) > MAX_RECORD_BYTES:
                raise BackendError(f"replay record {path}: its arrays would take more than {MAX_RECORD_BYTES} bytes")
        with np.load(io.BytesIO(raw), allow_pickle=False) as z:
            data = {k: z[k] for k in ("probs", "calls", "n_qubits")}
            for key in ("readout_confusion", "folds"):
                if key in z:
                    data[key] = z[key]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise BackendError(f"cannot read replay record {path}: {exc}") from None
    probs, calls, n = data["probs"], data["calls"], data["n_qubits"]
    ok = (probs.ndim == 2 and probs.dtype.kind == "f" and calls.ndim == 1 and calls.dtype.kind in "iu"
          and n.ndim == 0 and n.dtype.kind in "iu" and 1 <= int(n) <= 20 and probs.shape[1] == 1 << int(n)
          and bool(np.all(calls >= 0)) and int(calls.sum()) == probs.shape[0])
    conf = data.get("readout_confusion")
    if conf is not None:
        ok = ok and conf.dtype.kind == "f" and conf.shape == (int(n), 2, 2) and bool(np.all(np.isfinite(conf)))
    folds = data.get("folds")
    if folds is not None:
        ok = ok and folds.dtype.kind in "iu" and folds.shape == calls.shape and bool(np.all((folds >= 1) & (folds % 2 == 1)))
    if not ok:
        raise BackendError(f"replay record {path} is damaged: its arrays do not fit together")
    return data


class ReplayDriver(Driver):
    OPTIONS = {"record": Option(str, "path of the recorded results (.npz)")}

    def __init__(self, profile, options) -> None:
        super().__init__(profile, options)
        self._cursor = 0
        self._row = 0
        self._data = None

    @property
    def device_name(self) -> str:
        return f"replay:{self.options.get('record', '?')}"

    def _load(self):
        if self._data is None:
            if "record" not in self.options:
                raise BackendError("the replay backend needs -O record=PATH")
            self._data = load_record(self.options["record"])
        return self._data

    def readout_confusion(self, spec: CircuitSpec) -> np.ndarray | None:
        """The calibration the recorded run was mitigated with, if any."""
        return self._load().get("readout_confusion")

    def knows_readout(self) -> bool:
        return "readout_confusion" in self._load()

    def mitigation_problem(self, mitigate: str) -> str | None:
        """A record of a zero-noise extrapolation holds three calls per model call: it replays
        only with it, and a record without folded calls only without it."""
        recorded = "folds" in self._load()
        if recorded != uses_zne(mitigate):
            return ("the record was " + ("" if recorded else "not ") + "decoded with zero-noise extrapolation; "
                    "replay it with the mitigation it was decoded with")
        return None

    def expectation(self, spec: CircuitSpec):
        raise NoDeviceModel("a replay returns what was recorded; predict on the backend that recorded it")

    def run(self, spec: CircuitSpec, h: np.ndarray, theta: np.ndarray, shots: int | None, seed: int | None,
            report: ExecutionReport) -> np.ndarray:
        d = self._load()
        if int(d["n_qubits"]) != spec.n_qubits:
            raise BackendError(f"record has {int(d['n_qubits'])} qubits, the circuit {spec.n_qubits}")
        if self._cursor >= len(d["calls"]) or int(d["calls"][self._cursor]) != h.shape[0]:
            raise BackendError("the request does not match the recorded run (different file, crop or backend settings)")
        recorded = int(d["folds"][self._cursor]) if "folds" in d else 1
        if recorded != spec.fold:
            raise BackendError("the request does not match the recorded run: it was "
                               + ("decoded with --mitigate zne; replay it with the same mitigation" if recorded > 1
                                  or "folds" in d else "not decoded with zero-noise extrapolation"))
        rows = int(d["calls"][self._cursor])
        out = d["probs"][self._row : self._row + rows]
        self._cursor += 1
        self._row += rows
        report.circuits += rows
        report.tasks += 1
        return out
