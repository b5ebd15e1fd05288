"""The fused single-qubit runs of the simulator's local stages, all stages in one pass.

Why: a local stage is a run of RX/RZ gates on every qubit, fused into one SU(2) matrix
[[a, -conj(b)], [b, conj(a)]] per qubit (and per coordinate where it reads h), tracked as the four
reals (Re a, Im a, Re b, Im b) with a few elementwise updates per gate. Done stage by stage, those
updates are hundreds of tiny tensor ops per training step (and as many again in autograd's
replay), which cost as much as the state evolution itself at Nq = 8. Here all local stages that
share the batch shape are updated together: their gate sequences are aligned on one common
sequence of gate types (identity gates, angle 0, fill the gaps), the angles of every gate come
from one row gather, their cosines and sines from one call each, and each gate of the common
sequence is one update over all stages and qubits at once. Tensors are laid out (stage, qubit,
coordinate) so every update runs on contiguous memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

#: Coordinates composed at a time without gradients (a decode's batch).
CHUNK = 8192


@dataclass(frozen=True)
class GateRow:
    """One gate applied to every qubit at once within a local stage."""

    name: str  # "RX" or "RZ"
    source: str  # "h" or "theta"
    index: torch.Tensor  # (Nq,) long: indices into h or theta
    mask: torch.Tensor | None  # (Nq,) float: 0 where the gate is padding (identity)


def common_sequence(sequences: list[list[str]]) -> list[str]:
    """A short common supersequence of gate-type sequences (the greedy majority merge): every
    sequence is a subsequence of the result, so each stage's gates can be placed on it in order."""
    pos = [0] * len(sequences)
    out: list[str] = []
    while any(p < len(s) for p, s in zip(pos, sequences, strict=True)):
        heads = [(len(s) - p, s[p]) for p, s in zip(pos, sequences, strict=True) if p < len(s)]
        votes: dict[str, int] = {}
        for left, name in heads:
            votes[name] = votes.get(name, 0) + left
        name = max(sorted(votes), key=lambda k: votes[k])
        out.append(name)
        pos = [p + 1 if p < len(s) and s[p] == name else p for p, s in zip(pos, sequences, strict=True)]
    return out


class Runs:
    """The gate runs of a group of local stages, laid out for :meth:`matrices`.

    ``batched`` groups read h (one matrix per coordinate); the others read theta only (one matrix
    shared by the batch). A gate's angle is the sum of two gathers, from the rows of
    [angle_scale * h | 0]^T and from [theta | 0]: it reads its own source and the other's
    trailing 0; gaps and masked gates read both zeros.
    """

    def __init__(self, stages: list[tuple[GateRow, ...]], n: int, embed_dim: int, n_theta: int,
                 batched: bool, device: torch.device) -> None:
        self.n_stages, self.n, self.batched = len(stages), n, batched
        self.names = common_sequence([[row.name for row in rows] for rows in stages])
        # two gathers added: h's rows [angle_scale * h | 0] and theta's entries [theta | 0]; each
        # gate reads one of them and the other's trailing zero (no (n_theta, B) copy of theta)
        h_index = torch.full((len(self.names), len(stages), n), embed_dim, dtype=torch.long)
        t_index = torch.full((len(self.names), len(stages), n), n_theta, dtype=torch.long)
        for s, rows in enumerate(stages):
            r = 0
            for row in rows:
                while self.names[r] != row.name:
                    r += 1
                idx = row.index if row.mask is None else torch.where(row.mask > 0, row.index, -1)
                if row.source == "h":
                    h_index[r, s] = torch.where(idx >= 0, idx, embed_dim)
                else:
                    t_index[r, s] = torch.where(idx >= 0, idx, n_theta)
                r += 1
        self.reads_h = bool((h_index < embed_dim).any())
        self.h_index = h_index.reshape(-1).to(device)
        self.t_index = t_index.reshape(-1).to(device)

    def matrices(self, h: torch.Tensor, theta: torch.Tensor, scale: float) -> torch.Tensor:
        """The fused runs as complex matrices (stages, L, Nq, 2, 2), L = B for batched groups,
        else 1. Without gradients a large batch (a decode) is composed :data:`CHUNK` coordinates at
        a time, so its working tensors stay small beside the result."""
        bsz = h.shape[0]
        if not self.batched or bsz <= CHUNK or (torch.is_grad_enabled() and (h.requires_grad or theta.requires_grad)):
            return self._matrices(h, theta, scale)
        first = self._matrices(h[:CHUNK], theta, scale)
        out = first.new_empty(self.n_stages, bsz, *first.shape[2:])
        out[:, :CHUNK] = first
        for start in range(CHUNK, bsz, CHUNK):
            out[:, start : start + CHUNK] = self._matrices(h[start : start + CHUNK], theta, scale)
        return out

    def angles(self, h: torch.Tensor, theta: torch.Tensor, scale: float) -> torch.Tensor:
        """Every gate's angle, (rows of the common sequence, stages * Nq, L): 0 for the gaps."""
        rows, k = len(self.names), self.n_stages * self.n
        angles = torch.cat((theta, theta.new_zeros(1)))[self.t_index].reshape(rows, k, 1)
        if self.batched and self.reads_h:  # in place: a decode batch holds one (rows, k, B) tensor
            h_rows = torch.cat(((h * scale).T, h.new_zeros(1, h.shape[0])))
            angles = h_rows[self.h_index].reshape(rows, k, h.shape[0]).add_(angles)
            del h_rows
        elif self.batched:
            angles = angles.expand(-1, -1, h.shape[0])
        return angles

    def _runs(self, h: torch.Tensor, theta: torch.Tensor, scale: float) -> tuple[torch.Tensor, ...]:
        """(Re a, Im a, Re b, Im b) of every fused run, each (stages * Nq, L)."""
        angles = self.angles(h, theta, scale)
        # unbind, not indexing: one backward op for all rows instead of a zero-filled copy each;
        # cosines and sines row by row, so a large decode batch holds one row of them at a time
        q: tuple[torch.Tensor, ...] = ()
        for name, angle in zip(self.names, angles.unbind(0), strict=True):
            half = 0.5 * angle
            c, s = torch.cos(half), torch.sin(half)
            if not q:  # the first gate acts on the identity
                zeros = torch.zeros_like(c)
                q = (c, -s, zeros, zeros) if name == "RZ" else (c, zeros, zeros, -s)
                continue
            ar, ai, br, bi = q
            if name == "RX":  # a' = c a - i s b ; b' = -i s a + c b
                q = (c * ar + s * bi, c * ai - s * br, c * br + s * ai, c * bi - s * ar)
            else:  # RZ: a' = e^{-i t/2} a ; b' = e^{+i t/2} b
                q = (c * ar + s * ai, c * ai - s * ar, c * br - s * bi, c * bi + s * br)
        return q

    def _matrices(self, h: torch.Tensor, theta: torch.Tensor, scale: float) -> torch.Tensor:
        ar, ai, br, bi = self._runs(h, theta, scale)
        width = ar.shape[-1]
        # [[a, -conj(b)], [b, conj(a)]] as (re, im) pairs, written once in (stage, coordinate,
        # qubit) order
        parts = [x.reshape(self.n_stages, self.n, width).transpose(1, 2) for x in (ar, ai, -br, bi, br, bi, ar, -ai)]
        return torch.view_as_complex(torch.stack(parts, -1).reshape(self.n_stages, width, self.n, 2, 2, 2))
