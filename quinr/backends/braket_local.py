"""Amazon Braket's local simulators (driver ``braket_local``; the ``braket`` family's local target).

Why not the Braket PennyLane plugin: it translates and submits one circuit per coordinate (about
100 ms each locally). Here one parametric Braket circuit (a FreeParameter per embedding feature,
theta bound as numbers) is built once and every coordinate is one parameter set.

``simulator = braket_sv`` (state vector) or ``braket_dm`` (density matrix, with noise options).
``engine = direct`` (default) evolves each coordinate with the Braket local simulator's own engine
(``braket.default_simulator``'s StateVectorSimulation / DensityMatrixSimulation and its gate and
noise operations): the same numerics as ``LocalSimulator``, without re-interpreting an OpenQASM
program per task (2.6 ms instead of 36 ms per coordinate at Nq = 6). ``engine = tasks`` goes
through ``LocalSimulator.run_batch``, one task per coordinate, exact with ``shots=0`` and a
Probability result type. Both are in the contract tests.

Both engines run the spec's lowering (:func:`quinr.circuit.lower`) op for op: RX, RZ and ZZ
(Braket has no CRZ; the lowering decomposes it), and the noise channels of ``-O noise=...``
(braket_dm only) as Braket's own channels where the lowering places them, readout as a Kraus
channel before measurement. Qubit 0 is the most significant bit of Braket's results, as in quinr.
"""

from __future__ import annotations

import numpy as np

from ..circuit import BARRIER, CircuitSpec, Op, lower
from ..errors import BackendError, MissingSDKError
from ..noise import NoiseSpec, readout_kraus
from .base import NOISE_OPTION, Driver, ExecutionReport, Option, counts_to_probs, task_chunks
from .options import noise_shorthands

#: The options of the ``braket`` family (a profile may name the family; the registry picks the
#: target, local or a managed device, from them). Each target refuses what does not apply to it.
BRAKET_OPTIONS = {
    "simulator": Option(str, "local simulator", "braket_sv", choices=("braket_sv", "braket_dm")),
    "device_arn": Option(str, "a managed Braket device ARN (QPU or on-demand simulator)"),
    "max_parallel": Option(int, "parallel local tasks in run_batch", 2, minimum=1, maximum=256),
    "engine": Option(str, "local simulation: Braket's simulation engine directly, or LocalSimulator tasks", "direct",
                     choices=("direct", "tasks")),
    **NOISE_OPTION,
    **noise_shorthands("braket_dm"),
}


def _import_braket():
    try:
        import braket.circuits  # noqa: F401
    except ImportError:
        raise MissingSDKError("the braket driver needs amazon-braket-sdk: pip install amazon-braket-sdk") from None


def build_circuit(spec: CircuitSpec, theta: np.ndarray, noise: NoiseSpec | None = None, exact: bool = True):
    """The lowered circuit (:func:`quinr.circuit.lower`) as a parametric Braket circuit with inputs
    h0..h{M-1} and theta bound, op for op."""
    from braket.circuits import Circuit, FreeParameter

    params = [FreeParameter(f"h{j}") for j in range(spec.embed_dim)]
    c = Circuit()
    for op in lower(spec, noise):
        w = op.wires
        if op.is_gate:
            a = op.angle
            angle = params[a.index] * a.factor if a.source == "h" else float(a.factor * theta[a.index])
            if op.kind == "ZZ":
                c.zz(w[0], w[1], angle)
            else:
                (c.rx if op.kind == "RX" else c.rz)(w[0], angle)
        elif op.kind == "DEPOLARIZING":
            c.depolarizing(w[0], op.params[0])
        elif op.kind == "DAMPING":
            c.amplitude_damping(w[0], op.params[0])
        elif op.kind == "DEPOLARIZING2":
            c.two_qubit_depolarizing(w[0], w[1], op.params[0])
        elif op.kind == "READOUT":
            c.kraus([w[0]], readout_kraus(*op.params))
        elif op.kind == BARRIER:  # Braket's simulators apply gates as given; nothing merges them
            continue
        else:  # pragma: no cover - lower() emits nothing else
            raise BackendError(f"the Braket driver cannot run {op.kind}")
    if exact:
        c.probability()
    return c


def engine_ops(ops: list[Op], h_row: np.ndarray, theta: np.ndarray, fixed: dict[int, object]) -> list:
    """The lowered circuit as ``braket.default_simulator`` operations for one coordinate, op for op;
    operations that do not depend on h are built once and kept in ``fixed``."""
    from braket.default_simulator import gate_operations as go
    from braket.default_simulator import noise_operations as no

    out = []
    for k, op in enumerate(ops):
        if op.kind == BARRIER:
            continue
        if k in fixed:
            out.append(fixed[k])
            continue
        w = list(op.wires)
        if op.is_gate:
            angle = float(op.angle.value(h_row, theta))
            new = {"RX": go.RotX, "RZ": go.RotZ, "ZZ": go.ZZ}[op.kind](w, angle)
        elif op.kind == "DEPOLARIZING":
            new = no.Depolarizing(w, op.params[0])
        elif op.kind == "DAMPING":
            new = no.AmplitudeDamping(w, op.params[0])
        elif op.kind == "DEPOLARIZING2":
            new = no.TwoQubitDepolarizing(w, op.params[0])
        elif op.kind == "READOUT":
            new = no.Kraus(w, readout_kraus(*op.params))
        else:  # pragma: no cover - lower() emits nothing else
            raise BackendError(f"the Braket engine cannot run {op.kind}")
        if not (op.is_gate and op.angle.source == "h"):
            fixed[k] = new
        out.append(new)
    return out


class BraketLocalDriver(Driver):
    OPTIONS = BRAKET_OPTIONS

    def __init__(self, profile, options) -> None:
        super().__init__(profile, options)
        if not self.noise.noiseless and self.options.get("simulator", "braket_sv") != "braket_dm":
            raise BackendError("noise needs simulator=braket_dm (the density-matrix simulator)")

    @property
    def device_name(self) -> str:
        return self.options.get("simulator", "braket_sv")

    def run(self, spec: CircuitSpec, h: np.ndarray, theta: np.ndarray, shots: int | None, seed: int | None,
            report: ExecutionReport) -> np.ndarray:
        _import_braket()
        if self.options.get("engine", "direct") == "direct":
            return self._run_direct(spec, h, theta, shots, seed, report)
        from braket.devices import LocalSimulator

        if seed is not None:
            report.notes.append("braket local simulators take no seed; sampled results are not reproducible")
        circ = build_circuit(spec, theta, self.noise, shots is None)
        dev = LocalSimulator(self.options.get("simulator", "braket_sv"))
        out = np.empty((h.shape[0], spec.n_states))
        for sl in task_chunks(h.shape[0], self.profile.max_circuits_per_task):
            inputs = [{f"h{j}": float(v) for j, v in enumerate(row)} for row in h[sl]]
            batch = dev.run_batch([circ] * len(inputs), shots=shots or 0, inputs=inputs,
                                  max_parallel=self.options.get("max_parallel", 2))
            results = batch.results()
            for i, res in enumerate(results):
                out[sl.start + i] = res.values[0] if shots is None else counts_to_probs(res.measurement_counts, spec.n_qubits)
            report.tasks += len(inputs)
            report.task_ids.extend(r.task_metadata.id for r in results)
        report.circuits += h.shape[0]
        return out

    def _run_direct(self, spec, h, theta, shots, seed, report) -> np.ndarray:
        """Braket's simulation engine, one coordinate at a time, no task or IR overhead."""
        from braket.default_simulator import DensityMatrixSimulation, StateVectorSimulation

        dm = self.options.get("simulator", "braket_sv") == "braket_dm"
        ops, fixed = lower(spec, self.noise), {}
        rng = np.random.default_rng(seed)
        out = np.empty((h.shape[0], spec.n_states))
        for i, row in enumerate(h):
            sim = DensityMatrixSimulation(spec.n_qubits, 0) if dm else StateVectorSimulation(spec.n_qubits, 0, 1)
            sim.evolve(engine_ops(ops, row, theta, fixed))
            probs = np.clip(np.real(sim.probabilities), 0.0, None)
            if shots is None:
                out[i] = probs
            else:
                out[i] = rng.multinomial(shots, probs / probs.sum()) / shots
        report.circuits += h.shape[0]
        report.tasks += 1
        report.notes.append("engine=direct: braket.default_simulator evolved locally, no LocalSimulator tasks")
        return out
