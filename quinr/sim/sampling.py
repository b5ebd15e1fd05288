"""Shot sampling from exact probabilities (what a perfect device with finite shots returns)."""

from __future__ import annotations

import torch


def sample_probabilities(probs: torch.Tensor, shots: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Empirical frequencies (float32 counts / shots) of ``shots`` draws per row of ``probs``."""
    return (sample_counts(probs, shots, generator) / shots).to(torch.float32)


def sample_counts(probs: torch.Tensor, shots: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Counts (float64, whole numbers) of ``shots`` multinomial draws per row of ``probs`` (B, K).

    Rows are renormalised first, so float32 round-off in the exact probabilities cannot make the
    draw fail.
    """
    if shots <= 0:
        raise ValueError(f"shots must be positive, got {shots}")
    p = probs.detach().to(torch.float64).clamp_min(0)
    p = p / p.sum(dim=1, keepdim=True)
    counts = torch.zeros_like(p)
    # torch.multinomial draws without replacement per sample; binomial splitting is exact and
    # vectorised: draw each state's count conditioned on the shots left for the remaining mass.
    left = torch.full((p.shape[0],), float(shots), dtype=torch.float64, device=p.device)
    mass = torch.ones_like(left)
    for k in range(p.shape[1] - 1):
        q = (p[:, k] / mass.clamp_min(1e-300)).clamp(0, 1)
        c = torch.binomial(left, q, generator=generator)
        counts[:, k] = c
        left = left - c
        mass = mass - p[:, k]
    counts[:, -1] = left
    return counts
