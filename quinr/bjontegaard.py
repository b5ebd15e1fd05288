"""Bjontegaard deltas: the average rate and quality difference between two rate-distortion curves.

BD-rate (Bjontegaard, VCEG-M33, 2001) is the average bitrate difference, in percent, at equal
quality over the quality range both curves cover; BD-PSNR the average quality difference at equal
rate over their common rate range. Current practice (JVET's common test conditions, CompressAI's
plots) interpolates each curve piecewise-cubically and monotonically (PCHIP) rather than with the
original cubic polynomial, which can overshoot between points; so does this module, on log10 of
the rate, with scipy's ``PchipInterpolator`` and its exact integral.

A negative BD-rate means the test codec needs fewer bits than the anchor for the same quality.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .errors import ConfigError


def _curve(rate: Sequence[float], quality: Sequence[float], name: str) -> tuple[np.ndarray, np.ndarray]:
    r, q = np.asarray(rate, np.float64), np.asarray(quality, np.float64)
    if r.shape != q.shape or r.ndim != 1:
        raise ConfigError(f"{name}: rates and qualities must be two lists of the same length")
    keep = np.isfinite(r) & np.isfinite(q) & (r > 0)
    r, q = r[keep], q[keep]
    if len(r) < 2:
        raise ConfigError(f"{name}: a Bjontegaard delta needs at least two finite points with positive rate")
    return np.log10(r), q


def _average_gap(x1: np.ndarray, y1: np.ndarray, x2: np.ndarray, y2: np.ndarray) -> float | None:
    """The mean of y2(x) - y1(x) over the x range both cover, each curve interpolated by PCHIP
    after sorting by x (points with the same x are averaged); None without an overlap."""
    from scipy.interpolate import PchipInterpolator

    def fit(x: np.ndarray, y: np.ndarray) -> PchipInterpolator:
        ux, inverse = np.unique(x, return_inverse=True)
        uy = np.bincount(inverse, weights=y) / np.bincount(inverse)
        if len(ux) < 2:
            raise ConfigError("a Bjontegaard delta needs at least two distinct points per curve")
        return PchipInterpolator(ux, uy)

    lo, hi = max(x1.min(), x2.min()), min(x1.max(), x2.max())
    if not hi > lo:
        return None
    f1, f2 = fit(x1, y1), fit(x2, y2)
    return float((f2.integrate(lo, hi) - f1.integrate(lo, hi)) / (hi - lo))


def bd_rate(anchor_rate: Sequence[float], anchor_quality: Sequence[float], test_rate: Sequence[float],
            test_quality: Sequence[float]) -> float | None:
    """Average rate difference of ``test`` against ``anchor`` at equal quality, in percent (None
    when the quality ranges do not overlap)."""
    ar, aq = _curve(anchor_rate, anchor_quality, "anchor")
    tr, tq = _curve(test_rate, test_quality, "test")
    gap = _average_gap(aq, ar, tq, tr)  # log10 rate as a function of quality
    return None if gap is None else (math.pow(10.0, gap) - 1.0) * 100.0


def bd_psnr(anchor_rate: Sequence[float], anchor_quality: Sequence[float], test_rate: Sequence[float],
            test_quality: Sequence[float]) -> float | None:
    """Average quality difference of ``test`` against ``anchor`` at equal rate, in the quality's
    unit (dB for PSNR; None when the rate ranges do not overlap)."""
    ar, aq = _curve(anchor_rate, anchor_quality, "anchor")
    tr, tq = _curve(test_rate, test_quality, "test")
    return _average_gap(ar, aq, tr, tq)
