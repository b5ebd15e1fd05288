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
    shared by the batch). Angles are gathered from the rows of [angle_scale * h | theta | 0]^T
    (without the h part for shared groups); gaps and masked gates point at the trailing 0.
    """

    def __init__(self, stages: list[tuple[GateRow, ...]], n: int, embed_dim: int, n_theta: int,
                 batched: bool, device: torch.device) -> None:
        self.n_stages, self.n, self.batched = len(stages), n, batched
        self.names = common_sequence([[row.name for row in rows] for rows in stages])
        h_off = embed_dim if batched else 0
        zero = h_off + n_theta
        index = torch.full((len(self.names), len(stages), n), zero, dtype=torch.long)
        for s, rows in enumerate(stages):
            r = 0
            for row in rows:
                while self.names[r] != row.name:
                    r += 1
                idx = row.index + (0 if row.source == "h" else h_off)
                if row.mask is not None:
                    idx = torch.where(row.mask > 0, idx, torch.full_like(idx, zero))
                index[r, s] = idx
                r += 1
        self.index = index.reshape(-1).to(device)

    def matrices(self, h: torch.Tensor, theta: torch.Tensor, scale: float) -> torch.Tensor:
        """The fused runs as complex matrices (stages, L, Nq, 2, 2), L = B for batched groups,
        else 1."""
        zero = theta.new_zeros(1, 1)
        if self.batched:
            bsz = h.shape[0]
            source = torch.cat(((h * scale).T, theta[:, None].expand(-1, bsz), zero.expand(1, bsz)))
        else:
            source = torch.cat((theta[:, None], zero))
        width = source.shape[1]
        half = 0.5 * source[self.index].reshape(len(self.names), self.n_stages * self.n, width)
        # unbind, not indexing: one backward op for all rows instead of a zero-filled copy each
        cos, sin = torch.cos(half).unbind(0), torch.sin(half).unbind(0)
        q: tuple[torch.Tensor, ...] = ()
        for name, c, s in zip(self.names, cos, sin, strict=True):
            if not q:  # the first gate acts on the identity
                zeros = torch.zeros_like(c)
                q = (c, -s, zeros, zeros) if name == "RZ" else (c, zeros, zeros, -s)
                continue
            ar, ai, br, bi = q
            if name == "RX":  # a' = c a - i s b ; b' = -i s a + c b
                q = (c * ar + s * bi, c * ai - s * br, c * br + s * ai, c * bi - s * ar)
            else:  # RZ: a' = e^{-i t/2} a ; b' = e^{+i t/2} b
                q = (c * ar + s * ai, c * ai - s * ar, c * br - s * bi, c * bi + s * br)
        ar, ai, br, bi = q
        # [[a, -conj(b)], [b, conj(a)]] as (re, im) pairs, then (stage, coordinate, qubit) order
        parts = torch.stack((ar, ai, -br, bi, br, bi, ar, -ai), -1)  # (S * Nq, L, 8)
        parts = parts.reshape(self.n_stages, self.n, width, 8).transpose(1, 2).contiguous()
        return torch.view_as_complex(parts.reshape(self.n_stages, width, self.n, 2, 2, 2))
