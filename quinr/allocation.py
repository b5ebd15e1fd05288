"""Bit allocation: how many bits each stored tensor gets, once a network is trained.

Quantization needs no retraining, so one trained network gives a whole family of files; this
module picks one of them by what the user asked for:

- :func:`choose_bits` (``--bits auto``): the fewest bits per tensor within a PSNR drop of the
  16-bit file;
- :func:`fit_bytes` (rate control, ``--max-bytes`` / ``--target-bpp``): the best PSNR whose file
  fits a byte budget, filling it as closely as one bit of one tensor allows;
- :func:`bits_for_psnr` (``--target-psnr``): the smallest file at or above a PSNR.

The PSNR of an allocation is measured on a fixed, seeded sample of pixels (:data:`SAMPLE`), the
file size by writing the file (``size``: the entropy coder decides it, no formula does). Works on
any network with ``named_tensors()`` and ``predict()``: quinr's and the SIREN control's.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .errors import ConfigError
from .quant import MIN_BITS, check_bits, dequantize, quantize
from .signal import Signal, coordinates

#: ``bits="auto"`` keeps the PSNR within this many dB of the ``max_bits`` file.
AUTO_BITS_DROP_DB = 0.05
#: Pixels sampled to measure the PSNR of a bit allocation.
SAMPLE = 16384
#: The most bits an allocation gives a tensor: beyond 16 a trained network's PSNR no longer moves.
TOP_BITS = 16

Bits = tuple[int, ...]


class Scorer:
    """The PSNR of ``net`` with its tensors quantized at a given allocation, on a pixel sample."""

    def __init__(self, net: Any, signal: Signal, sample: int = SAMPLE, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        idx = rng.choice(signal.pixels, size=min(sample, signal.pixels), replace=False)
        self.coords = torch.from_numpy(coordinates(*signal.grid)[idx]).to(next(net.parameters()).device)
        self.target = signal.normalized().reshape(-1, signal.channels)[idx].astype(np.float64)
        self.originals = [t.detach().cpu().numpy() for _, t in net.named_tensors()]
        self.trial = copy.deepcopy(net)
        self.cache: dict[Bits, float] = {}

    @property
    def n(self) -> int:
        return len(self.originals)

    def __call__(self, per: Bits) -> float:
        if per not in self.cache:
            with torch.no_grad():
                for (_, param), x, b in zip(self.trial.named_tensors(), self.originals, per, strict=True):
                    param.copy_(torch.from_numpy(dequantize(quantize(x, b), b)))
            pred = np.clip(self.trial.predict(self.coords).cpu().numpy().astype(np.float64), 0, 1)
            mse = float(np.mean((pred - self.target) ** 2))
            self.cache[per] = math.inf if mse == 0 else -10 * math.log10(mse)
        return self.cache[per]


def choose_bits(net: Any, signal: Signal, max_drop_db: float = AUTO_BITS_DROP_DB, max_bits: int = TOP_BITS,
                sample: int = SAMPLE, seed: int = 0, scorer: Scorer | None = None) -> Bits:
    """A bit depth per tensor: for each tensor the fewest bits whose quantization costs at most
    its share of ``max_drop_db`` against all tensors at ``max_bits`` (measured on a fixed sample
    of pixels), then raised together until the whole allocation is within ``max_drop_db``."""
    check_bits(max_bits)
    score = scorer or Scorer(net, signal, sample, seed)
    n = score.n
    top = (max_bits,) * n
    reference = score(top)
    floor = reference - max_drop_db
    share = reference - max_drop_db / n
    per = list(top)
    for i in range(n):
        lo, hi = MIN_BITS, max_bits
        while lo < hi:  # fewest bits for tensor i alone (the PSNR grows with the bits)
            mid = (lo + hi) // 2
            if score(tuple(top[:i]) + (mid,) + tuple(top[i + 1 :])) >= share:
                hi = mid
            else:
                lo = mid + 1
        per[i] = lo
    while score(tuple(per)) < floor and any(b < max_bits for b in per):
        per = [min(b + 1, max_bits) for b in per]
    return tuple(per)


class Additive:
    """The PSNR of an allocation predicted from one tensor at a time: quantization errors of
    different tensors add (nearly) independently in the squared error, so the MSE of ``per`` is
    the MSE at :data:`TOP_BITS` plus, for each tensor, what quantizing it alone at its depth adds.
    One measurement per (tensor, depth) tried, instead of one per allocation: the allocators
    below search on this and measure only their answer."""

    def __init__(self, score: Scorer) -> None:
        self.score, self.n = score, score.n
        self.base = _mse(score((TOP_BITS,) * score.n))

    def mse(self, per: Bits) -> float:
        top = (TOP_BITS,) * self.n
        return self.base + sum(max(0.0, _mse(self.score(top[:i] + (b,) + top[i + 1 :])) - self.base)
                               for i, b in enumerate(per) if b < TOP_BITS)

    def psnr(self, per: Bits) -> float:
        m = self.mse(per)
        return math.inf if m == 0 else -10 * math.log10(m)


def _mse(psnr: float) -> float:
    return 0.0 if math.isinf(psnr) else 10 ** (-psnr / 10)


def _step(per: Bits, i: int, d: int) -> Bits:
    return per[:i] + (per[i] + d,) + per[i + 1 :]


def fit_bytes(net: Any, signal: Signal, max_bytes: int, size: Callable[[Bits], int],
              scorer: Scorer | None = None, estimate: Callable[[Bits], int] | None = None) -> Bits:
    """An allocation that fills ``max_bytes`` as well as one bit of one tensor allows, for the
    best PSNR found (the classic greedy rate allocation): from ``--bits auto``, bits are taken
    away where they add the least squared error per byte saved until the file fits, then given
    back where they remove the most per byte until no further bit fits or every tensor has
    :data:`TOP_BITS`. The search runs on :class:`Additive` and ``estimate`` (a fast prediction of
    ``size``); the answer is checked with ``size`` and trimmed until it fits."""
    score = scorer or Scorer(net, signal)
    model = Additive(score)
    guess = estimate or size
    n = score.n
    smallest = size((MIN_BITS,) * n)
    if smallest > max_bytes:
        raise ConfigError(f"this network's smallest file is {smallest} bytes, over the {max_bytes} asked for: "
                          "choose a smaller network")
    per = choose_bits(net, signal, scorer=score)

    def trim(per: Bits, fits: Callable[[Bits], bool], measure: Callable[[Bits], int]) -> Bits:
        while not fits(per):  # take away the bit that adds the least error per byte saved
            here_err, here_size = model.mse(per), measure(per)
            cands = [_step(per, i, -1) for i, b in enumerate(per) if b > MIN_BITS]
            per = min(cands, key=lambda c: (model.mse(c) - here_err) / max(here_size - measure(c), 1))
        return per

    per = trim(per, lambda p: guess(p) <= max_bytes, guess)
    while True:  # give back the bit that removes the most error per byte, while one still fits
        here_err, here_size = model.mse(per), guess(per)
        cands = [c for i, b in enumerate(per) if b < TOP_BITS and guess(c := _step(per, i, 1)) <= max_bytes]
        if not cands:
            break
        per = max(cands, key=lambda c: (here_err - model.mse(c)) / max(guess(c) - here_size, 1))
    return trim(per, lambda p: size(p) <= max_bytes, size)


def bits_for_psnr(net: Any, signal: Signal, target_db: float, size: Callable[[Bits], int],
                  max_bits: int = TOP_BITS, scorer: Scorer | None = None) -> Bits | None:
    """The smallest file found whose sampled PSNR is at least ``target_db``: from all tensors at
    ``max_bits``, bits are taken away where they save the most bytes per unit of added error
    while the predicted PSNR (:class:`Additive`) stays at or above the target; then, if the
    measured PSNR falls short, bits are given back where they help most until it does not.
    None when even ``max_bits`` falls short. ``size`` may be a prediction."""
    score = scorer or Scorer(net, signal)
    model = Additive(score)
    per: Bits = (max_bits,) * score.n
    if score(per) < target_db:
        return None
    while True:
        here_err, here_size = model.mse(per), size(per)
        cands = [c for i, b in enumerate(per) if b > MIN_BITS and model.psnr(c := _step(per, i, -1)) >= target_db
                 and size(c) <= here_size]  # a bit of a tiny tensor may not change the byte count
        if not cands:
            break
        per = max(cands, key=lambda c: (here_size - size(c)) / max(model.mse(c) - here_err, 1e-12))
    while score(per) < target_db:  # the prediction was optimistic: measured, add back
        here = score(per)
        cands = [_step(per, i, 1) for i, b in enumerate(per) if b < max_bits]
        per = max(cands, key=lambda c: (score(c) - here) / max(size(c) - size(per), 1))
    return per
