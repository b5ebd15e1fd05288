"""Version 2's range-coded tensors (entropy model 1): a quantized Gaussian through constriction.

Kept so that every version-2 file still decodes. quinr no longer writes it (version 3 codes
tensors with the integer-exact model of :mod:`quinr.entropy`): its code is defined by
constriction's ``QuantizedGaussian`` (a ``LeakyQuantizer<f64, i32, u32, 24>`` over a Gaussian
CDF computed in floating point) and ``RangeEncoder`` (64-bit state, 32-bit words, stored
big-endian), which an independent decoder could only follow by porting that library.
"""

from __future__ import annotations

import numpy as np

from .errors import BitstreamError

#: Largest bit depth the range coder takes (its symbols are int32, its precision 24 bits).
MAX_CODED_BITS = 24


def params(values: np.ndarray) -> tuple[float, float]:
    """(mean, std) of a tensor's integers, as float32 values (what the file stores)."""
    mean = float(np.float32(values.mean()))
    std = float(np.float32(max(values.std(), 0.5)))
    return mean, std


def _model(bits: int, mean: float, std: float):
    import constriction

    return constriction.stream.model.QuantizedGaussian(0, (1 << bits) - 1, mean, std)


def cost(values: np.ndarray, bits: int) -> tuple[int, float, float] | None:
    """Bits the range coder spends on ``values`` under their fitted Gaussian (None: too wide)."""
    if bits > MAX_CODED_BITS or values.size == 0:
        return None
    mean, std = params(values)
    return 32 * len(encode([(values, bits, mean, std)])), mean, std


def encode(coded: list[tuple[np.ndarray, int, float, float]]) -> np.ndarray:
    """The u32 words of several tensors ``(values, bits, mean, std)`` in one range-coded stream."""
    if not coded:
        return np.zeros(0, np.uint32)
    import constriction

    enc = constriction.stream.queue.RangeEncoder()
    for values, bits, mean, std in coded:
        enc.encode(values.astype(np.int32), _model(bits, mean, std))
    return np.asarray(enc.get_compressed(), np.uint32)


def decode(words: np.ndarray, tensors: list[tuple[str, int, int, float, float]]) -> list[np.ndarray]:
    """Decode tensors ``(name, count, bits, mean, std)`` in order; the stream must be used up
    exactly (a stream with its words in the wrong byte order is refused, not decoded to garbage)."""
    import constriction

    decoder = constriction.stream.queue.RangeDecoder(words)
    out = []
    for name, count, bits, mean, std in tensors:
        try:
            out.append(np.asarray(decoder.decode(_model(bits, mean, std), count), np.int64))
        except Exception as exc:  # the coder raises its own types on a malformed stream
            raise BitstreamError(f"tensor {name}: the entropy-coded weights cannot be decoded ({exc})") from None
    if not decoder.maybe_exhausted():
        raise BitstreamError("the range-coded words do not decode to the stored tensors (damaged, or words in the "
                             "wrong byte order)")
    return out
