"""Backend-neutral description of the quINR circuit (paper section 3.2).

One :class:`CircuitSpec` fixes everything about the quantum part of the network: the number of
qubits, the embedding size, the folded-angle embedding, the entangling layers, the shuffled data
re-uploading and the parameter layout. The exact simulator (:mod:`quinr.sim`), the backend drivers
and the tests all read the circuit from here, so training and decoding can never disagree about
what was trained.

Conventions (see ``docs/model.md`` for the reasons):

* Wire 0 is the most significant bit of a basis-state index (PennyLane's ``qml.probs`` order).
* Folded-angle embedding: feature ``m`` of the (permuted) embedding vector goes to qubit
  ``m % Nq`` in fold ``k = m // Nq``; even folds use RX, odd folds RZ. The last fold is padded
  with zeros, i.e. the padded gates are the identity and are not emitted.
* Entangling layer: RZ, RX on every qubit; CRZ on every pair ``i < j`` of the entangler (control
  ``i``); RZ, RX on every qubit. Its ``4 * Nq + len(pairs)`` angles are laid out as
  ``[rz_a | rx_a | crz | rz_b | rx_b]``. The entangler is the paper's (``"all"``: every pair,
  ``Nq (Nq - 1) / 2`` of them) or a sparser one a lattice QPU runs without routing: ``"linear"``
  (neighbours on a line), ``"ring"`` (the line closed), ``"listed"`` (explicit pairs, e.g. a
  device's coupling map restricted to chosen physical qubits).
* Placement: a circuit made for a device carries the ``target`` it was made for and its
  ``layout`` (the physical qubit of each wire), so every decode on that device runs the very
  physical circuit training saw. Simulators ignore both.
* Upload ``r`` embeds ``h[perm_r]``; ``perm_0`` is the identity (the input layer absorbs it) and
  the others come from a tiny portable PRNG seeded by ``shuffle_seed``, so any decoder on any
  platform rebuilds the same permutations.

The lowering (:func:`lower`) is the one place that turns a spec into the flat list of native
operations every executor runs: RX, RZ and ZZ with references to their angles, and the noise
channels of a :class:`~quinr.noise.NoiseSpec` where they belong. Each executor (Aer, Braket's
engines, PennyLane, the torch density-matrix simulator) maps one op to one SDK call; none of them
knows what a CRZ decomposes into or where noise sits. Nothing here imports an SDK.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np

from .errors import ConfigError

if TYPE_CHECKING:
    from .noise import NoiseSpec

GateName = Literal["RX", "RZ", "CRZ"]

#: Limits of the spec. They bound what a bitstream header may ask a decoder to build.
MAX_QUBITS = 20
MAX_EMBED = 4096
MAX_REUPLOADS = 64
MAX_LAYERS = 64
MAX_ANGLE_SCALE = 64.0
MAX_PHYSICAL_QUBIT = 65535
#: Largest gate-folding factor (zero-noise extrapolation runs the circuit at 1, 3, 5).
MAX_FOLD = 9
MAX_TARGET_NAME = 64

#: Entangler topologies (the bitstream's entangler ids are their positions; the table only grows).
ENTANGLERS = ("all", "linear", "ring", "listed")


class Gate(NamedTuple):
    """One gate of the circuit.

    ``source`` says where its angle comes from: ``"h"`` (the embedding vector, index into the
    *unpermuted* h, i.e. the permutation is already applied) or ``"theta"`` (the trainable
    angles). ``index`` indexes that vector.
    """

    name: GateName
    wires: tuple[int, ...]
    source: Literal["h", "theta"]
    index: int


def _splitmix64(state: int) -> tuple[int, int]:
    """One step of SplitMix64: returns (new_state, output). Portable and version-proof."""
    mask = (1 << 64) - 1
    state = (state + 0x9E3779B97F4A7C15) & mask
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return state, z ^ (z >> 31)


def seeded_permutation(n: int, seed: int, stream: int) -> tuple[int, ...]:
    """Fisher-Yates permutation of ``range(n)`` from SplitMix64.

    NumPy's ``Generator`` makes no promise that its streams stay the same across versions, and a
    bitstream must decode identically forever, so the permutation uses its own fixed generator.
    """
    state = ((seed & 0xFFFFFFFF) << 32) ^ (stream & 0xFFFFFFFF) ^ 0x5157494E52  # "QWINR"
    perm = list(range(n))
    for i in range(n - 1, 0, -1):
        state, out = _splitmix64(state)
        j = out % (i + 1)
        perm[i], perm[j] = perm[j], perm[i]
    return tuple(perm)


@dataclass(frozen=True)
class CircuitSpec:
    """The quantum part of one quINR block.

    Args:
        n_qubits: Nq, number of qubits (1..20).
        embed_dim: M, size of the embedding vector h fed to the circuit.
        reuploads: R, how many times h is uploaded (each upload followed by ``layers`` entanglers).
        layers: E, entangling layers after each upload.
        shuffle_seed: seed of the per-upload permutations of h (shuffled re-uploading).
        angle_scale: h is embedded as ``angle_scale * h`` radians (1.0 = h used directly).
        entangler: which pairs the CRZ layer couples: ``"all"`` (the paper's), ``"linear"``,
            ``"ring"`` or ``"listed"`` (the pairs in ``couplings``).
        couplings: the pairs ``(i, j)``, ``i < j``, of a ``"listed"`` entangler (kept sorted).
        layout: the physical qubit of each wire on the ``target`` device (empty: the transpiler
            chooses).
        target: the backend the circuit was made for (empty: none).
        fold: the gate-folding factor of zero-noise extrapolation (odd; 1 = the circuit itself):
            every native gate G runs as G (G^-1 G)^((fold - 1) / 2), so the unitary is the same
            and the noise ``fold`` times as much. A run-time setting: never stored in a file.
    """

    n_qubits: int
    embed_dim: int
    reuploads: int = 2
    layers: int = 1
    shuffle_seed: int = 0
    angle_scale: float = 1.0
    entangler: str = "all"
    couplings: tuple[tuple[int, int], ...] = ()
    layout: tuple[int, ...] = ()
    target: str = ""
    fold: int = 1

    def __post_init__(self) -> None:
        _check_int("n_qubits", self.n_qubits, 1, MAX_QUBITS)
        _check_int("embed_dim", self.embed_dim, 1, MAX_EMBED)
        _check_int("reuploads", self.reuploads, 1, MAX_REUPLOADS)
        _check_int("layers", self.layers, 1, MAX_LAYERS)
        _check_int("shuffle_seed", self.shuffle_seed, 0, 2**32 - 1)
        if not (math.isfinite(self.angle_scale) and 0.0 < self.angle_scale <= MAX_ANGLE_SCALE):
            raise ConfigError(f"angle_scale must be in (0, {MAX_ANGLE_SCALE:g}], got {self.angle_scale!r}")
        self._check_placement()
        _check_int("fold", self.fold, 1, MAX_FOLD)
        if self.fold % 2 == 0:
            raise ConfigError(f"fold must be odd (G (G^-1 G)^k), got {self.fold}")

    def _check_placement(self) -> None:
        n = self.n_qubits
        if self.entangler not in ENTANGLERS:
            raise ConfigError(f"unknown entangler {self.entangler!r} (one of {', '.join(ENTANGLERS)})")
        try:
            pairs = tuple(sorted((int(a), int(b)) for a, b in self.couplings))
        except (TypeError, ValueError):
            raise ConfigError(f"couplings must be pairs of wires, got {self.couplings!r}") from None
        if self.entangler == "listed":
            bad = [p for p in pairs if not 0 <= p[0] < p[1] < n]
            if bad:
                raise ConfigError(f"coupling {bad[0]} is not a pair of wires i < j < {n}")
            if len(set(pairs)) != len(pairs):
                raise ConfigError("couplings lists a pair twice")
            if not pairs and n > 1:
                raise ConfigError("a listed entangler needs at least one pair")
        elif pairs:
            raise ConfigError(f"couplings are for a listed entangler, not {self.entangler!r}")
        object.__setattr__(self, "couplings", pairs)
        layout = tuple(self.layout)
        if layout and (len(layout) != n or len(set(layout)) != n or any(
                isinstance(q, bool) or not isinstance(q, int) or not 0 <= q <= MAX_PHYSICAL_QUBIT for q in layout)):
            raise ConfigError(f"layout must be {n} distinct physical qubits in 0..{MAX_PHYSICAL_QUBIT}, got {layout!r}")
        object.__setattr__(self, "layout", layout)
        if not isinstance(self.target, str) or len(self.target) > MAX_TARGET_NAME or not all(
                33 <= ord(c) < 127 for c in self.target):
            raise ConfigError(f"target must be a backend name of at most {MAX_TARGET_NAME} printable ASCII "
                              f"characters, got {self.target!r}")

    @cached_property
    def _perms(self) -> tuple[tuple[int, ...], ...]:
        identity = tuple(range(self.embed_dim))
        return tuple(
            identity if r == 0 else seeded_permutation(self.embed_dim, self.shuffle_seed, r)
            for r in range(self.reuploads)
        )

    # ----------------------------------------------------------------------------- layout
    @property
    def folds(self) -> int:
        """F = ceil(M / Nq): how many RX/RZ folds the embedding needs."""
        return -(-self.embed_dim // self.n_qubits)

    @cached_property
    def pairs(self) -> tuple[tuple[int, int], ...]:
        """The CRZ pairs (control i, target j), i < j, in lexicographic order."""
        n = self.n_qubits
        if self.entangler == "all":
            return tuple((i, j) for i in range(n) for j in range(i + 1, n))
        if self.entangler == "listed":
            return self.couplings
        line = tuple((i, i + 1) for i in range(n - 1))
        return tuple(sorted(line + ((0, n - 1),))) if self.entangler == "ring" and n > 2 else line

    def folded(self, fold: int) -> CircuitSpec:
        """This circuit with every native gate folded ``fold`` times (zero-noise extrapolation)."""
        return replace(self, fold=fold)

    @property
    def is_paper_circuit(self) -> bool:
        """The paper's circuit with nothing placed: what format version 3 can store."""
        return self.entangler == "all" and not self.layout and not self.target

    @property
    def params_per_layer(self) -> int:
        return 4 * self.n_qubits + len(self.pairs)

    @property
    def n_layers_total(self) -> int:
        return self.reuploads * self.layers

    @property
    def n_theta(self) -> int:
        """Number of trainable circuit angles."""
        return self.n_layers_total * self.params_per_layer

    @property
    def n_states(self) -> int:
        return 1 << self.n_qubits

    def permutation(self, upload: int) -> tuple[int, ...]:
        """The permutation applied to h at upload ``upload`` (``h_embedded = h[perm]``)."""
        return self._perms[upload]

    def layer_offsets(self, layer: int) -> dict[str, slice]:
        """Slices of theta for global entangling layer ``layer`` (0..R*E-1)."""
        n, c = self.n_qubits, len(self.pairs)
        base = layer * self.params_per_layer
        return {
            "rz_a": slice(base, base + n),
            "rx_a": slice(base + n, base + 2 * n),
            "crz": slice(base + 2 * n, base + 2 * n + c),
            "rz_b": slice(base + 2 * n + c, base + 3 * n + c),
            "rx_b": slice(base + 3 * n + c, base + 4 * n + c),
        }

    def embedding_gates(self, upload: int) -> list[Gate]:
        """The folded-angle embedding of upload ``upload``, fold by fold."""
        perm = self._perms[upload]
        gates = []
        for m, feature in enumerate(perm):
            fold, qubit = divmod(m, self.n_qubits)
            gates.append(Gate("RX" if fold % 2 == 0 else "RZ", (qubit,), "h", feature))
        return gates

    def entangling_gates(self, layer: int) -> list[Gate]:
        """One Sim et al. circuit-5 style layer in the paper's order: RZ RX, CRZ pairs, RZ RX."""
        off = self.layer_offsets(layer)
        n = self.n_qubits
        gates = [Gate("RZ", (q,), "theta", off["rz_a"].start + q) for q in range(n)]
        gates += [Gate("RX", (q,), "theta", off["rx_a"].start + q) for q in range(n)]
        gates += [Gate("CRZ", p, "theta", off["crz"].start + k) for k, p in enumerate(self.pairs)]
        gates += [Gate("RZ", (q,), "theta", off["rz_b"].start + q) for q in range(n)]
        gates += [Gate("RX", (q,), "theta", off["rx_b"].start + q) for q in range(n)]
        return gates

    def gates(self) -> list[Gate]:
        """The whole circuit in time order, starting from |0...0>."""
        out: list[Gate] = []
        for r in range(self.reuploads):
            out += self.embedding_gates(r)
            for e in range(self.layers):
                out += self.entangling_gates(r * self.layers + e)
        return out

    def describe(self, embed: str | None = None, folds: str | None = None) -> str:
        """One line; ``embed`` and ``folds`` replace M and the fold count (a stacked network's
        one size per block, ``26+6``)."""
        ent = "" if self.entangler == "all" else f" entangler={self.entangler}"
        return (
            f"Nq={self.n_qubits} M={embed or self.embed_dim} folds={folds or self.folds} R={self.reuploads} "
            f"E={self.layers}{ent} pairs={len(self.pairs)} theta={self.n_theta}"
        )

    def describe_target(self) -> str | None:
        """Where the circuit was made to run, or None."""
        if not self.target and not self.layout:
            return None
        where = f"physical qubits {list(self.layout)}" if self.layout else "a layout the transpiler chooses"
        return f"{self.target or 'a device'} on {where}"


# ------------------------------------------------------------------------------------ lowering
class Angle(NamedTuple):
    """Where a native gate's angle comes from: ``factor * h[index]`` (``source == "h"``; the
    spec's ``angle_scale`` is already in ``factor``) or ``factor * theta[index]``."""

    source: Literal["h", "theta"]
    index: int
    factor: float

    def value(self, h: Any, theta: Any) -> Any:
        """The angle for one or a batch of embedding vectors ``h`` (index on the last axis)."""
        return self.factor * (h[..., self.index] if self.source == "h" else theta[..., self.index])


#: Native gates: RX(a), RZ(a) on one wire; ZZ(a) = exp(-i a/2 Z(x)Z) on two (Qiskit's RZZ,
#: Braket's ZZ, PennyLane's IsingZZ).
GATES = ("RX", "RZ", "ZZ")
#: Noise channels: DEPOLARIZING (Pauli error p on one wire: p/3 each of X, Y, Z),
#: DEPOLARIZING2 (p/15 each of the 15 non-identity two-qubit Paulis), DAMPING (amplitude damping
#: gamma), READOUT (the classical flip (P(1|0), P(0|1)) as a channel just before measurement).
CHANNELS = ("DEPOLARIZING", "DEPOLARIZING2", "DAMPING", "READOUT")
#: A folded circuit separates each gate from its inverse by a BARRIER on its wires: no compiler
#: may merge them (Qiskit's transpiler would cancel G^-1 G). Simulators ignore it.
BARRIER = "BARRIER"


class Op(NamedTuple):
    """One native operation of a lowered circuit."""

    kind: str
    wires: tuple[int, ...]
    angle: Angle | None = None
    params: tuple[float, ...] = ()

    @property
    def is_gate(self) -> bool:
        return self.kind in GATES


def lower(spec: CircuitSpec, noise: NoiseSpec | None = None) -> list[Op]:
    """The circuit as native operations in time order, from |0...0>, with ``noise``'s channels.

    CRZ(t) on (control c, target t) is RZ_t(t/2) followed by ZZ_ct(-t/2), exactly (both are
    diagonal; their product is diag(1, 1, e^{-it/2}, e^{it/2}) up to nothing). Noise (see
    :mod:`quinr.noise`): after every RX and RZ, DEPOLARIZING then DAMPING on its wire; after every
    ZZ, DEPOLARIZING2 on its wires, then DAMPING on each; at the end READOUT on every wire.
    ``global_depolarizing`` is not a circuit operation (it acts on the probabilities). With
    ``spec.fold = 2k + 1`` every native gate G is followed by k pairs (BARRIER, G^-1, BARRIER, G),
    each with its noise: the same unitary with ``fold`` times the gate noise.
    """
    p1 = p2 = gamma = 0.0
    if noise is not None:
        p1, p2, gamma = noise.depolarizing, noise.depolarizing2, noise.damping
    ops: list[Op] = []

    def noisy(op: Op) -> None:
        ops.append(op)
        if len(op.wires) == 2 and p2:
            ops.append(Op("DEPOLARIZING2", op.wires, params=(p2,)))
        for q in op.wires:
            if len(op.wires) == 1 and p1:
                ops.append(Op("DEPOLARIZING", (q,), params=(p1,)))
            if gamma:
                ops.append(Op("DAMPING", (q,), params=(gamma,)))

    def gate(kind: str, wires: tuple[int, ...], angle: Angle) -> None:
        noisy(Op(kind, wires, angle))
        inverse = Op(kind, wires, angle._replace(factor=-angle.factor))
        for _ in range((spec.fold - 1) // 2):
            ops.append(Op(BARRIER, wires))
            noisy(inverse)
            ops.append(Op(BARRIER, wires))
            noisy(Op(kind, wires, angle))

    for g in spec.gates():
        factor = spec.angle_scale if g.source == "h" else 1.0
        if g.name == "CRZ":
            ctrl, targ = g.wires
            gate("RZ", (targ,), Angle(g.source, g.index, 0.5 * factor))
            gate("ZZ", (ctrl, targ), Angle(g.source, g.index, -0.5 * factor))
        else:
            gate(g.name, g.wires, Angle(g.source, g.index, factor))
    if noise is not None and noise.readout:
        conf = noise.confusion(spec.n_qubits)
        ops += [Op("READOUT", (w,), params=(float(conf[w][1, 0]), float(conf[w][0, 1]))) for w in range(spec.n_qubits)]
    return ops


def basis_bits(n_qubits: int, wires: int | None = None) -> np.ndarray:
    """(2^Nq, wires) 0/1 matrix: entry [x, w] is wire w's bit in basis state x, wire 0 the most
    significant (the first ``wires`` wires; all by default)."""
    wires = n_qubits if wires is None else wires
    return (np.arange(1 << n_qubits)[:, None] >> (n_qubits - 1 - np.arange(wires))) & 1


def gate_counts(ops: list[Op]) -> tuple[int, int]:
    """(single-qubit, two-qubit) native gates of a lowered circuit."""
    n2 = sum(op.kind == "ZZ" for op in ops)
    return sum(op.is_gate for op in ops) - n2, n2


def _check_int(name: str, value: Any, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")
