"""Readout mitigation: measured (or exact noisy) probability vectors corrected with a device's
readout calibration.

The inverse of every wire's 2x2 confusion matrix is applied (the tensored inverse, exact when the
readout error is independent per wire), then the result is projected onto the probability simplex
(the nearest probability distribution), which is what a decoder needs: a vector it can read
values from. Written here rather than taken from mthree (it takes Qiskit counts and a backend to
calibrate against, not a probability vector and a given calibration) or mitiq (GPL, and its
readout path re-samples bitstrings, adding shot noise back); see docs/noise.md.
"""

from __future__ import annotations

import numpy as np
import torch

from .noise import apply_confusion


def nearest_probability(q: np.ndarray) -> np.ndarray:
    """Row-wise Euclidean projection onto the probability simplex (the nearest probability
    distribution of Smolin, Gambetta and Smith 2012; sort-based, O(d log d) per row)."""
    q = np.asarray(q, np.float64)
    u = -np.sort(-q, axis=1)
    css = np.cumsum(u, axis=1) - 1.0
    j = np.arange(1, q.shape[1] + 1)
    k = (u - css / j > 0).sum(axis=1)  # the support size
    tau = css[np.arange(q.shape[0]), k - 1] / k
    return np.maximum(q - tau[:, None], 0.0)


def mitigate_readout(probs: np.ndarray, confusion: np.ndarray) -> np.ndarray:
    """Readout mitigation of measured (or exact noisy) probability vectors (B, 2^n): the inverse of
    every wire's confusion matrix (the tensored inverse), then the nearest probability distribution.
    Exact when the readout error is the tensored model; O(n 2^n) per circuit, batched."""
    inv = np.linalg.inv(np.asarray(confusion, np.float64))
    q = apply_confusion(torch.from_numpy(np.asarray(probs, np.float64)), inv).numpy()
    return nearest_probability(q)


# --------------------------------------------------------------------- zero-noise extrapolation
#: Decode-time mitigations: readout inversion, zero-noise extrapolation, or both (readout first,
#: at every noise scale, then the extrapolation).
MITIGATIONS = ("readout", "zne", "readout+zne")
#: The folding factors zero-noise extrapolation runs every circuit at (``G (G^-1 G)^k``).
ZNE_SCALES = (1, 3, 5)


def uses_zne(mitigate: str | None) -> bool:
    return bool(mitigate) and "zne" in mitigate.split("+")


def uses_readout(mitigate: str | None) -> bool:
    return bool(mitigate) and "readout" in mitigate.split("+")


def scales_of(mitigate: str | None) -> tuple[int, ...]:
    """The folding factors a decode with ``mitigate`` runs every circuit at."""
    return ZNE_SCALES if uses_zne(mitigate) else (1,)


def zne_weights(scales: tuple[int, ...] = ZNE_SCALES) -> np.ndarray:
    """Weights w with sum_i w_i p(scale_i) = the least-squares straight line through the points,
    evaluated at zero noise. A line rather than Richardson's polynomial through every point: with
    sampled probabilities the polynomial's weights (15/8, -5/4, 3/8 at 1, 3, 5) multiply the shot
    variance by 5.2, the line's (13/12, 1/3, -5/12) by 1.5; the price is a bias where the decay is
    curved (it is close to exponential, so the line under-corrects)."""
    x = np.asarray(scales, np.float64)
    xc = x - x.mean()
    return 1.0 / len(x) - x.mean() * xc / (xc**2).sum()


def extrapolate(runs: list[np.ndarray], scales: tuple[int, ...] = ZNE_SCALES) -> np.ndarray:
    """Zero-noise estimate of probability vectors (B, 2^n) measured at each folding factor:
    the weighted sum of :func:`zne_weights`, then the nearest probability distribution."""
    w = zne_weights(scales)
    return nearest_probability(sum(wi * np.asarray(r, np.float64) for wi, r in zip(w, runs, strict=True)))


def mitigate_runs(runs: list[np.ndarray], mitigate: str | None, confusions: list[np.ndarray | None]) -> np.ndarray:
    """What a decode with ``mitigate`` reads from its runs at :func:`scales_of` (one per factor,
    each with the readout calibration of the qubits it ran on)."""
    if uses_readout(mitigate):
        runs = [mitigate_readout(r, c) for r, c in zip(runs, confusions, strict=True)]
    return extrapolate(runs, scales_of(mitigate)) if len(runs) > 1 else runs[0]
