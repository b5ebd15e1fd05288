"""Any PennyLane device named in a profile (default.qubit, lightning.qubit, default.mixed, ...).

The circuit comes from :meth:`CircuitSpec.to_pennylane`; all coordinates go in one QNode call
with parameter broadcasting. Shots are set with ``qml.set_shots`` (never on the device, which is
deprecated) and sampling is seeded through the device seed.

With ``-O noise=...`` (a :class:`quinr.noise.NoiseSpec`, on a mixed-state device such as
default.mixed) the circuit is written with CRZ compiled as RZ_target(t/2) IsingZZ(-t/2) and the
spec's channels after every gate, as the Qiskit and Braket drivers do: DepolarizingChannel,
AmplitudeDamping, a 16-operator QubitChannel for two-qubit depolarizing (PennyLane has none) and
the readout flip as a QubitChannel before measurement.
"""

from __future__ import annotations

import numpy as np

from ..circuit import CircuitSpec
from ..errors import BackendError, MissingSDKError
from ..noise import NoiseSpec, two_qubit_depolarizing_kraus
from .base import NOISE_OPTION, Driver, ExecutionReport, Option


def noisy_ops(spec: CircuitSpec, h, theta, noise: NoiseSpec) -> None:
    """Queue the circuit with ``noise``'s channels (inside a QNode)."""
    import pennylane as qml

    def after_1q(q: int) -> None:
        if noise.depolarizing:
            qml.DepolarizingChannel(noise.depolarizing, wires=q)
        if noise.damping:
            qml.AmplitudeDamping(noise.damping, wires=q)

    k2 = two_qubit_depolarizing_kraus(noise.depolarizing2) if noise.depolarizing2 else None
    for g in spec.gates():
        angle = spec.angle_scale * h[..., g.index] if g.source == "h" else theta[..., g.index]
        if g.name == "CRZ":
            ctrl, targ = g.wires
            qml.RZ(0.5 * angle, wires=targ)
            after_1q(targ)
            qml.IsingZZ(-0.5 * angle, wires=[ctrl, targ])
            if k2 is not None:
                qml.QubitChannel(k2, wires=[ctrl, targ])
            if noise.damping:
                qml.AmplitudeDamping(noise.damping, wires=ctrl)
                qml.AmplitudeDamping(noise.damping, wires=targ)
        else:
            getattr(qml, g.name)(angle, wires=g.wires[0])
            after_1q(g.wires[0])
    for w, ops in noise.readout_channels(spec.n_qubits):
        qml.QubitChannel(ops, wires=w)


class PennyLaneDriver(Driver):
    OPTIONS = {
        "device": Option(str, "PennyLane device name, e.g. default.qubit or lightning.qubit"),
        "batch": Option(int, "coordinates per QNode call (default: all)", minimum=1),
        **NOISE_OPTION,
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
            if self.noise.noiseless:
                spec.to_pennylane(hh, theta)
            else:
                noisy_ops(spec, hh, theta, self.noise)
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
