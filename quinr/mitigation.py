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
