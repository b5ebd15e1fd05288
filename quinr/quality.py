"""The quality of a decode before it runs: PSNR under shots, device noise and readout mitigation.

A backend returns, for every circuit, a sample of ``shots`` draws from a probability vector: the
exact one for a noise-free simulator, the noisy one a device (or its model) gives. What the
backend samples from is its :class:`Expectation` (:meth:`quinr.backends.base.Driver.expectation`:
quinr's exact torch simulator under a declared noise spec, or the device-faithful model of
:mod:`quinr.backends.device_model` for a device); :func:`predict` turns it into the PSNR of the
decode, against the exact noise-free decode (what the file promises) and against the original.

Shot-noise model. A decode with S shots per circuit replaces each selected probability p by the
frequency K/S, K ~ Binomial(S, p) (the channels' marginals; the MSE is a sum over channels, so
their correlation does not matter). The selected probability is a basis state's (the paper's
readout) or, for a <Z> readout, the probability P(q_c = 1) of channel c's qubit, whose estimate
<Z_c> = 1 - 2 K/S is binomial too (:func:`channel_probabilities`). The decoded value is
g(K) = store(clip(QReLU(a v(K/S) + b), 0, 1)) with the channel's affine (a, b), v the identity
or 1 - 2x, and the signal's storage (8-bit or 16-bit rounding, or float scaling). The expected squared error against a reference value x is

    E[(g(K) - x)^2] = sum_K Binom(K; S, p) (g(K) - x)^2,

summed exactly over a window of +-10 standard deviations around S p (the mass outside is below
1e-20), so rounding, clipping and QReLU's reflection are all carried through. Where the count's
standard deviation exceeds 200 (very many shots) the binomial is replaced by its normal
approximation, integrated with 64-node Gauss-Hermite quadrature. Averaged over pixels and
channels it gives the expected MSE and so the PSNR of the decode. Under device noise, p is the
device's (noisy) probability and x the exact decode's value: bias and variance together.

Readout mitigation inverts the calibration on the whole histogram and projects onto the simplex,
a non-linear map of all counts; zero-noise extrapolation combines the histograms of the circuit
run with its gates folded 1, 3 and 5 times (each evaluated under the same noise model: the
folded circuit is lowered and, on a device, transpiled like any other). Their expectations are
taken by Monte Carlo (seeded multinomial draws from the noisy vectors at every folding factor,
mitigated exactly as the decoder does).

Device-noise predictions evaluate a random subset of the coordinates (:data:`PREDICT_COORDINATES`,
seeded): the MSE is a mean, so the subset estimates it without bias, and the device model costs
milliseconds per coordinate at Nq = 8.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .circuit import basis_bits
from .errors import ConfigError
from .expectation import Expectation
from .mitigation import mitigate_runs, scales_of, uses_readout, uses_zne
from .signal import Signal, SignalKind, peak_value

#: Elements per block of the windowed expectation (bounds memory).
_BLOCK = 2048
#: Above this standard deviation of the count K, the binomial is replaced by its normal
#: approximation, integrated with Gauss-Hermite quadrature (the window sum would be too wide).
_EXACT_SD = 200.0
_GH_NODES = 64
#: Coordinates a device-noise prediction evaluates (a seeded random subset of larger decodes).
PREDICT_COORDINATES = 2048
#: Monte Carlo draws per coordinate for a prediction with readout mitigation and shots.
MITIGATION_DRAWS = 16


@dataclass(frozen=True)
class ExactOutputs:
    """What the shot-noise model needs from a decoded file: for every pixel and channel the exact
    probability behind it (:func:`channel_probabilities`), and the channel's affine."""

    probs: np.ndarray  # (N, C) exact probabilities of the selected states (or qubits' 1)
    scale: np.ndarray  # (C,)
    offset: np.ndarray  # (C,)
    kind: SignalKind
    vmin: float
    vmax: float
    readout: str = "probs"  # ModelConfig.readout: "z" reads <Z> = 1 - 2 P(q = 1)

    def store(self, z: np.ndarray) -> np.ndarray:
        """Affine output z (after QReLU) -> the stored sample value, as the decoder writes it."""
        v = np.clip(z, 0.0, 1.0)
        if self.kind is SignalKind.U8:
            return np.rint(v * 255.0)
        if self.kind is SignalKind.U16:
            return np.rint(v * 65535.0)
        return (self.vmin + v * (self.vmax - self.vmin)).astype(np.float32).astype(np.float64)

    def value(self, p: np.ndarray, channel: np.ndarray) -> np.ndarray:
        z = self.scale[channel] * (p if self.readout == "probs" else 1.0 - 2.0 * p) + self.offset[channel]
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


def channel_probabilities(dists: np.ndarray, readout: str, channels: int) -> np.ndarray:
    """The probability behind each output channel, (N, C), from whole distributions (N, 2^Nq):
    the last C basis states' (the paper's readout), or for the <Z> readout P(qubit c = 1) of the
    first C qubits (wire 0 the most significant bit)."""
    if readout == "probs":
        return dists[:, -channels:]
    return dists @ basis_bits(dists.shape[1].bit_length() - 1, channels)


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
    probs: list[np.ndarray] = []
    base, readout = evaluator or exact_evaluator, hdr.model.readout

    def capture(spec, h, theta, last):  # the decoder's own forward pass, keeping each channel's probability
        p = base(spec, h, theta, last)  # (a <Z> readout asks for whole distributions: reduced chunk by chunk)
        probs.append(channel_probabilities(p.detach().double().numpy(), readout, hdr.channels))
        return p

    net.predict(coords, capture)
    return ExactOutputs(
        probs=np.concatenate(probs),
        scale=net.scale.detach().double().numpy(),
        offset=net.offset.detach().double().numpy(),
        kind=hdr.kind,
        vmin=hdr.vmin,
        vmax=hdr.vmax,
        readout=readout,
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


# ------------------------------------------------------------------------------- under noise
@dataclass(frozen=True)
class Prediction:
    """Predicted PSNR of a decode (dB; None where not predicted)."""

    #: against the exact noise-free decode: shots, device noise and mitigation together
    vs_exact: float | None
    #: against the original signal, when given
    vs_reference: float | None
    #: against the exact decode, counting shot noise only (what a noise-free device would give)
    shots_only: float | None
    #: the noise model: its source, or why there is none
    source: str
    #: how many coordinates the device-noise prediction evaluated
    coordinates: int

    def to_report(self) -> dict:
        """The fields a run's report keeps (non-finite PSNRs, an exact decode's, as None)."""
        return {"predicted_psnr_vs_exact": finite(self.vs_exact), "predicted_psnr_shots_only": finite(self.shots_only),
                "noise_source": self.source, "prediction_coordinates": self.coordinates}


def finite(x: float | None) -> float | None:
    """None for a PSNR that is not finite (an exact noise-free decode equals itself)."""
    return x if x is not None and math.isfinite(x) else None


class Predictor:
    """Predictions for decodes of ``bs`` on ``coords`` by a backend whose :class:`Expectation` is
    given (None: no model of its noise, ``no_model`` says why; then only the shot-noise-only
    figure is given): the exact outputs and the noisy distributions are computed once, then
    :meth:`at` any shot count. ``reference`` (N, C) is the original in stored units."""

    def __init__(self, bs, coords: torch.Tensor, expectation: Expectation | None, *, no_model: str = "",
                 reference: np.ndarray | None = None, samples: int = PREDICT_COORDINATES, seed: int = 0) -> None:
        if bs.header.model.blocks != 1:
            raise ConfigError("the prediction covers one block; stacked blocks propagate noise through <Z>")
        self.full = exact_outputs(bs, coords)
        self.expectation, self.no_model, self.seed = expectation, no_model, seed
        self.bs, self.coords = bs, coords
        self.noise_free = expectation is not None and expectation.noise_free
        n = coords.shape[0]
        self.idx = np.arange(n)
        if n > samples and not self.noise_free:  # the noisy part samples coordinates; exact outputs are at hand
            self.idx = np.sort(np.random.default_rng(seed).choice(n, samples, replace=False))
        f = self.full
        self.exact = ExactOutputs(f.probs[self.idx], f.scale, f.offset, f.kind, f.vmin, f.vmax, f.readout)
        self.reference = None if reference is None else np.asarray(reference, np.float64)[self.idx].ravel()
        self._dists: dict[int, np.ndarray] = {}

    def dists(self, fold: int = 1) -> np.ndarray:
        """The full probability vectors the backend samples from at one folding factor, on the
        evaluated coordinates (computed once)."""
        if fold not in self._dists:
            base = self.expectation.evaluator

            def folded(spec, h, theta, last):
                return base(spec if fold == 1 else spec.folded(fold), h, theta, last)

            self._dists[fold] = noisy_distributions(self.bs, self.coords[self.idx], folded)
        return self._dists[fold]

    def at(self, shots: int | None, mitigate: str | None = None) -> Prediction:
        shots_only = None if shots is None else psnr_from_mse(expected_mse(self.full, shots), self.full.peak)
        if self.expectation is None:
            return Prediction(None, None, shots_only, f"no device model: {self.no_model}", 0)
        if self.noise_free and not (shots is not None and uses_zne(mitigate)):
            # the decode samples its own exact probabilities (zero-noise extrapolation of shots
            # on a noise-free backend only adds variance: modelled below, like a device's)
            if mitigate is not None and (uses_readout(mitigate) or shots is not None):
                raise ConfigError("a noise-free backend has no readout error to mitigate")
            vs_ref = None
            if self.reference is not None:
                mse = (expected_mse(self.full, shots, self.reference) if shots is not None
                       else float(np.mean((self.full.exact_values() - self.reference) ** 2)))
                vs_ref = psnr_from_mse(mse, self.full.peak)
            return Prediction(math.inf if shots is None else shots_only, vs_ref, shots_only, self.expectation.source,
                              len(self.idx))
        conf = self.expectation.confusion
        runs = [self.dists(f) for f in scales_of(mitigate)]
        vs_exact = _psnr_under(self.exact, runs, shots, self.exact.exact_values(), mitigate, conf, self.seed)
        vs_ref = None
        if self.reference is not None:
            vs_ref = _psnr_under(self.exact, runs, shots, self.reference, mitigate, conf, self.seed)
        return Prediction(vs_exact, vs_ref, shots_only, self.expectation.source, len(self.idx))


def predict(bs, coords: torch.Tensor, shots: int | None, expectation: Expectation | None, *,
            mitigate: str | None = None, reference: np.ndarray | None = None, no_model: str = "",
            samples: int = PREDICT_COORDINATES, seed: int = 0) -> Prediction:
    """The PSNR a decode of ``bs`` on ``coords`` will reach with ``shots`` (see :class:`Predictor`)."""
    return Predictor(bs, coords, expectation, no_model=no_model, reference=reference, samples=samples,
                     seed=seed).at(shots, mitigate)


def predictor_on(backend, bs, coords: torch.Tensor, *, reference: np.ndarray | None = None,
                 samples: int = PREDICT_COORDINATES) -> Predictor:
    """A :class:`Predictor` for decodes of ``bs`` on ``backend`` (a
    :class:`~quinr.backends.Backend`), with the expectation its driver gives (or the reason it
    has none)."""
    from .errors import NoDeviceModel

    try:
        expectation, why = backend.driver.expectation(bs.header.model.circuit()), ""
    except NoDeviceModel as exc:
        expectation, why = None, str(exc)
    return Predictor(bs, coords, expectation, no_model=why, reference=reference, samples=samples)


def predict_on(backend, bs, coords: torch.Tensor, shots: int | None, *, mitigate: str | None = None,
               reference: np.ndarray | None = None, samples: int = PREDICT_COORDINATES) -> Prediction:
    """:func:`predict` for a decode on ``backend`` (see :func:`predictor_on`)."""
    return predictor_on(backend, bs, coords, reference=reference, samples=samples).at(shots, mitigate)


def noisy_distributions(bs, coords: torch.Tensor, evaluator) -> np.ndarray:
    """The full probability vectors (N, 2^Nq) the decoder's forward pass meets under
    ``evaluator`` (one block)."""
    from .codec import load_model

    net = load_model(bs)
    dists: list[torch.Tensor] = []

    def capture(spec, h, theta, last):
        p = evaluator(spec, h, theta, None)
        dists.append(p.detach())
        return p if last is None else p[:, -last:]

    net.predict(coords, capture)
    return torch.cat(dists).double().numpy()


def _psnr_under(exact: ExactOutputs, runs: list[np.ndarray], shots: int | None, ref: np.ndarray,
                mitigate: str | None, confusion: np.ndarray | None, seed: int) -> float:
    """PSNR against ``ref`` (flattened like the outputs) of decodes sampling ``runs`` (the
    distributions at each folding factor of the mitigation)."""
    c = exact.probs.shape[1]
    like = exact.probs.shape

    def outputs(p: np.ndarray) -> ExactOutputs:
        return ExactOutputs(channel_probabilities(p, exact.readout, c).reshape(like), exact.scale, exact.offset,
                            exact.kind, exact.vmin, exact.vmax, exact.readout)

    if uses_readout(mitigate) and confusion is None:
        raise ConfigError("readout mitigation needs the backend's readout calibration, which it does not have")
    confusions = [confusion] * len(runs)
    if mitigate is None or shots is None:
        p = runs[0] if mitigate is None else mitigate_runs(runs, mitigate, confusions)
        out = outputs(p)
        mse = expected_mse(out, shots, ref) if shots is not None else float(np.mean((out.exact_values() - ref) ** 2))
        return psnr_from_mse(mse, exact.peak)
    from .sim.sampling import sample_counts

    gen = torch.Generator().manual_seed(seed)
    total = 0.0
    for _ in range(MITIGATION_DRAWS):
        freqs = [sample_counts(torch.from_numpy(d), shots, gen).numpy() / shots for d in runs]
        total += float(np.mean((outputs(mitigate_runs(freqs, mitigate, confusions)).exact_values() - ref) ** 2))
    return psnr_from_mse(total / MITIGATION_DRAWS, exact.peak)
