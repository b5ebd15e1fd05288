"""Per-tensor uniform quantization of the network weights, shared by encoder and decoder.

Each tensor is mapped to ``bits``-bit integers on the grid ``lo + q * (hi - lo) / (2^bits - 1)``
with ``lo``/``hi`` its own minimum and maximum, stored as float32 in the bitstream header. The
encoder quantizes with the float32 values it stores, so the decoder rebuilds exactly the weights
the encoder measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ConfigError

MIN_BITS = 2
MAX_BITS = 32


@dataclass(frozen=True)
class QuantizedTensor:
    """Integers of one tensor plus the float32 range of its grid."""

    values: np.ndarray  # int64, flattened
    lo: float
    hi: float
    shape: tuple[int, ...]


def check_bits(bits: int) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int) or not MIN_BITS <= bits <= MAX_BITS:
        raise ConfigError(f"bits must be an integer in [{MIN_BITS}, {MAX_BITS}], got {bits!r}")
    return bits


def quantize(x: np.ndarray, bits: int) -> QuantizedTensor:
    """Uniform quantization of ``x`` to ``bits`` bits over [min(x), max(x)]."""
    check_bits(bits)
    flat = np.asarray(x, dtype=np.float64).ravel()
    if flat.size == 0 or not np.all(np.isfinite(flat)):
        raise ConfigError("cannot quantize an empty or non-finite tensor")
    lo, hi = float(np.float32(flat.min())), float(np.float32(flat.max()))
    levels = (1 << bits) - 1
    q = np.rint((flat - lo) / (hi - lo) * levels) if hi > lo else np.zeros_like(flat)
    return QuantizedTensor(np.clip(q, 0, levels).astype(np.int64), lo, hi, tuple(np.shape(x)))


def dequantize(qt: QuantizedTensor, bits: int) -> np.ndarray:
    """Float32 tensor on the grid of ``qt``."""
    levels = (1 << bits) - 1
    step = (qt.hi - qt.lo) / levels
    return (qt.lo + qt.values.astype(np.float64) * step).astype(np.float32).reshape(qt.shape)
