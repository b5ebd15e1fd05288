"""Qiskit Aer simulators, driven directly (driver ``aer``; the ``qiskit`` family's local target).

Why not PennyLane's ``qiskit.aer`` device: it builds and transpiles one circuit per coordinate
(about 70 ms each), silently drops a noise model on the statevector method and samples on
density_matrix even with shots=None. Here the circuit is built once with the embedding angles as
parameters (the circuit angles theta are bound as numbers, so no controlled rotation is ever
parameterised: Aer 0.17 binds parameterised CRZ wrongly), and every coordinate is one parameter
set of a single job per task.

``method`` is statevector or density_matrix. Exact probabilities come from Aer's
``save_probabilities`` (exact and noisy-exact with density_matrix); shots sample ``measure_all``.
The circuit is the spec's lowering (:func:`quinr.circuit.lower`), op for op: native RX, RZ and
RZZ, and the noise channels of ``-O noise=...`` as Aer quantum errors where the lowering places
them (readout as a Kraus channel just before measurement, so ``save_probabilities`` carries it
too).

Index order: wire w of quinr is Qiskit qubit n-1-w, so Qiskit's little-endian integers are
quinr's indices (wire 0 most significant) directly.
"""

from __future__ import annotations

import numpy as np

from ..circuit import BARRIER, CircuitSpec, lower
from ..errors import BackendError, MissingSDKError
from ..noise import NoiseSpec, readout_kraus
from .base import NOISE_OPTION, Driver, ExecutionReport, Option, counts_to_probs, task_chunks
from .options import noise_shorthands

#: The options of the ``qiskit`` family (a profile may name the family; the registry picks the
#: target, Aer or IBM Runtime, from them). Each target refuses what does not apply to it.
QISKIT_OPTIONS = {
    "method": Option(str, "Aer method", "statevector", choices=("statevector", "density_matrix")),
    "fake_device": Option(str, "a qiskit_ibm_runtime.fake_provider class, e.g. FakeTorino (IBM Runtime target)"),
    "ibm_backend": Option(str, "an IBM Quantum backend name, e.g. ibm_torino (real hardware; IBM Runtime target)"),
    "channel": Option(str, "QiskitRuntimeService channel (default: the saved account's)"),
    "instance": Option(str, "QiskitRuntimeService instance (CRN)", secret=True),
    "optimization_level": Option(int, "transpiler optimization level for device targets", 1, minimum=0, maximum=3),
    **NOISE_OPTION,
    **noise_shorthands("Aer density_matrix"),
}


def _import_qiskit():
    try:
        import qiskit
        import qiskit_aer
    except ImportError:
        raise MissingSDKError("the qiskit driver needs qiskit and qiskit-aer: pip install qiskit qiskit-aer") from None
    return qiskit, qiskit_aer


def build_circuit(spec: CircuitSpec, theta: np.ndarray, noise: NoiseSpec | None = None):
    """The lowered circuit (:func:`quinr.circuit.lower`) as a Qiskit QuantumCircuit with
    parameters h[0..M-1] and theta bound (or, given a ParameterVector, symbolic), op for op:
    ``rx``, ``rz``, ``rzz``, and each noise channel as an Aer quantum error in place
    (``depolarizing_error`` takes the probability of full depolarisation, 4p/3 for one qubit and
    16p/15 for two; the readout flip is a Kraus error)."""
    from qiskit import QuantumCircuit
    from qiskit.circuit import ParameterVector

    n = spec.n_qubits
    symbolic = isinstance(theta, ParameterVector)
    hp = ParameterVector("h", spec.embed_dim)
    qc = QuantumCircuit(n, name="quinr")
    errors: dict[tuple, object] = {}
    for op in lower(spec, noise):
        q = [n - 1 - w for w in op.wires]  # wire w is Qiskit qubit n-1-w
        if op.is_gate:
            a = op.angle
            if a.source == "h":
                angle = a.factor * hp[a.index]
            else:  # numbers are bound now; a ParameterVector stays symbolic (bound at submission)
                angle = a.factor * theta[a.index] if symbolic else float(a.factor * theta[a.index])
            if op.kind == "RX":
                qc.rx(angle, q[0])
            elif op.kind == "RZ":
                qc.rz(angle, q[0])
            else:
                qc.rzz(angle, q[0], q[1])
        elif op.kind == BARRIER:  # keeps a folded gate from being merged with its inverse
            qc.barrier(q)
        else:
            key = (op.kind, op.params)
            if key not in errors:
                errors[key] = _aer_error(op)
            qc.append(errors[key], q)
    return qc, hp


def _aer_error(op):
    """The Aer quantum error of one noise channel of the lowering."""
    from qiskit_aer.noise import amplitude_damping_error, depolarizing_error, kraus_error

    if op.kind == "DEPOLARIZING":
        return depolarizing_error(4 * op.params[0] / 3, 1)
    if op.kind == "DEPOLARIZING2":
        return depolarizing_error(16 * op.params[0] / 15, 2)
    if op.kind == "DAMPING":
        return amplitude_damping_error(op.params[0])
    if op.kind == "READOUT":
        return kraus_error(readout_kraus(*op.params))
    raise BackendError(f"the Qiskit driver cannot run {op.kind}")  # pragma: no cover - lower() emits nothing else


class AerDriver(Driver):
    OPTIONS = QISKIT_OPTIONS

    def __init__(self, profile, options) -> None:
        super().__init__(profile, options)
        if not self.noise.noiseless and self.options.get("method", "statevector") != "density_matrix":
            raise BackendError("noise needs method=density_matrix (exact noisy probabilities); "
                               "Aer's statevector method samples one trajectory per shot")

    @property
    def device_name(self) -> str:
        return f"aer_simulator_{self.options.get('method', 'statevector')}"

    def run(self, spec: CircuitSpec, h: np.ndarray, theta: np.ndarray, shots: int | None, seed: int | None,
            report: ExecutionReport) -> np.ndarray:
        _import_qiskit()
        from qiskit_aer import AerSimulator

        qc, hp = build_circuit(spec, theta, self.noise)
        if shots is None:
            qc.save_probabilities()
        else:
            qc.measure_all()
        kwargs = {"method": self.options.get("method", "statevector")}
        if seed is not None:
            kwargs["seed_simulator"] = seed
        sim = AerSimulator(**kwargs)
        out = np.empty((h.shape[0], spec.n_states))
        for sl in task_chunks(h.shape[0], self.profile.max_circuits_per_task):
            binds = {hp[j]: h[sl, j].tolist() for j in range(spec.embed_dim)}
            job = sim.run(qc, parameter_binds=[binds], shots=shots or 1)
            result = job.result()
            if not result.success:
                raise BackendError(f"Aer job failed: {result.status}")
            for i in range(sl.stop - sl.start):
                if shots is None:
                    out[sl.start + i] = result.data(i)["probabilities"]
                else:
                    out[sl.start + i] = counts_to_probs(result.get_counts(i), spec.n_qubits)
            report.tasks += 1
            report.task_ids.append(job.job_id())
        report.circuits += h.shape[0]
        return out
