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
from dataclasses import asdict, dataclass

import numpy as np
import torch

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
    sig = reference if isinstance(reference, Signal) else load_signal(reference)
    if sig.shape != (hdr.height, hdr.width, hdr.channels):
        raise ConfigError(f"reference has shape {sig.shape}, the file encodes {(hdr.height, hdr.width, hdr.channels)}")
    data = sig.data.astype(np.float64)
    if crop is not None:
        x, y, w, h = crop
        data = data[y : y + h, x : x + w]
    return data.reshape(-1, hdr.channels)


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
        coords = torch.from_numpy(coordinates(hdr.height, hdr.width))
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


def estimate_cost(profile, circuits: int, shots: int | None) -> tuple[int, float, float | None]:
    """(tasks, cost, billed device seconds or None) for a decode of ``circuits`` circuits."""
    tasks = -(-circuits // profile.max_circuits_per_task)
    pricing = profile.pricing
    seconds = pricing.device_seconds(circuits, shots, tasks) if pricing.model == "per-second" else None
    return tasks, pricing.estimate(circuits, shots, tasks), seconds


def largest_affordable(profile, circuits: int, shots: int | None, max_cost: float) -> int:
    """Largest number of circuits (pixels) whose estimated cost stays within ``max_cost``."""
    lo, hi = 0, circuits
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if estimate_cost(profile, mid, shots)[1] <= max_cost:
            lo = mid
        else:
            hi = mid - 1
    return lo


def plan_budget(
    source,
    backend: str,
    *,
    shots: int | None = None,
    target_psnr_drop: float | None = None,
    reference=None,
    crop: tuple[int, int, int, int] | None = None,
    scale: float | None = None,
    max_cost: float | None = None,
) -> BudgetEstimate:
    """Everything ``quinr budget`` reports, computed locally (no SDK, no network)."""
    from .backends import get_profile
    from .backends.base import check_request
    from .codec import decode_grid, read_bitstream

    profile = get_profile(backend)
    bs = read_bitstream(source)
    hdr = bs.header
    coords, rows, cols = decode_grid(hdr, crop, scale)
    circuits = rows * cols * hdr.model.blocks
    ref = None if reference is None else load_reference(reference, hdr, crop, scale)
    out = exact_outputs(bs, torch.from_numpy(coords)) if hdr.model.blocks == 1 else None
    if target_psnr_drop is not None:
        if ref is None or out is None:
            raise ConfigError("--target-psnr-drop needs --reference (and a one-block network)")
        shots = shots_for_drop(out, ref, target_psnr_drop, profile.max_shots)
        if shots is None:
            raise ConfigError(f"even {profile.max_shots} shots (the backend's limit) lose more than {target_psnr_drop} dB")
    check_request(profile, hdr.model.circuit(), shots)
    tasks, cost, seconds = estimate_cost(profile, circuits, shots)
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
    within = max_cost is None or cost <= max_cost
    if not within:
        n = largest_affordable(profile, circuits, shots, max_cost) // hdr.model.blocks
        if n == 0:
            fits = "nothing: even one pixel costs more"
        else:
            side = max(1, int(math.isqrt(n)))
            s_fit = math.sqrt(n / (hdr.height * hdr.width))
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
