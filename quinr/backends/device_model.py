"""A device-faithful noise model: the circuit as an IBM device runs it, with the device's noise.

From a device (an offline fake backend, or a real one with credentials) and a network's circuit,
build the :class:`~quinr.sim.device.DeviceProgram` that :mod:`quinr.sim.device` evaluates exactly:

* the circuit's lowering (:func:`quinr.circuit.lower`) transpiled for the device by
  :func:`transpile_for`, which quinr's IBM driver submits too (``seed_transpiler=0``: the layout
  and routing are pinned, and recorded in the program's source; h and theta stay parameters, so
  one transpilation serves a network whatever its weights, and the model is the circuit the decode
  runs), and scheduled ALAP on the device's gate durations, so idle qubits wait in explicit
  delays;
* only the physical qubits the routed circuit touches;
* every native instruction (``sx``, ``x``, ``cz``, ``ecr``, ``rz``; routing swaps are already
  decomposed into them) with the error Qiskit Aer attaches to it on that qubit or pair: the
  device's gate error as depolarizing noise composed with thermal relaxation over the gate's
  duration (from T1, T2); every delay with thermal relaxation over its duration; the readout
  error of each measured physical qubit. This is exactly the noise model that the fake backends'
  own Aer simulation uses (``FakeBackendV2._get_noise_model_from_backend_v2``: qiskit-aer's
  ``basic_device_gate_errors`` and its ``RelaxationNoisePass`` for delays), built here only for
  the qubits the circuit touches (the same functions on the same calibration, a fraction of the
  time). Not modelled, as in Aer: crosstalk, leakage, drift since the calibration.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..circuit import CircuitSpec
from ..errors import BackendError
from ..sim.device import Angle, DeviceModel, DeviceProgram, ProgramOp

#: Instructions that carry no operation of their own.
_NO_OP = ("barrier", "delay")


@dataclass(frozen=True)
class Transpiled:
    """A circuit transpiled for a device: the ISA circuit, the source of each of its parameters
    (``("h", column)`` or ``("theta", index)``, in ``isa.parameters`` order), and the physical
    qubit of each wire."""

    isa: object
    params: tuple[tuple[str, int], ...]
    physical: tuple[int, ...]

    def bind(self, h: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """The parameter values (B, P) of ``isa`` for embeddings h (B, M) and angles theta."""
        h, theta = np.asarray(h, np.float64), np.asarray(theta, np.float64)
        cols = [h[:, j] if src == "h" else np.full(h.shape[0], theta[j]) for src, j in self.params]
        return np.stack(cols, axis=1) if cols else np.zeros((h.shape[0], 0))

    @property
    def touched(self) -> tuple[int, ...]:
        """The physical qubits the circuit acts on, ascending."""
        isa = self.isa
        return tuple(sorted({isa.find_bit(q).index for inst in isa.data if inst.operation.name not in _NO_OP
                             for q in inst.qubits}))


def transpile_for(device, spec: CircuitSpec, optimization_level: int = 1) -> Transpiled:
    """The noise-free lowering, measured, transpiled for ``device`` deterministically
    (``seed_transpiler=0``), scheduled ALAP, with both h and theta as parameters. Delays on
    qubits the circuit never uses are dropped (they wait in the ground state, where relaxation
    does nothing). A circuit with a pinned layout (made for a device: :mod:`.placement`) is
    placed on exactly those qubits, or refused where the device cannot run it without routing.
    A folded circuit (zero-noise extrapolation, ``spec.fold > 1``) is the unfolded circuit's
    transpilation with every native gate folded *after* routing (:func:`fold_native`), so the
    router's SWAPs are folded too and every gate's error is exactly ``fold`` times."""
    if spec.fold > 1:
        return fold_native(device, transpile_for(device, spec.folded(1), optimization_level), spec.fold)
    from qiskit.circuit import ParameterVector
    from qiskit.transpiler import generate_preset_pass_manager

    from .aer import build_circuit

    if spec.n_qubits > device.num_qubits:
        raise BackendError(f"{device.name} has {device.num_qubits} qubits; the circuit needs {spec.n_qubits}")
    n = spec.n_qubits
    initial = None
    if spec.layout:
        problem = layout_problem(device, spec)
        if problem:
            raise BackendError(problem)
        initial = [spec.layout[n - 1 - v] for v in range(n)]  # Qiskit's qubit v is wire n - 1 - v
    qc, _ = build_circuit(spec, ParameterVector("theta", spec.n_theta))
    qc.measure_all()
    pm = generate_preset_pass_manager(backend=device, optimization_level=optimization_level, seed_transpiler=0,
                                      scheduling_method="alap", initial_layout=initial)
    isa = _without_idle_delays(pm.run(qc))
    virtual = isa.layout.final_index_layout() if isa.layout is not None else list(range(spec.n_qubits))
    params = tuple(_source(p.name) for p in isa.parameters)
    physical = tuple(virtual[n - 1 - w] for w in range(n))
    if spec.layout and physical != spec.layout:
        raise BackendError(f"the transpiler moved the pinned layout {list(spec.layout)} to {list(physical)} on "
                           f"{device.name}: the decode would not run the circuit training saw")
    return Transpiled(isa, params, physical)


def fold_native(device, tr: Transpiled, fold: int) -> Transpiled:
    """``tr`` with every native gate G followed by ``(fold - 1) / 2`` pairs (barrier, G^-1,
    barrier, G), on the same qubits, then scheduled again (ALAP). Inverses in the device's own
    basis: rz(-t), x, cz and ecr are their own inverses up to sign, and sx^-1 = rz(pi) sx rz(pi)
    up to a global phase."""
    import math

    from qiskit.circuit.library import RZGate
    from qiskit.transpiler import PassManager
    from qiskit.transpiler.passes import ALAPScheduleAnalysis, PadDelay

    out = tr.isa.copy_empty_like()
    for inst in tr.isa.data:
        name, op, qargs = inst.operation.name, inst.operation, inst.qubits
        if name == "delay":
            continue
        out.append(inst)
        if name in _NO_OP or name in ("measure", "id", "reset"):
            continue
        if name == "sx":
            inverse = [(RZGate(math.pi), qargs), (op, qargs), (RZGate(math.pi), qargs)]
        elif name in ("x", "cz", "ecr", "rz"):
            inverse = [(op.inverse(), qargs)]
        else:
            raise BackendError(f"zero-noise extrapolation folds the native gates rz, sx, x, cz and ecr; {name} is not one")
        for _ in range((fold - 1) // 2):
            out.barrier(qargs)
            for g, q in inverse:
                out.append(g, q)
            out.barrier(qargs)
            out.append(inst)
    out = _without_idle_delays(PassManager([ALAPScheduleAnalysis(target=device.target),
                                            PadDelay(target=device.target)]).run(out))
    return Transpiled(out, tuple(_source(p.name) for p in out.parameters), tr.physical)


def _without_idle_delays(circ):
    """``circ`` without the delays of qubits it never uses (they wait in the ground state, where
    relaxation does nothing)."""
    used = {q for inst in circ.data if inst.operation.name not in _NO_OP for q in inst.qubits}
    circ.data = [inst for inst in circ.data if inst.operation.name != "delay" or any(q in used for q in inst.qubits)]
    return circ


def _source(name: str) -> tuple[str, int]:
    """``"h[3]"`` -> ``("h", 3)``, ``"theta[7]"`` -> ``("theta", 7)``."""
    vec, _, rest = name.partition("[")
    return vec, int(rest[:-1])


def noise_model_of(device, qubits=None):
    """The Aer noise model a device's emulation uses: a fake backend's own (the one its SamplerV2
    local mode runs) or, for a real backend, Aer's ``NoiseModel.from_backend``. With ``qubits``,
    a fake backend's gate errors are built only for gates on those qubits (by the same function
    from the same calibration: building all of a 133-qubit device's takes ten seconds)."""
    if not hasattr(device, "_get_noise_model_from_backend_v2"):
        from qiskit_aer.noise import NoiseModel

        return NoiseModel.from_backend(device)
    if qubits is None:
        return device._get_noise_model_from_backend_v2()
    keep = set(qubits)
    part = copy.copy(device)
    if part._props_dict is None:
        part._set_props_dict_from_json()
    props = dict(part._props_dict)
    props["gates"] = [g for g in props["gates"] if set(g["qubits"]) <= keep]
    part._props_dict = props
    return part._get_noise_model_from_backend_v2()


def _swap_bits(m: np.ndarray) -> np.ndarray:
    """A two-qubit matrix from Qiskit's order (qargs[0] least significant) to quinr's (qargs[0]
    most significant)."""
    p = np.eye(4)[[0, 2, 1, 3]]
    return p @ m @ p


def _ours(m: np.ndarray) -> np.ndarray:
    return _swap_bits(m) if m.shape == (4, 4) else m


def _channel(error) -> np.ndarray:
    """An Aer QuantumError as a superop in quinr's (ket bits, bra bits) order."""
    from qiskit.quantum_info import Kraus

    ks = [_ours(np.asarray(k)) for k in Kraus(error).data]
    return sum(np.kron(k, k.conj()) for k in ks)


def _angle(expr) -> Angle:
    """An ``rz`` angle (a number, or an affine expression of the h and theta parameters) as an
    Angle."""
    try:
        return Angle(float(expr))
    except TypeError:
        pass
    params = list(expr.parameters)
    const = float(expr.bind({p: 0.0 for p in params}))
    coefs: dict[str, list[tuple[int, float]]] = {"h": [], "theta": []}
    for p in params:
        src, j = _source(p.name)
        try:
            coefs[src].append((j, float(expr.gradient(p))))
        except TypeError:
            raise BackendError(f"the device model needs rz angles affine in the parameters, got {expr}") from None
    return Angle(const, tuple(coefs["h"]), tuple(coefs["theta"]))


def build_program(device, spec: CircuitSpec, optimization_level: int = 1,
                  transpiled: Transpiled | None = None) -> DeviceProgram:
    """The device program of ``spec`` (see the module docstring), its angles affine in h and
    theta; ``transpiled`` is :func:`transpile_for`'s result when the caller has it."""
    from qiskit.quantum_info import Operator

    tr = transpiled or transpile_for(device, spec, optimization_level)
    touched = tr.touched
    nm = noise_model_of(device, touched)
    isa = tr.isa
    for noise_pass in nm._custom_noise_passes:  # Aer's own: relaxation after every delay
        isa = noise_pass(isa)
    index = {p: i for i, p in enumerate(touched)}
    local, default = nm._local_quantum_errors, nm._default_quantum_errors
    channels: dict = {}  # Kraus -> superop conversions are the slow part: once per distinct error

    def channel(key, error) -> np.ndarray:
        if key not in channels:
            channels[key] = _channel(error)
        return channels[key]

    ops: list[ProgramOp] = []
    wire_of_clbit: dict[int, int] = {}
    waited: dict[tuple[int, ...], tuple] = {}
    for inst in isa.data:
        name, op = inst.operation.name, inst.operation
        phys = tuple(isa.find_bit(q).index for q in inst.qubits)
        if name == "barrier" or not set(phys) <= index.keys():
            continue
        qs = tuple(index[p] for p in phys)
        if name == "measure":
            wire_of_clbit[isa.find_bit(inst.clbits[0]).index] = qs[0]
        elif name == "quantum_channel":  # Aer's relaxation of the delay just before it
            ops.append(ProgramOp("channel", qs, matrix=channel(("idle", phys, waited.get(phys)), op._quantum_error)))
        elif name == "rz":
            ops.append(ProgramOp("rz", qs, angle=_angle(op.params[0])))
        elif name == "delay":
            waited[phys] = (op.duration, op.unit)
        else:
            try:
                matrix = Operator(op).data
            except Exception as exc:  # noqa: BLE001 - qiskit raises several types for what it cannot bind
                raise BackendError(f"the device model takes fixed native gates and parametric rz only; {name} on "
                                   f"qubits {phys} is not one ({type(exc).__name__})") from None
            ops.append(ProgramOp("unitary", qs, matrix=_ours(matrix)))
            error = local.get(name, {}).get(phys) or default.get(name)
            if error is not None:
                ops.append(ProgramOp("channel", qs, matrix=channel((name, phys), error)))
    n = spec.n_qubits
    measured = tuple(wire_of_clbit[n - 1 - w] for w in range(n))  # clbit c is wire n-1-c
    conf = []
    for w in range(n):
        ro = nm._local_readout_errors.get((touched[measured[w]],)) or nm._default_readout_error
        conf.append(np.eye(2) if ro is None else np.asarray(ro.probabilities, np.float64).T)
    source = (f"{device.name} calibration {calibration_date(device)}, transpiled at optimization level "
              f"{optimization_level} (seed 0, ALAP) onto physical qubits {[touched[q] for q in measured]} "
              f"(wires 0..{n - 1}); {len(touched)} qubits touched")
    return DeviceProgram(len(touched), tuple(ops), measured, np.array(conf), source, touched)


def calibration_date(device) -> str:
    """The date of a device's calibration, as ISO text."""
    try:
        return device.properties().last_update_date.date().isoformat()
    except Exception:  # noqa: BLE001 - a model without the date is still a model
        return "of unknown date"


@lru_cache(maxsize=8)
def fake_device(name: str):
    """An offline fake backend of qiskit-ibm-runtime by class name (``FakeTorino``)."""
    try:
        from qiskit_ibm_runtime import fake_provider
    except ImportError:
        from ..errors import MissingSDKError

        raise MissingSDKError("device models need qiskit-ibm-runtime: pip install qiskit-ibm-runtime") from None

    def is_device(n: str) -> bool:
        cls = getattr(fake_provider, n, None)
        return n.startswith("Fake") and isinstance(cls, type) and issubclass(cls, fake_provider.fake_backend.FakeBackendV2)

    if not is_device(name):
        import difflib

        known = [n for n in dir(fake_provider) if is_device(n)]
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else " (e.g. FakeTorino, FakeFez)"
        raise BackendError(f"no IBM fake device {name!r}{hint}")
    return getattr(fake_provider, name)()


def ibm_model(device, optimization_level: int = 1, transpiled=None) -> DeviceModel:
    """``device``'s noise as a :class:`~quinr.sim.device.DeviceModel` (an evaluator for
    training, prediction and the torch backend's ``fake_device``). ``transpiled(spec)``, when
    given, supplies the transpilation (the IBM driver passes its own, so the model is the very
    circuit it submits)."""

    def build(spec: CircuitSpec) -> DeviceProgram:
        tr = transpiled(spec) if transpiled is not None else None
        return build_program(device, spec, optimization_level, transpiled=tr)

    return DeviceModel(f"{device.name} (calibration {calibration_date(device)})", build)


@lru_cache(maxsize=8)
def fake_model(name: str, optimization_level: int = 1) -> DeviceModel:
    """The device model of a fake backend by class name, shared within the process."""
    return ibm_model(fake_device(name), optimization_level)


def snapshot_of(backend_name: str) -> str | None:
    """The fake backend class holding an offline calibration snapshot of the IBM device
    ``backend_name`` (``ibm_torino`` -> ``FakeTorino``), or None."""
    try:
        from qiskit_ibm_runtime import fake_provider
    except ImportError:
        return None
    short = backend_name.removeprefix("ibm_")
    name = "Fake" + short[:1].upper() + short[1:]
    cls = getattr(fake_provider, name, None)
    return name if cls is not None and getattr(cls, "backend_name", None) == f"fake_{short}" else None


def layout_problem(device, spec: CircuitSpec) -> str | None:
    """Why ``device`` cannot run ``spec``'s pinned layout without routing, or None."""
    if not spec.layout:
        return None
    made = f"the circuit was made for {spec.target or 'a device'} on physical qubits {list(spec.layout)}"
    if max(spec.layout) >= device.num_qubits:
        return f"{made}; {device.name} has {device.num_qubits} qubits"
    coupled = {frozenset(edge) for edge in device.coupling_map.get_edges()}
    for i, j in spec.pairs:
        a, b = spec.layout[i], spec.layout[j]
        if frozenset((a, b)) not in coupled:
            return (f"{made}; wires ({i}, {j}) sit on qubits ({a}, {b}), which {device.name} does not couple, so it "
                    "could run the circuit only with routing (SWAPs) training never saw")
    return None
