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
* Entangling layer: RZ, RX on every qubit; CRZ on every pair ``i < j`` (control ``i``); RZ, RX on
  every qubit. Its ``4 * Nq + Nq * (Nq - 1) / 2`` angles are laid out as
  ``[rz_a | rx_a | crz | rz_b | rx_b]``.
* Upload ``r`` embeds ``h[perm_r]``; ``perm_0`` is the identity (the input layer absorbs it) and
  the others come from a tiny portable PRNG seeded by ``shuffle_seed``, so any decoder on any
  platform rebuilds the same permutations.

Nothing here imports an SDK at module import time; :meth:`CircuitSpec.to_pennylane` imports
PennyLane when it is called.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, NamedTuple

from .errors import ConfigError

GateName = Literal["RX", "RZ", "CRZ"]

#: Limits of the spec. They bound what a bitstream header may ask a decoder to build.
MAX_QUBITS = 20
MAX_EMBED = 4096
MAX_REUPLOADS = 64
MAX_LAYERS = 64


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
    """

    n_qubits: int
    embed_dim: int
    reuploads: int = 2
    layers: int = 1
    shuffle_seed: int = 0
    angle_scale: float = 1.0

    def __post_init__(self) -> None:
        _check_int("n_qubits", self.n_qubits, 1, MAX_QUBITS)
        _check_int("embed_dim", self.embed_dim, 1, MAX_EMBED)
        _check_int("reuploads", self.reuploads, 1, MAX_REUPLOADS)
        _check_int("layers", self.layers, 1, MAX_LAYERS)
        _check_int("shuffle_seed", self.shuffle_seed, 0, 2**32 - 1)
        if not (math.isfinite(self.angle_scale) and 0.0 < self.angle_scale <= 64.0):
            raise ConfigError(f"angle_scale must be in (0, 64], got {self.angle_scale!r}")

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
        return tuple((i, j) for i in range(n) for j in range(i + 1, n))

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

    # ----------------------------------------------------------------------------- emitters
    def to_pennylane(self, h: Any, theta: Any) -> list[Any]:
        """The circuit as PennyLane operations (for a QNode body or a tape).

        ``h`` may carry a leading batch dimension (``(B, M)``); PennyLane then broadcasts the
        embedding gates. ``angle_scale`` is applied here.
        """
        import pennylane as qml  # lazy: the spec must not import SDKs at module import time

        ops = []
        for g in self.gates():
            angle = self.angle_scale * h[..., g.index] if g.source == "h" else theta[..., g.index]
            ops.append(getattr(qml, g.name)(angle, wires=list(g.wires)))
        return ops

    def describe(self) -> str:
        return (
            f"Nq={self.n_qubits} M={self.embed_dim} folds={self.folds} R={self.reuploads} "
            f"E={self.layers} pairs={len(self.pairs)} theta={self.n_theta}"
        )


def _check_int(name: str, value: Any, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")
