"""Circuits made for a device: which physical qubits to use and which pairs to entangle.

The paper's entangler couples every pair of qubits; on a lattice QPU (IBM's heavy-hex Heron,
IQM's square grid) most pairs are not neighbours, and the transpiler brings them together with
SWAPs, each three more two-qubit gates with their error. A circuit made for a device entangles
only pairs the device couples natively, on the qubits its calibration says are best, and pins
that layout so every decode runs the physical circuit training saw.

:func:`choose_layout` picks the qubits from the calibration (the device's own gate and readout
errors, through its ``Target``): a connected set, scored by the sum of the readout and
single-qubit errors of its qubits and the two-qubit errors of the pairs it entangles. The
``"listed"`` entangler takes every coupled pair within the set (the device's coupling map
restricted to it), ``"linear"`` a path, ``"ring"`` a cycle. The search enumerates simple paths
from every qubit (bounded by :data:`MAX_CANDIDATES`; heavy-hex and square lattices have degree
at most 4, so every path of up to 12 qubits is seen) and grows connected sets greedily; Qiskit's
``VF2Layout`` solves a different problem (placing a given circuit, scored by its own heuristic),
so the choice is written here and is deterministic for a calibration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..circuit import CircuitSpec
from ..errors import BackendError, ConfigError
from .device_model import fake_device
from .registry import get_backend, load_profiles

#: Most candidate sets the search scores per entangler (bounds the time on large devices).
MAX_CANDIDATES = 200_000


@dataclass(frozen=True)
class Placement:
    """A choice of physical qubits: ``layout[w]`` is wire w's qubit, ``pairs`` the entangled wire
    pairs (i < j), ``score`` the summed error it was chosen by."""

    layout: tuple[int, ...]
    pairs: tuple[tuple[int, int], ...]
    score: float


class Calibration:
    """The error figures of a device the choice needs, read once from its ``Target``."""

    def __init__(self, device) -> None:
        target = device.target
        self.name = device.name
        self.n = device.num_qubits
        two = [n for n in target.operation_names
               if n not in ("swap",) and getattr(target.operation_from_name(n), "num_qubits", 0) == 2]
        if not two:
            raise BackendError(f"{device.name} has no two-qubit gate in its target")
        self.edges: dict[frozenset, float] = {}
        for name in two:
            for qargs, props in target[name].items():
                if qargs is None or len(qargs) != 2:
                    continue
                err = _error(props)
                key = frozenset(qargs)
                self.edges[key] = min(err, self.edges.get(key, math.inf))
        self.neighbours: dict[int, list[int]] = {q: [] for q in range(self.n)}
        for a, b in (tuple(e) for e in self.edges):
            self.neighbours[a].append(b)
            self.neighbours[b].append(a)
        for q in self.neighbours:
            self.neighbours[q].sort()
        one = "sx" if "sx" in target.operation_names else None
        self.qubit_error = [(_error(target["measure"].get((q,))) if "measure" in target.operation_names else 0.0)
                            + (_error(target[one].get((q,))) if one else 0.0) for q in range(self.n)]

    def coupled(self, a: int, b: int) -> bool:
        return frozenset((a, b)) in self.edges

    def score(self, layout: tuple[int, ...], pairs: tuple[tuple[int, int], ...]) -> float:
        return sum(self.qubit_error[q] for q in layout) + sum(
            self.edges[frozenset((layout[i], layout[j]))] for i, j in pairs)


def _error(props) -> float:
    """A calibrated error, or 1 where the calibration has none (a qubit or gate to avoid)."""
    err = getattr(props, "error", None)
    return 1.0 if err is None or not math.isfinite(err) else float(err)


def _paths(cal: Calibration, n: int, closed: bool):
    """Simple paths of n qubits (cycles if ``closed``), each once per direction, up to the bound."""
    seen = 0
    for start in range(cal.n):
        stack = [(start,)]
        while stack:
            path = stack.pop()
            if len(path) == n:
                if not closed or cal.coupled(path[-1], path[0]):
                    yield path
                    seen += 1
                    if seen >= MAX_CANDIDATES:
                        return
                continue
            for nb in reversed(cal.neighbours[path[-1]]):
                if nb not in path and (not closed or nb > start):
                    stack.append((*path, nb))


def _grown_sets(cal: Calibration, n: int):
    """Connected sets grown greedily from every qubit: add the neighbour whose qubit error plus
    cheapest link into the set is lowest (ties by index), wires in the order added."""
    for start in range(cal.n):
        chosen = [start]
        while len(chosen) < n:
            best = None
            for q in chosen:
                for nb in cal.neighbours[q]:
                    if nb in chosen:
                        continue
                    cost = cal.qubit_error[nb] + cal.edges[frozenset((q, nb))]
                    if best is None or (cost, nb) < best:
                        best = (cost, nb)
            if best is None:
                break
            chosen.append(best[1])
        if len(chosen) == n:
            yield tuple(chosen)


def induced_pairs(cal: Calibration, layout: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """Every wire pair whose physical qubits the device couples."""
    n = len(layout)
    return tuple((i, j) for i in range(n) for j in range(i + 1, n) if cal.coupled(layout[i], layout[j]))


def choose_layout(device, n_qubits: int, entangler: str = "listed") -> Placement:
    """The best physical qubits of ``device`` for a circuit of ``n_qubits`` wires with this
    entangler (``"listed"``: the coupled pairs within the set; ``"linear"``, ``"ring"``: a path
    or cycle of coupled qubits). Raises :class:`BackendError` where the device has no such set."""
    cal = Calibration(device)
    if n_qubits > cal.n:
        raise BackendError(f"{device.name} has {cal.n} qubits; the circuit needs {n_qubits}")
    if n_qubits == 1:
        best = min(range(cal.n), key=lambda q: (cal.qubit_error[q], q))
        return Placement((best,), (), cal.qubit_error[best])
    if entangler in ("linear", "ring"):
        closed = entangler == "ring" and n_qubits > 2
        spec_pairs = CircuitSpec(n_qubits, 1, entangler=entangler).pairs
        candidates = ((p, spec_pairs) for p in _paths(cal, n_qubits, closed))
    elif entangler == "listed":
        candidates = ((s, induced_pairs(cal, s)) for s in _grown_sets(cal, n_qubits))
    elif entangler == "all":
        raise ConfigError(f"the all-pairs entangler needs routing on {device.name}: no layout can be pinned for it "
                          "(use listed, linear or ring)")
    else:
        raise ConfigError(f"unknown entangler {entangler!r}")
    best: Placement | None = None
    for layout, pairs in candidates:
        score = cal.score(layout, pairs)
        if best is None or (score, layout) < (best.score, best.layout):
            best = Placement(layout, pairs, score)
    if best is None:
        shape = {"linear": "path", "ring": "cycle"}.get(entangler, "connected set")
        raise BackendError(f"{device.name} has no {shape} of {n_qubits} coupled qubits")
    return best


def target_device(name: str):
    """The Qiskit device a circuit made for ``name`` is placed on: a catalogue backend's
    (:meth:`~quinr.backends.base.Driver.calibrated_device`: ``aer.fake_torino``, ``torch.fake_fez``,
    ``ibm.torino`` through its offline snapshot) or a ``qiskit_ibm_runtime`` fake by class name."""
    if name.startswith("Fake") and name not in load_profiles():
        return fake_device(name)
    device = get_backend(name).driver.calibrated_device()
    if device is None:
        raise BackendError(f"{name} has no coupling map and calibration quinr can read offline; circuits are made "
                           "for IBM devices and their emulators (ibm.torino, ibm.fez, aer.fake_*, torch.fake_*)")
    return device


def place(spec: CircuitSpec, target: str, entangler: str = "device") -> CircuitSpec:
    """``spec`` made for the backend ``target``: ``"device"`` entangles the coupled pairs of the
    best connected set of qubits, ``"linear"`` and ``"ring"`` a path or cycle of them (the layout
    pinned either way); ``"all"`` keeps the paper's entangler, which the transpiler routes, and
    records only the target."""
    device = target_device(target)  # an unknown or unplaceable target is refused for every entangler
    if entangler == "all":
        return replace(spec, entangler="all", couplings=(), layout=(), target=target)
    kind = "listed" if entangler == "device" else entangler
    chosen = choose_layout(device, spec.n_qubits, kind)
    return replace(spec, entangler=kind, couplings=chosen.pairs if kind == "listed" else (), layout=chosen.layout,
                   target=target)


def _device_key(name: str) -> str:
    """``fake_torino``, ``ibm_torino`` -> ``torino``: a snapshot and its device are one device."""
    return name.removeprefix("fake_").removeprefix("ibm_").lower()


def check_target(backend, spec: CircuitSpec) -> None:
    """Refuse, before anything runs, a device backend that would not run a placed circuit as it
    was made: another device than its target, or a QPU that chooses its own qubits. Simulators
    run the circuit itself and ignore the placement."""
    if not spec.layout:
        return
    device = backend.driver.calibrated_device()
    made = f"this file's circuit is pinned to physical qubits {list(spec.layout)} of {spec.target or 'a device'}"
    if device is None:
        if backend.profile.kind == "qpu":
            raise BackendError(f"{made}; {backend.name} places circuits on qubits of its own choosing, so it would not "
                               "run the circuit training saw")
        return
    if spec.target:
        want = target_device(spec.target)
        if _device_key(want.name) != _device_key(device.name):
            raise BackendError(f"{made} ({want.name}); {backend.name} runs on {device.name}")
