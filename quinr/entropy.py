"""Integer-exact entropy coding of quantized tensors: bitstream version 3's entropy model 2.

Why quinr has its own coder: a file must decode the same with any implementation, forever. The
version-2 Gaussian model (constriction's ``QuantizedGaussian``) derives its code from a
floating-point CDF, so an independent decoder would have to reproduce one library's ``erf`` to the
last bit. Here every step is integer arithmetic that fits in 64 bits, short enough to state in
full in ``docs/bitstream.md`` and to implement from that text alone (``quinr/reference.py`` does):

* **model**: a two-sided geometric ("discrete Laplace") distribution over the symbols
  ``0 .. 2^bits - 1`` (``bits <= 16``), centred on an integer ``mu`` with ratio ``q / 2^16``,
  turned into frequencies that sum to exactly ``2^16`` and are all at least 1 (every symbol can be
  coded) by :func:`frequencies`;
* **coder**: byte-wise rANS (Duda's asymmetric numeral systems in the form of Giesen's
  ``rans_byte``): a 32-bit state kept in ``[2^23, 2^31)``, 16-bit probabilities, bytes out.
  The decoder must end in the encoder's initial state with every byte consumed, so a damaged or
  re-ordered stream under a valid CRC is refused, never decoded to garbage.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import BitstreamError

#: Probabilities are integers out of 2^PROB_BITS.
PROB_BITS = 16
TOTAL = 1 << PROB_BITS
#: The rANS state stays in [RANS_L, RANS_L * 256).
RANS_L = 1 << 23
#: Largest bit depth model 2 takes (its table has 2^bits entries).
MAX_MODEL_BITS = 16
#: The weight of the centre symbol before normalisation.
_W0 = 1 << 30


def frequencies(bits: int, mu: int, q: int) -> np.ndarray:
    """The model's integer frequencies of the symbols ``0 .. 2^bits - 1`` (int64, sum 2^16).

    ``w(0) = 2^30``, ``w(d) = floor(w(d - 1) * q / 2^16)``; symbol ``k`` weighs ``w(|k - mu|)``;
    with ``W`` the sum of the weights and ``F = 2^16 - 2^bits``, ``f(k) = 1 + floor(w * F / W)``,
    and what is left of 2^16 goes to ``mu``.
    """
    n = 1 << bits
    reach = max(mu, n - 1 - mu) + 1
    w = np.zeros(reach, np.int64)
    w[0] = _W0
    for d in range(1, reach):
        w[d] = (int(w[d - 1]) * q) >> 16
        if w[d] == 0:
            break
    wk = w[np.abs(np.arange(n) - mu)]
    f = 1 + (wk * (TOTAL - n)) // int(wk.sum())
    f[mu] += TOTAL - int(f.sum())
    return f


def check_params(bits: int, mu: int, q: int) -> str | None:
    """Why (bits, mu, q) is not a valid model-2 parameter set (None when it is)."""
    if not 1 <= bits <= MAX_MODEL_BITS:
        return f"model 2 takes 1..{MAX_MODEL_BITS} bits, not {bits}"
    if not 0 <= mu < 1 << bits:
        return f"its centre {mu} is not a {bits}-bit symbol"
    if not 1 <= q < TOTAL:
        return f"its ratio {q} is outside 1..{TOTAL - 1}"
    return None


def fit(values: np.ndarray, bits: int) -> tuple[int, int, float]:
    """(mu, q, coded bits) of the model that codes ``values`` in the fewest bits: the median, and
    the ratio of the maximum-likelihood Laplace scale tried with its neighbours."""
    v = np.asarray(values, np.int64)
    mu = int(np.median(v)) if v.size else 0
    spread = float(np.mean(np.abs(v - mu))) if v.size else 0.0
    base = math.exp(-1.0 / spread) if spread > 0 else 1e-4
    best = None
    for factor in (0.8, 0.9, 0.95, 1.0, 1.02, 1.05, 1.1):
        q = min(TOTAL - 1, max(1, round(base * factor * TOTAL)))
        f = frequencies(bits, mu, q)
        cost = float(np.sum(PROB_BITS - np.log2(f[v]))) if v.size else 0.0
        if best is None or cost < best[2]:
            best = (mu, q, cost)
    assert best is not None
    return best


def encode(tensors: list[tuple[np.ndarray, int, int, int]]) -> bytes:
    """One rANS stream of several tensors ``(values, bits, mu, q)``, decoded in this order."""
    symbols: list[tuple[int, int]] = []  # (start, freq) of every symbol, in decoding order
    for values, bits, mu, q in tensors:
        f = frequencies(bits, mu, q)
        start = np.concatenate(([0], np.cumsum(f)[:-1]))
        v = np.asarray(values, np.int64).ravel()
        symbols += list(zip(start[v].tolist(), f[v].tolist(), strict=True))
    x, out = RANS_L, bytearray()
    for start, freq in reversed(symbols):  # rANS is a stack: encode backwards, decode forwards
        x_max = ((RANS_L >> PROB_BITS) << 8) * freq
        while x >= x_max:
            out.append(x & 0xFF)
            x >>= 8
        x = ((x // freq) << PROB_BITS) + (x % freq) + start
    out.reverse()
    return x.to_bytes(4, "little") + bytes(out)


def decode(stream: bytes, tensors: list[tuple[int, int, int, int]]) -> list[np.ndarray]:
    """Decode tensors ``(count, bits, mu, q)`` from one rANS stream; the stream must end exactly
    where the last symbol does, in the encoder's initial state."""
    if len(stream) < 4:
        raise BitstreamError("the entropy-coded stream is shorter than its 4-byte state")
    x, pos, out = int.from_bytes(stream[:4], "little"), 4, []
    if not RANS_L <= x < RANS_L << 8:
        raise BitstreamError("the entropy-coded stream's initial state is out of range")
    for count, bits, mu, q in tensors:
        f = frequencies(bits, mu, q)
        start = np.concatenate(([0], np.cumsum(f)[:-1]))
        slot_symbol = np.repeat(np.arange(1 << bits), f)  # which symbol owns each of the 2^16 slots
        starts, freqs, table = start.tolist(), f.tolist(), slot_symbol.tolist()
        vals = np.empty(count, np.int64)
        for i in range(count):
            slot = x & (TOTAL - 1)
            s = table[slot]
            x = freqs[s] * (x >> PROB_BITS) + slot - starts[s]
            while x < RANS_L:
                if pos >= len(stream):
                    raise BitstreamError("the entropy-coded stream ends before its last symbol")
                x = (x << 8) | stream[pos]
                pos += 1
            vals[i] = s
        out.append(vals)
    if x != RANS_L or pos != len(stream):
        raise BitstreamError("the entropy-coded stream does not decode to its tensors (it does not end in the "
                             "coder's initial state): the file is damaged")
    return out
