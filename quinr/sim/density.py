"""Exact noisy simulation: a batched density-matrix simulator in torch, for small circuits.

It runs the circuit's lowering (:func:`quinr.circuit.lower`: native RX, RZ, ZZ and the noise
channels where the lowering places them), one op at a time, as Aer's and Braket's
density-matrix simulators and PennyLane's default.mixed do, so their probabilities agree under
the same spec (the contract tests check it). It is differentiable, so it can train noise-aware models
exactly, but it costs O(4^Nq) per coordinate and gate: meant for Nq <= 8 and small batches; the
white-noise approximation (:func:`quinr.noise.apply_classical` on the statevector result) is
the fast alternative.
"""

from __future__ import annotations

import torch

from ..circuit import BARRIER, CircuitSpec, basis_bits, lower
from ..circuit import gate_counts as _gate_counts
from ..errors import ConfigError
from ..noise import NoiseSpec, apply_classical

#: Largest register the density-matrix mode accepts (4^10 complex entries per coordinate).
MAX_DM_QUBITS = 10
#: Density-matrix entries (batch x 4^Nq) evolved at a time.
DM_CHUNK_ENTRIES = 1 << 21


def _split(rho: torch.Tensor, n: int, w: int, side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The two halves of rho (B, D, D) by the bit of wire w on the ket (side 0) or bra (1) index."""
    b, d = rho.shape[0], 1 << n
    lo, hi = 1 << w, 1 << (n - w - 1)
    x = rho.reshape(b, lo, 2, hi * d) if side == 0 else rho.reshape(b, d * lo, 2, hi)
    return x[:, :, 0], x[:, :, 1]


def _join(x0: torch.Tensor, x1: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    return torch.stack((x0, x1), dim=2).reshape(shape)


def _apply_1q(rho: torch.Tensor, u: torch.Tensor, n: int, w: int) -> torch.Tensor:
    """rho -> U rho U^dagger on wire w; u is (2, 2) or (B, 2, 2)."""
    u = u if u.ndim == 3 else u.unsqueeze(0)
    for side, m in ((0, u), (1, u.conj())):
        x0, x1 = _split(rho, n, w, side)
        c = [m[:, i, j].reshape(-1, 1, 1) for i in range(2) for j in range(2)]
        rho = _join(c[0] * x0 + c[1] * x1, c[2] * x0 + c[3] * x1, rho.shape)
    return rho


def _apply_diag(rho: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """rho -> D rho D^dagger for a diagonal unitary given as its diagonal (1 or B, D)."""
    return rho * (phase.unsqueeze(2) * phase.conj().unsqueeze(1))


def _trace_replace(rho: torch.Tensor, n: int, w: int) -> torch.Tensor:
    """Tr_w(rho) (x) I/2 on wire w: what full depolarisation of that wire leaves."""
    lo, hi = 1 << w, 1 << (n - w - 1)
    x = rho.reshape(rho.shape[0], lo, 2, hi, lo, 2, hi)
    half = 0.5 * (x[:, :, 0, :, :, 0, :] + x[:, :, 1, :, :, 1, :])
    zero = torch.zeros_like(half)
    row0 = torch.stack((half, zero), dim=4)
    row1 = torch.stack((zero, half), dim=4)
    return torch.stack((row0, row1), dim=2).reshape(rho.shape)


def _block_map(rho: torch.Tensor, n: int, w: int, diag: tuple[float, float, float, float], off: float) -> torch.Tensor:
    """A single-qubit channel of the form depolarizing and amplitude damping share: on wire w the
    populations (x00, x11) map through the 2x2 matrix ``diag`` (row-major) and both coherences
    scale by ``off``."""
    lo, hi = 1 << w, 1 << (n - w - 1)
    x = rho.reshape(rho.shape[0], lo, 2, hi, lo, 2, hi)
    x00, x01 = x[:, :, 0, :, :, 0, :], x[:, :, 0, :, :, 1, :]
    x10, x11 = x[:, :, 1, :, :, 0, :], x[:, :, 1, :, :, 1, :]
    row0 = torch.stack((diag[0] * x00 + diag[1] * x11, off * x01), dim=4)
    row1 = torch.stack((off * x10, diag[2] * x00 + diag[3] * x11), dim=4)
    return torch.stack((row0, row1), dim=2).reshape(rho.shape)


def _single_channel(lam: float, gamma: float) -> tuple[tuple[float, float, float, float], float]:
    """Depolarizing (full-depolarisation probability lam) followed by amplitude damping gamma,
    composed into one :func:`_block_map`."""
    a, b = 1 - lam / 2, lam / 2  # depolarizing on the populations
    s = (1 - gamma) ** 0.5
    diag = (a + gamma * b, b + gamma * a, (1 - gamma) * b, (1 - gamma) * a)
    return diag, (1 - lam) * s


def _rx(angle: torch.Tensor) -> torch.Tensor:
    c = torch.cos(angle / 2).to(torch.complex64)
    s = -1j * torch.sin(angle / 2).to(torch.complex64)
    return torch.stack((torch.stack((c, s), -1), torch.stack((s, c), -1)), -2)


def _readout_map(p10: float, p01: float) -> tuple[tuple[float, float, float, float], float]:
    """The readout flip as a :func:`_block_map`: populations mix, coherences vanish (its Kraus
    operators map |0><1| to 0)."""
    return (1 - p10, p01, p10, 1 - p01), 0.0


class _Program:
    """The lowered circuit with the Z eigenvalue vector of every wire (for the diagonal gates)."""

    def __init__(self, spec: CircuitSpec, noise: NoiseSpec, device: torch.device) -> None:
        signs = torch.from_numpy(1 - 2 * basis_bits(spec.n_qubits)).to(device, torch.float32)
        self.z = list(signs.T.contiguous())  # each wire's Z eigenvalues
        self.ops = lower(spec, noise)


def _evolve(prog: _Program, spec: CircuitSpec, h: torch.Tensor, theta: torch.Tensor, lam: float) -> torch.Tensor:
    """Run the lowered circuit on |0...0><0...0|; the global depolarizing term ``lam`` (quinr's
    whole-circuit white noise) acts after the gates, before readout."""
    n, b, d = spec.n_qubits, h.shape[0], spec.n_states
    rho = torch.zeros(b, d, d, dtype=torch.complex64, device=h.device)
    rho[:, 0, 0] = 1.0
    eye = torch.eye(d, dtype=torch.complex64, device=h.device) / d
    for op in [*prog.ops, None]:
        if lam and (op is None or op.kind == "READOUT"):
            rho, lam = (1 - lam) * rho + lam * eye, 0.0
        if op is None:
            break
        w = op.wires
        if op.kind == BARRIER:
            continue
        if op.kind == "RX":
            rho = _apply_1q(rho, _rx(op.angle.value(h, theta)), n, w[0])
        elif op.kind in ("RZ", "ZZ"):
            zs = prog.z[w[0]] if op.kind == "RZ" else prog.z[w[0]] * prog.z[w[1]]
            angle = op.angle.value(h, theta)
            phase = torch.exp(-0.5j * angle.reshape(-1, 1).to(torch.complex64) * zs)
            rho = _apply_diag(rho, phase)
        elif op.kind == "DEPOLARIZING":
            rho = _block_map(rho, n, w[0], *_single_channel(4.0 * op.params[0] / 3.0, 0.0))
        elif op.kind == "DAMPING":
            rho = _block_map(rho, n, w[0], *_single_channel(0.0, op.params[0]))
        elif op.kind == "DEPOLARIZING2":
            lam2 = 16.0 * op.params[0] / 15.0
            rho = (1 - lam2) * rho + lam2 * _trace_replace(_trace_replace(rho, n, w[0]), n, w[1])
        elif op.kind == "READOUT":
            rho = _block_map(rho, n, w[0], *_readout_map(*op.params))
        else:  # pragma: no cover - lower() emits nothing else
            raise ValueError(f"unknown operation {op.kind}")
    return torch.diagonal(rho, dim1=1, dim2=2).real.clamp_min(0.0)


def density_probabilities(spec: CircuitSpec, h: torch.Tensor, theta: torch.Tensor, noise: NoiseSpec) -> torch.Tensor:
    """Exact noisy probabilities (B, 2^Nq), float32 and differentiable, readout included."""
    if spec.n_qubits > MAX_DM_QUBITS:
        raise ConfigError(f"the density-matrix mode handles at most {MAX_DM_QUBITS} qubits, not {spec.n_qubits}; "
                          "use the white-noise approximation (noise mode 'global')")
    if h.ndim != 2 or h.shape[1] != spec.embed_dim:
        raise ValueError(f"h must have shape (B, {spec.embed_dim}), got {tuple(h.shape)}")
    h = h.to(torch.float32)
    theta = theta.to(device=h.device, dtype=torch.float32)
    prog = _Program(spec, noise, h.device)
    step = max(1, DM_CHUNK_ENTRIES >> (2 * spec.n_qubits))
    lam = noise.global_depolarizing
    outs = [_evolve(prog, spec, h[i : i + step], theta, lam) for i in range(0, h.shape[0], step)]
    return torch.cat(outs) if outs else h.new_zeros(0, spec.n_states)


#: How a torch evaluator carries gate noise: "dm" exactly (density matrices), "global" with the
#: white-noise approximation on the fast statevector simulator.
NOISE_MODES = ("dm", "global")


def gate_counts(spec: CircuitSpec) -> tuple[int, int]:
    """(single-qubit, two-qubit) native gates of the lowered circuit (a CRZ is one RZ and one ZZ)."""
    return _gate_counts(lower(spec))


def noisy_probabilities(spec: CircuitSpec, h: torch.Tensor, theta: torch.Tensor, noise: NoiseSpec,
                        mode: str = "dm") -> torch.Tensor:
    """Probabilities under ``noise``: exact (``mode="dm"``), or the statevector result through a
    global depolarizing channel of the same process fidelity, then readout (``"global"``)."""
    if mode not in NOISE_MODES:
        raise ConfigError(f"noise mode must be one of {NOISE_MODES}, got {mode!r}")
    if mode == "dm" and noise.has_gate_noise:
        return density_probabilities(spec, h, theta, noise)
    from .engine import probabilities

    lam = noise.white_noise_lambda(*gate_counts(spec))
    return apply_classical(probabilities(spec, h, theta), noise, spec.n_qubits, global_lambda=lam)


def noisy_evaluator(noise: NoiseSpec, mode: str = "dm"):
    """An evaluator for :class:`quinr.model.QuINR` under ``noise`` (differentiable)."""
    if mode not in NOISE_MODES:
        raise ConfigError(f"noise mode must be one of {NOISE_MODES}, got {mode!r}")

    def evaluate(spec: CircuitSpec, h: torch.Tensor, theta: torch.Tensor, last: int | None) -> torch.Tensor:
        p = noisy_probabilities(spec, h, theta, noise, mode)
        return p if last is None else p[:, -last:]

    return evaluate
