"""Any PennyLane device named in a profile (default.qubit, lightning.qubit, default.mixed, ...).

The circuit is the spec's lowering (:func:`quinr.circuit.lower`), emitted op for op by
:func:`emit`: RX, RZ, IsingZZ, and, with ``-O noise=...`` (a :class:`quinr.noise.NoiseSpec`, on a
mixed-state device such as default.mixed), DepolarizingChannel, AmplitudeDamping, a 16-operator
QubitChannel for two-qubit depolarizing (PennyLane has none) and the readout flip as a
QubitChannel before measurement. All coordinates go in one QNode call with parameter
broadcasting. Shots are set with ``qml.set_shots`` (never on the device, which is deprecated) and
sampling is seeded through the device seed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..circuit import BARRIER, CircuitSpec, Op, lower
from ..errors import BackendError, MissingSDKError
from ..mitigation import uses_zne
from ..noise import readout_kraus, two_qubit_depolarizing_kraus
from .base import NOISE_OPTION, Driver, ExecutionReport, Option


def emit(ops: list[Op], h: Any, theta: Any) -> None:
    """Queue a lowered circuit as PennyLane operations (inside a QNode or a tape). ``h`` may carry
    a leading batch dimension (``(B, M)``): PennyLane broadcasts the embedding gates."""
    import pennylane as qml

    for op in ops:
        w = list(op.wires)
        if op.kind == "RX":
            qml.RX(op.angle.value(h, theta), wires=w)
        elif op.kind == "RZ":
            qml.RZ(op.angle.value(h, theta), wires=w)
        elif op.kind == "ZZ":
            qml.IsingZZ(op.angle.value(h, theta), wires=w)
        elif op.kind == "DEPOLARIZING":
            qml.DepolarizingChannel(op.params[0], wires=w)
        elif op.kind == "DAMPING":
            qml.AmplitudeDamping(op.params[0], wires=w)
        elif op.kind == "DEPOLARIZING2":
            qml.QubitChannel(two_qubit_depolarizing_kraus(op.params[0]), wires=w)
        elif op.kind == "READOUT":
            qml.QubitChannel(readout_kraus(*op.params), wires=w)
        elif op.kind == BARRIER:
            qml.Barrier(wires=w)
        else:  # pragma: no cover - lower() emits nothing else
            raise BackendError(f"the PennyLane driver cannot run {op.kind}")


#: PennyLane devices that simulate in this process. Any other device name (``braket.aws.qubit``,
#: ``qiskit.remote``, a cloud plugin's) may send circuits to a provider that bills, so it is
#: treated as a real device: billed, and refused on a free profile.
LOCAL_DEVICES = frozenset({
    "default.qubit", "default.mixed", "default.gaussian", "default.tensor", "default.clifford", "default.qutrit",
    "default.qutrit.mixed", "null.qubit", "reference.qubit", "lightning.qubit", "lightning.gpu", "lightning.kokkos",
    "lightning.tensor", "qiskit.aer", "qiskit.basicsim", "braket.local.qubit",
})


class PennyLaneDriver(Driver):
    OPTIONS = {
        "device": Option(str, "PennyLane device name, e.g. default.qubit or lightning.qubit"),
        "batch": Option(int, "coordinates per QNode call (default: all)", minimum=1),
        **NOISE_OPTION,
    }

    @classmethod
    def remote_target(cls, options):
        device = options.get("device")
        return None if device is None or device in LOCAL_DEVICES else f"device={device}"

    def __init__(self, profile, options) -> None:
        super().__init__(profile, options)
        if "device" not in self.options:
            raise BackendError(f"profile {profile.name}: the pennylane driver needs options.device")
        if profile.pricing.billed and profile.max_circuits_per_task != 1:
            # a cloud plugin sends every circuit of a broadcast (or batched) QNode call as its own
            # task, so only one circuit per task lets the guard charge what the provider bills
            raise BackendError(f"profile {profile.name}: a billed PennyLane device is charged per circuit, as its "
                               "plugin submits them: set max_circuits_per_task = 1")

    @property
    def device_name(self) -> str:
        return self.options["device"]

    def mitigation_problem(self, mitigate: str) -> str | None:
        if not uses_zne(mitigate) or self.options["device"] in LOCAL_DEVICES:
            return None
        return ("its provider compiles circuits and may merge a folded gate with its inverse, so zero-noise "
                "extrapolation would pay three times for nothing; quinr refuses it there")  # a remote device compiles past qml.Barrier

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

        ops = lower(spec, self.noise)

        @qml.qnode(dev, diff_method=None)
        def circuit(hh):
            emit(ops, hh, theta)
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
