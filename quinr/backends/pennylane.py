"""Any PennyLane device named in a profile (default.qubit, lightning.qubit, default.mixed, ...).

The circuit comes from :meth:`CircuitSpec.to_pennylane`; all coordinates go in one QNode call
with parameter broadcasting. Shots are set with ``qml.set_shots`` (never on the device, which is
deprecated) and sampling is seeded through the device seed.
"""

from __future__ import annotations

import numpy as np

from ..circuit import CircuitSpec
from ..errors import BackendError, MissingSDKError
from .base import Driver, ExecutionReport


class PennyLaneDriver(Driver):
    OPTIONS = {
        "device": (str, "PennyLane device name, e.g. default.qubit or lightning.qubit"),
        "batch": (int, "coordinates per QNode call (default: all)"),
    }

    def __init__(self, profile, options) -> None:
        super().__init__(profile, options)
        if "device" not in self.options:
            raise BackendError(f"profile {profile.name}: the pennylane driver needs options.device")

    @property
    def device_name(self) -> str:
        return self.options["device"]

    def run(self, spec: CircuitSpec, h: np.ndarray, theta: np.ndarray, shots: int | None, seed: int | None,
            report: ExecutionReport) -> np.ndarray:
        try:
            import pennylane as qml
        except ImportError:
            raise MissingSDKError("the pennylane driver needs pennylane: pip install pennylane") from None
        try:
            dev = qml.device(self.options["device"], wires=spec.n_qubits, seed=seed)
        except TypeError:
            dev = qml.device(self.options["device"], wires=spec.n_qubits)
        except qml.exceptions.DeviceError as exc:
            raise BackendError(f"PennyLane device {self.options['device']!r}: {exc}") from None

        @qml.qnode(dev, diff_method=None)
        def circuit(hh):
            spec.to_pennylane(hh, theta)
            return qml.probs(wires=range(spec.n_qubits))

        if shots is not None:
            circuit = qml.set_shots(circuit, shots=shots)
        step = self.options.get("batch") or h.shape[0]
        out = np.empty((h.shape[0], spec.n_states))
        for i in range(0, h.shape[0], step):
            part = np.asarray(circuit(h[i : i + step]), dtype=np.float64)
            out[i : i + step] = part.reshape(-1, spec.n_states)
            report.tasks += 1
        report.circuits += h.shape[0]
        return out
