"""Shot budgets before spending: the shot-noise model, cost estimates and the budget guard.

Shot-noise model. A decode with S shots per circuit replaces each selected probability p by the
frequency K/S, K ~ Binomial(S, p) (the channels' marginals; the MSE is a sum over channels, so
their correlation does not matter). The decoded value is g(K) = store(clip(QReLU(a K/S + b), 0, 1))
with the channel's affine (a, b) and the signal's storage (8-bit or 16-bit rounding, or float
scaling). The expected squared error against a reference value x is

    E[(g(K) - x)^2] = sum_K Binom(K; S, p) (g(K) - x)^2,

summed exactly over a window of +-10 standard deviations around S p (the mass outside is below
1e-20), so rounding, clipping and QReLU's reflection are all carried through. Where the count's
standard deviation exceeds 200 (very many shots) the binomial is replaced by its normal
approximation, integrated with 64-node Gauss-Hermite quadrature. Averaged over
pixels and channels it gives the expected MSE and so the PSNR of the decode: against the exact
decode (no original needed), or against the original signal when it is given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from .checks import check_max_cost, within_budget
from .config import evaluator_calls
from .errors import ConfigError
from .signal import Signal, SignalKind, peak_value

#: Elements per block of the windowed expectation (bounds memory).
_BLOCK = 2048
#: Above this standard deviation of the count K, the binomial is replaced by its normal
#: approximation, integrated with Gauss-Hermite quadrature (the window sum would be too wide).
_EXACT_SD = 200.0
_GH_NODES = 64


@dataclass(frozen=True)
class ExactOutputs:
    """What the shot-noise model needs from a decoded file: for every pixel and channel the exact
    probability of its basis state, and the channel's affine."""

    probs: np.ndarray  # (N, C) exact probabilities of the selected states
    scale: np.ndarray  # (C,)
    offset: np.ndarray  # (C,)
    kind: SignalKind
    vmin: float
    vmax: float

    def store(self, z: np.ndarray) -> np.ndarray:
        """Affine output z (after QReLU) -> the stored sample value, as the decoder writes it."""
        v = np.clip(z, 0.0, 1.0)
        if self.kind is SignalKind.U8:
            return np.rint(v * 255.0)
        if self.kind is SignalKind.U16:
            return np.rint(v * 65535.0)
        return (self.vmin + v * (self.vmax - self.vmin)).astype(np.float32).astype(np.float64)

    def value(self, p: np.ndarray, channel: np.ndarray) -> np.ndarray:
        z = self.scale[channel] * p + self.offset[channel]
        return self.store(np.where(z > 0, z, -1.99 * z))

    @property
    def channels(self) -> np.ndarray:
        """Channel index of every element of ``probs.ravel()``."""
        return np.tile(np.arange(self.probs.shape[1]), self.probs.shape[0])

    def exact_values(self) -> np.ndarray:
        """Stored values of the exact decode, flattened like ``probs``."""
        return self.value(np.clip(self.probs, 0.0, 1.0).ravel(), self.channels)

    @property
    def peak(self) -> float:
        return peak_value(self.kind, self.vmin, self.vmax)


def load_reference(reference, hdr, crop=None, scale=None) -> np.ndarray:
    """The original signal (path or :class:`Signal`) as stored values (N, C) on a decode's grid."""
    from .signal import load_signal

    if scale is not None:
        raise ConfigError("--reference cannot be compared with a rescaled decode; use --crop")
    from .grid import window

    sig = reference if isinstance(reference, Signal) else load_signal(reference)
    if sig.shape != (*hdr.grid, hdr.channels):
        raise ConfigError(f"reference has shape {sig.shape}, the file encodes {(*hdr.grid, hdr.channels)}")
    return sig.data.astype(np.float64)[window(hdr.grid, crop)].reshape(-1, hdr.channels)


def exact_outputs(bs, coords: torch.Tensor | None = None, evaluator=None) -> ExactOutputs:
    """Exact probabilities of a bitstream's decode (``bs``: a read :class:`Bitstream`); through
    ``evaluator`` (e.g. a noisy one) instead of the noise-free simulator when given."""
    from .codec import load_model
    from .model import exact_evaluator
    from .signal import coordinates

    hdr = bs.header
    if hdr.model.blocks != 1:
        raise ConfigError("the shot-noise model covers one block; stacked blocks propagate noise through <Z>")
    net = load_model(bs)
    if coords is None:
        coords = torch.from_numpy(coordinates(*hdr.grid, dtype=np.float64))
    probs: list[torch.Tensor] = []

    base = evaluator or exact_evaluator

    def capture(spec, h, theta, last):  # the decoder's own forward pass, keeping its probabilities
        p = base(spec, h, theta, last)
        probs.append(p)
        return p

    net.predict(coords, capture)
    return ExactOutputs(
        probs=torch.cat(probs).double().numpy(),
        scale=net.scale.detach().double().numpy(),
        offset=net.offset.detach().double().numpy(),
        kind=hdr.kind,
        vmin=hdr.vmin,
        vmax=hdr.vmax,
    )


def expected_mse(out: ExactOutputs, shots: int, reference: np.ndarray | None = None) -> float:
    """Expected MSE of a decode with ``shots`` per circuit against ``reference`` (N, C) in stored
    units (default: the exact decode)."""
    if shots < 1:
        raise ConfigError("shots must be positive")
    p = np.clip(out.probs, 0.0, 1.0).ravel()
    channel = out.channels
    ref = out.exact_values() if reference is None else np.asarray(reference, np.float64).ravel()
    from scipy.stats import binom

    sd_all = np.sqrt(shots * p * (1 - p))
    wide = sd_all > _EXACT_SD
    total = 0.0
    if wide.any():  # Gauss-Hermite over the normal approximation of K / S
        nodes, weights = np.polynomial.hermite_e.hermegauss(_GH_NODES)
        pw, cw, rw = p[wide], channel[wide], ref[wide]
        phat = pw[:, None] + np.sqrt(pw * (1 - pw) / shots)[:, None] * nodes[None, :]
        err = (out.value(np.clip(phat, 0.0, 1.0), cw[:, None]) - rw[:, None]) ** 2
        total += float((err * weights[None, :]).sum() / weights.sum())
    p, channel, ref = p[~wide], channel[~wide], ref[~wide]
    for i in range(0, p.size, _BLOCK):
        pb, cb, rb = p[i : i + _BLOCK], channel[i : i + _BLOCK], ref[i : i + _BLOCK]
        sd = np.sqrt(shots * pb * (1 - pb))
        lo = np.maximum(0, np.floor(shots * pb - 10 * sd - 1)).astype(np.int64)
        hi = np.minimum(shots, np.ceil(shots * pb + 10 * sd + 1)).astype(np.int64)
        width = int((hi - lo).max()) + 1
        k = lo[:, None] + np.arange(width)[None, :]
        valid = k <= hi[:, None]
        k = np.minimum(k, shots)
        w = binom.pmf(k, shots, pb[:, None]) * valid
        w /= w.sum(1, keepdims=True)
        err = (out.value(k / shots, cb[:, None]) - rb[:, None]) ** 2
        total += float((w * err).sum())
    return total / sd_all.size


def psnr_from_mse(mse: float, peak: float) -> float:
    return math.inf if mse <= 0 else 10.0 * math.log10(peak * peak / mse)


def shots_for_drop(out: ExactOutputs, reference: np.ndarray, drop_db: float, max_shots: int) -> int | None:
    """Smallest shot count whose expected PSNR (vs ``reference``) is within ``drop_db`` of the
    exact decode's, or None if even ``max_shots`` is not enough."""
    peak = out.peak
    target = psnr_from_mse(float(np.mean((out.exact_values() - reference.ravel()) ** 2)), peak) - drop_db

    def ok(s: int) -> bool:
        return psnr_from_mse(expected_mse(out, s, reference), peak) >= target

    hi = 1
    while hi < max_shots and not ok(hi):  # doubling, then bisection: few evaluations at huge S
        hi *= 2
    hi = min(hi, max_shots)
    if not ok(hi):
        return None
    lo = hi // 2 + 1 if hi > 1 else 1
    while lo < hi:  # the expected PSNR grows with the shot count
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


@dataclass(frozen=True)
class BudgetEstimate:
    """What a decode will cost before anything is submitted."""

    backend: str
    device: str
    circuits: int
    shots: int | None
    total_shots: int
    tasks: int
    device_seconds: float | None
    cost: float
    currency: str
    pricing: str
    pricing_date: str
    pricing_source: str
    predicted_psnr_vs_exact: float | None
    predicted_psnr: float | None
    max_cost: float | None
    within_budget: bool
    fits: str | None

    def to_dict(self) -> dict:
        return asdict(self)


def estimate_cost(profile, pixels: int, shots: int | None, blocks: int = 1) -> tuple[int, float, float | None]:
    """(tasks, cost, billed device seconds or None) of a decode of ``pixels`` coordinates through
    ``blocks`` stacked blocks, split into evaluator calls and tasks exactly as the decode submits
    them (:func:`quinr.config.evaluator_calls`)."""
    est = profile.estimate(evaluator_calls(pixels, blocks), shots)
    return est.tasks, est.cost, est.device_seconds


def largest_affordable(profile, pixels: int, shots: int | None, max_cost: float, blocks: int = 1) -> int:
    """Largest number of pixels whose decode's estimated cost stays within ``max_cost``."""
    lo, hi = 0, pixels
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if within_budget(estimate_cost(profile, mid, shots, blocks)[1], max_cost):
            lo = mid
        else:
            hi = mid - 1
    return lo


class BudgetGuard:
    """The spend one run is allowed, enforced twice.

    Before anything runs: a billed backend (its profile prices it, or its options point at a real
    device) refuses to run without an explicit budget (``max_cost``, or ``yes`` to accept the
    estimate), and a run whose estimate exceeds the budget stops. ``max_cost`` must be a finite
    number >= 0, and the comparisons are written so that a NaN can never pass.

    While it runs: every task is charged before it is submitted, at the profile's rates; a task
    past the approved count or the approved cost is refused (with ``yes``, the approval is the
    estimate itself), so no miscount elsewhere can spend more than was approved. A task the
    provider reports failed is not billed, so its charge is returned.
    """

    def __init__(self, backend, calls: Sequence[int], shots: int | None, max_cost: float | None = None,
                 yes: bool = False) -> None:
        from .errors import BudgetError

        max_cost = check_max_cost(max_cost)
        p = backend.profile
        est = p.estimate(calls, shots)
        if not math.isfinite(est.cost):
            raise BudgetError(f"backend {p.name}: the estimated cost is not a finite number; check the profile's prices")
        self.estimate, self.billed, self.shots, self.pricing = est, backend.billed, shots, p.pricing
        cur = p.pricing.currency
        if self.billed and max_cost is None and not yes:
            raise BudgetError(
                f"backend {p.name} is billed ({p.pricing.describe()}); this decode is estimated at "
                f"{est.cost:.2f} {cur} ({est.circuits} circuits, {est.tasks} tasks). Pass --max-cost {cur} (or --yes); "
                "`quinr budget` shows the details"
            )
        if max_cost is not None and not within_budget(est.cost, max_cost):
            raise BudgetError(
                f"estimated cost {est.cost:.2f} {cur} exceeds --max-cost {max_cost:.2f}; nothing was submitted. "
                "`quinr budget FILE --backend ... --max-cost ...` suggests a crop or scale that fits"
            )
        self.limit = est.cost if max_cost is None else max_cost
        self.tasks = 0
        self.spent = 0.0

    def charge(self, circuits: int) -> None:
        """Approve one task of ``circuits`` circuits before it is submitted."""
        if not self.billed:
            return
        from .errors import BudgetError

        cost = self.pricing.estimate(circuits, self.shots, 1)
        slack = 1e-9 * max(1.0, self.limit)
        if self.tasks + 1 > self.estimate.tasks or not within_budget(self.spent + cost, self.limit + slack):
            raise BudgetError(
                f"the next task would take this run past what was approved ({self.estimate.tasks} tasks, "
                f"{self.limit:.2f} {self.pricing.currency}); it was not submitted"
            )
        self.tasks += 1
        self.spent += cost

    def refund(self, circuits: int) -> None:
        """Return the charge of a task of ``circuits`` circuits that produced nothing (it failed
        before the provider accepted it, or the provider reported it failed: not billed)."""
        if self.billed and self.tasks > 0:
            self.tasks -= 1
            self.spent -= self.pricing.estimate(circuits, self.shots, 1)


def plan_budget(
    source,
    backend: str,
    *,
    shots: int | None = None,
    target_psnr_drop: float | None = None,
    reference=None,
    crop: tuple[int, ...] | None = None,
    scale: float | None = None,
    max_cost: float | None = None,
    max_pixels: int | None = None,
) -> BudgetEstimate:
    """Everything ``quinr budget`` reports, computed locally (no SDK, no network). Its verdict
    on ``max_cost`` is the decode's guard's (:class:`BudgetGuard`): the same checks, the same
    comparison, the same task count."""
    from .backends import get_profile
    from .backends.base import check_request
    from .backends.registry import check_billing
    from .codec import decode_grid, read_bitstream

    max_cost = check_max_cost(max_cost)
    profile = get_profile(backend)
    check_billing(profile)
    bs = read_bitstream(source)
    hdr = bs.header
    coords, out_grid = decode_grid(hdr, crop, scale, max_pixels)
    calls, per_call = hdr.model.blocks, math.prod(out_grid)
    circuits = per_call * calls
    ref = None if reference is None else load_reference(reference, hdr, crop, scale)
    out = exact_outputs(bs, torch.from_numpy(coords)) if hdr.model.blocks == 1 else None
    if target_psnr_drop is not None:
        if ref is None or out is None:
            raise ConfigError("--target-psnr-drop needs --reference (and a one-block network)")
        shots = shots_for_drop(out, ref, target_psnr_drop, profile.max_shots)
        if shots is None:
            raise ConfigError(f"even {profile.max_shots} shots (the backend's limit) lose more than {target_psnr_drop} dB")
    check_request(profile, hdr.model.circuit(), shots)
    tasks, cost, seconds = estimate_cost(profile, per_call, shots, calls)
    vs_exact = vs_ref = None
    if out is not None:
        peak = out.peak
        if shots is not None:
            vs_exact = psnr_from_mse(expected_mse(out, shots), peak)
        if ref is not None:
            if shots is None:
                vs_ref = psnr_from_mse(float(np.mean((out.exact_values() - ref.ravel()) ** 2)), peak)
            else:
                vs_ref = psnr_from_mse(expected_mse(out, shots, ref), peak)
    fits = None
    within = max_cost is None or within_budget(cost, max_cost)
    if not within:
        n = largest_affordable(profile, per_call, shots, max_cost, calls)
        if n == 0:
            fits = "nothing: even one pixel costs more"
        elif len(out_grid) == 1:
            s_fit = n / hdr.pixels
            fits = f"{n} samples, e.g. --crop 0,{n} or --scale {math.floor(s_fit * 1000) / 1000:g}"
        else:
            rows, cols = out_grid
            side = max(1, int(math.isqrt(n)))
            s_fit = math.sqrt(n / hdr.pixels)
            fits = (f"{n} pixels, e.g. --crop 0,0,{min(side, cols)},{min(side, rows)} "
                    f"or --scale {math.floor(s_fit * 1000) / 1000:g}")
    p = profile.pricing
    return BudgetEstimate(
        backend=profile.name,
        device=profile.device or profile.name,
        circuits=circuits,
        shots=shots,
        total_shots=circuits * (shots or 0),
        tasks=tasks,
        device_seconds=seconds,
        cost=cost,
        currency=p.currency,
        pricing=p.describe(),
        pricing_date=p.date,
        pricing_source=p.source or "free",
        predicted_psnr_vs_exact=vs_exact,
        predicted_psnr=vs_ref,
        max_cost=max_cost,
        within_budget=within,
        fits=fits,
    )
