"""Exact evaluation of a circuit as a device runs it: a fast, batched density-matrix engine.

A :class:`DeviceProgram` is the circuit after a device's transpiler (native gates on the physical
qubits it touches, routing included) with the noise of every instruction as a channel and the
readout error of every measured qubit: what :mod:`quinr.backends.device_model` builds from a
device's calibration. It is plain data (numpy arrays), so this engine needs no SDK.

Why it is fast, and still exact:

* the state is the density matrix in the Pauli basis (its Pauli transfer representation: a real
  vector of 4^n coefficients ``r_P = Tr(P rho)``), and every operation its real Pauli transfer
  matrix: a quarter of the arithmetic of complex superoperators, half the memory;
* only the qubits the routed circuit touches are simulated;
* every run of single-qubit operations on a qubit (native gates, their noise, the data-dependent
  RZ of the embedding) is fused into the next two-qubit step on that qubit, and consecutive
  two-qubit operations on one pair into one step: the state is touched once per step, by one
  16 x 16 matrix, instead of once per gate and per channel. Steps that do not depend on the data
  are multiplied once per program and applied to all coordinates as one matrix product; where
  data enters, each coordinate's matrix is ``A0 + cos(t) Ac + sin(t) As`` products (cheap);
* axes are left where the last step put them (a permutation is paid only when the next step
  needs other axes in front), and coordinates are evolved in cache-sized chunks.

Everything is torch, float64 by default (agreeing with Aer's density-matrix simulation of the same
noisy circuit to 1e-8), and differentiable in the embedding h and the circuit angles theta:
noise-aware training on a device model runs through it. Written here rather than taken from a
library because none evaluates a fixed noisy circuit exactly, batched over parameter sets and
differentiably: Aer is exact but one circuit at a time and not differentiable, TorchQuantum's
noise models insert sampled Pauli errors (a Monte Carlo of the device, not its channels).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from ..circuit import CircuitSpec

#: Pauli-vector entries (batch x 4^n) evolved at a time: 4 MiB of float64, about what stays in
#: cache (measured: 2^19 runs Nq = 8 2.8x faster than 2^22).
CHUNK_ENTRIES = 1 << 19


@dataclass(frozen=True)
class Angle:
    """``const + sum(coef * h[index])`` (and the same over theta): an RZ angle after transpilation,
    an affine function of the circuit's parameters."""

    const: float
    h: tuple[tuple[int, float], ...] = ()
    theta: tuple[tuple[int, float], ...] = ()

    @property
    def fixed(self) -> bool:
        return not self.h and not self.theta


@dataclass(frozen=True)
class ProgramOp:
    """One operation of a device program on ``qubits`` (program indices, the first the most
    significant): ``"rz"`` with an :class:`Angle`, ``"unitary"`` with its matrix, or
    ``"channel"`` with its superoperator in the (ket bits, bra bits) order."""

    kind: str
    qubits: tuple[int, ...]
    angle: Angle | None = None
    matrix: np.ndarray | None = None


@dataclass(frozen=True)
class DeviceProgram:
    """A circuit as a device runs it (see the module docstring)."""

    n_qubits: int
    ops: tuple[ProgramOp, ...]
    #: the program qubit measured for each wire of the logical circuit (wire 0 first)
    measured: tuple[int, ...]
    #: per wire, the readout confusion ``C[measured, prepared]`` of its physical qubit (or None)
    confusion: np.ndarray | None
    #: what the program was built from: device, calibration date, layout
    source: str = ""
    #: the physical qubit behind each program qubit
    physical: tuple[int, ...] = field(default=())


# --------------------------------------------------------------------------------- compilation
def _pauli_basis(m: int) -> np.ndarray:
    """The 4^m Pauli matrices on m qubits (I, X, Y, Z per qubit, the first most significant)."""
    one = np.array([[[1, 0], [0, 1]], [[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]], complex)
    out = one
    for _ in range(m - 1):
        out = np.einsum("aij,bkl->abikjl", out, one).reshape(out.shape[0] * 4, out.shape[1] * 2, -1)
    return out


def ptm(superop: np.ndarray) -> np.ndarray:
    """The Pauli transfer matrix ``R[P, Q] = Tr(P Lambda(Q)) / 2^m`` (real) of a superop in the
    (ket bits, bra bits) row-major order."""
    m = int(round(np.log2(superop.shape[0]) / 2))
    paulis = _pauli_basis(m)
    to_pauli = paulis.conj().reshape(paulis.shape[0], -1)  # row P: vec(P^T) = conj(vec(P)), Hermitian P
    from_pauli = paulis.reshape(paulis.shape[0], -1).T / (1 << m)
    r = to_pauli @ superop @ from_pauli
    if np.abs(r.imag).max() > 1e-9:
        raise ValueError("not a Hermiticity-preserving map: its Pauli transfer matrix is complex")
    return r.real.copy()


@dataclass
class _Step:
    qubits: tuple[int, ...]
    parts: list  # fixed PTMs (np.ndarray, the step's size) and ("rz", position, Angle)


def _superop_of(op: ProgramOp) -> np.ndarray:
    if op.kind == "unitary":
        return np.kron(op.matrix, op.matrix.conj())
    return np.asarray(op.matrix)


def _embed(r: np.ndarray, pos: int) -> np.ndarray:
    """A one-qubit PTM (4 x 4) on position ``pos`` of a two-qubit step, as the step's 16 x 16 PTM."""
    return np.kron(r, np.eye(4)) if pos == 0 else np.kron(np.eye(4), r)


def compile_program(prog: DeviceProgram) -> list[_Step]:
    """Fuse the program into steps of Pauli transfer matrices (see the module docstring): each
    single-qubit operation joins its qubit's pending list; a two-qubit operation takes both
    pending lists into its step, or extends the previous step when that step is on the same pair
    and nothing else touched it. Runs of fixed parts are multiplied once."""
    steps: list[_Step] = []
    pending: dict[int, list] = {}
    last: dict[int, int] = {}  # qubit -> index of the open step it belongs to
    for op in prog.ops:
        if len(op.qubits) == 1:
            pending.setdefault(op.qubits[0], []).append(op)
            continue
        a, b = op.qubits
        k = last.get(a)
        if k is not None and last.get(b) == k and steps[k].qubits == (a, b):
            step = steps[k]
        else:
            steps.append(_Step((a, b), []))
            k = len(steps) - 1
            step = steps[k]
        for pos, q in ((0, a), (1, b)):
            for one in pending.pop(q, []):
                step.parts.append(("rz", pos, one.angle) if one.kind == "rz" else _embed(ptm(_superop_of(one)), pos))
        step.parts.append(ptm(_superop_of(op)))  # kron(U, U*) is in the step's (ket a, ket b, bra a, bra b) order
        last[a] = last[b] = k
    for q, ops in pending.items():  # what follows a qubit's last two-qubit operation
        steps.append(_Step((q,), [("rz", 0, o.angle) if o.kind == "rz" else ptm(_superop_of(o)) for o in ops]))
    for step in steps:
        merged: list = []
        for part in step.parts:
            if not isinstance(part, np.ndarray) and part[2].fixed:
                part = _rz_ptm(len(step.qubits), part[1], part[2].const)
            if isinstance(part, np.ndarray) and merged and isinstance(merged[-1], np.ndarray):
                merged[-1] = part @ merged[-1]
            else:
                merged.append(part)
        step.parts = merged
    return steps


def _rz_basis(m: int, pos: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(A0, Ac, As): the PTM of RZ(t) on position ``pos`` of an m-qubit step is
    ``A0 + cos(t) Ac + sin(t) As`` (RZ X RZ^dagger = cos t X + sin t Y)."""
    a0, ac, as_ = np.diag([1.0, 0, 0, 1]), np.diag([0.0, 1, 1, 0]), np.zeros((4, 4))
    as_[2, 1], as_[1, 2] = 1.0, -1.0
    if m == 1:
        return a0, ac, as_
    return _embed(a0, pos), _embed(ac, pos), _embed(as_, pos)


def _rz_ptm(m: int, pos: int, t: float) -> np.ndarray:
    a0, ac, as_ = _rz_basis(m, pos)
    return a0 + np.cos(t) * ac + np.sin(t) * as_


# ---------------------------------------------------------------------------------- evaluation
class DeviceEngine:
    """A compiled program, ready to evaluate batches (compiling once per program)."""

    def __init__(self, prog: DeviceProgram, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float64) -> None:
        self.prog, self.dtype, self.device = prog, dtype, torch.device(device)
        self.steps = compile_program(prog)
        self._parts = [[torch.as_tensor(p, dtype=dtype, device=self.device) if isinstance(p, np.ndarray) else p
                        for p in s.parts] for s in self.steps]
        self._rz = {(m, pos): tuple(torch.as_tensor(x, dtype=dtype, device=self.device) for x in _rz_basis(m, pos))
                    for m in (1, 2) for pos in range(m)}

    def probabilities(self, h: torch.Tensor, theta: torch.Tensor | None = None) -> torch.Tensor:
        """Probabilities (B, 2^Nq) of the logical wires, readout error included, for embeddings
        h (B, M); differentiable in h and theta."""
        n = self.prog.n_qubits
        step = max(1, CHUNK_ENTRIES >> (2 * n))
        h = h.to(device=self.device, dtype=self.dtype)
        th = None if theta is None else theta.to(device=self.device, dtype=self.dtype)
        outs = [self._evolve(h[i : i + step], th) for i in range(0, h.shape[0], step)]
        probs = torch.cat(outs) if outs else h.new_zeros(0, 1 << len(self.prog.measured))
        return self._readout(probs)

    def _step_ptm(self, k: int, h: torch.Tensor, theta: torch.Tensor | None) -> torch.Tensor:
        """The step's PTM: (4^m, 4^m) when it does not depend on the data, else (B, 4^m, 4^m)."""
        m = len(self.steps[k].qubits)
        total = None
        for part in self._parts[k]:
            if not isinstance(part, torch.Tensor):
                _, pos, angle = part
                t = torch.full((1,), angle.const, dtype=self.dtype, device=self.device)
                if angle.h:
                    t = t + sum(c * h[:, j] for j, c in angle.h)
                if angle.theta:
                    t = t + sum(c * theta[j] for j, c in angle.theta)
                a0, ac, as_ = self._rz[(m, pos)]
                part = a0 + torch.cos(t)[:, None, None] * ac + torch.sin(t)[:, None, None] * as_
            total = part if total is None else part @ total
        return total

    def _evolve(self, h: torch.Tensor, theta: torch.Tensor | None) -> torch.Tensor:
        """Pauli vectors (B, 4, ..., 4), one axis per qubit in whatever order the last step left
        them (``axes`` names each: -1 the batch), evolved step by step."""
        n, b = self.prog.n_qubits, h.shape[0]
        x = torch.zeros(b, 4**n, dtype=self.dtype, device=self.device)
        x[:, _z_indices(n, range(n), n)] = 1.0  # |0><0|^n = prod (I + Z) / 2 per qubit: r_P = 1 on {I, Z}^n
        x = x.reshape(b, *([4] * n))
        axes = [-1, *range(n)]
        for k, step in enumerate(self.steps):
            r = self._step_ptm(k, h, theta)
            qs = list(step.qubits)
            size = 4 ** len(qs)
            if r.dim() == 2:  # one matrix for every coordinate: a single GEMM
                order = qs + [a for a in axes if a not in qs]
                x = _permuted(x, axes, order)
                shape = x.shape
                x = (r @ x.reshape(size, -1)).reshape(shape)
            else:
                r = r.expand(b, size, size) if r.shape[0] != b else r
                order = [-1, *qs] + [a for a in axes if a != -1 and a not in qs]
                x = _permuted(x, axes, order)
                shape = x.shape
                x = torch.matmul(r, x.reshape(b, size, -1)).reshape(shape)
            axes = order
        x = _permuted(x, axes, [-1, *range(n)]).reshape(b, -1)
        return self._measure(x)

    def _measure(self, x: torch.Tensor) -> torch.Tensor:
        """Probabilities of the measured qubits (wire 0 the most significant bit) from Pauli
        vectors: the I/Z components of the measured qubits with I on the rest (the partial
        trace), Walsh-Hadamard transformed: p(z) = 2^-m sum_{P in {I,Z}^m} r_P (-1)^(z . P)."""
        n, meas = self.prog.n_qubits, list(self.prog.measured)
        m, b = len(meas), x.shape[0]
        z = x[:, _z_indices(n, meas, m)].reshape(b, *([2] * m))
        had = torch.tensor([[0.5, 0.5], [0.5, -0.5]], dtype=x.dtype, device=x.device)
        for w in range(m):
            z = torch.movedim(torch.tensordot(had, z, dims=([1], [w + 1])), 0, w + 1)
        return z.reshape(b, -1).clamp_min(0.0)

    def _readout(self, probs: torch.Tensor) -> torch.Tensor:
        if self.prog.confusion is None:
            return probs
        from ..noise import apply_confusion

        return apply_confusion(probs, self.prog.confusion)


def _z_indices(n: int, qubits, m: int) -> torch.Tensor:
    """Indices into an n-qubit Pauli vector of the 2^m strings with I or Z on ``qubits`` (in
    that order, the first most significant; Z = bit 1) and I elsewhere."""
    qubits = list(qubits)
    out = np.zeros(1 << m, np.int64)
    for bits in range(1 << m):
        for i, q in enumerate(qubits):
            if (bits >> (m - 1 - i)) & 1:
                out[bits] += 3 * 4 ** (n - 1 - q)
    return torch.from_numpy(out)


def _permuted(x: torch.Tensor, axes: list[int], order: list[int]) -> torch.Tensor:
    """x (axes named by ``axes``) with its axes in ``order``; no copy when already so."""
    if axes == order:
        return x
    return x.permute(*[axes.index(a) for a in order])


class DeviceModel:
    """A device's noise as an evaluator (``evaluator(spec, h, theta, last)``, see
    :mod:`quinr.model`): every circuit evaluated exactly as the device runs it. ``build`` makes
    the :class:`DeviceProgram` of a circuit (the backend layer supplies it, from a calibration);
    programs and their compilation are cached per circuit, so training and decoding through the
    model pay for them once."""

    def __init__(self, name: str, build: Callable[[CircuitSpec], DeviceProgram]) -> None:
        self.name, self._build = name, build
        self._engines: dict[tuple[CircuitSpec, str], DeviceEngine] = {}

    def engine(self, spec: CircuitSpec, device: torch.device | str = "cpu") -> DeviceEngine:
        key = (spec, str(device))
        if key not in self._engines:
            prog = next((e.prog for (s, _), e in self._engines.items() if s == spec), None) or self._build(spec)
            self._engines[key] = DeviceEngine(prog, device)
        return self._engines[key]

    def program(self, spec: CircuitSpec) -> DeviceProgram:
        return self.engine(spec).prog

    def __call__(self, spec: CircuitSpec, h: torch.Tensor, theta: torch.Tensor, last: int | None) -> torch.Tensor:
        p = self.engine(spec, h.device).probabilities(h, theta).to(h.dtype)
        return p if last is None else p[:, -last:]

    def describe(self) -> str:
        return f"device model {self.name}"
