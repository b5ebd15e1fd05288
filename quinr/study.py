"""Shot-noise and noise studies: decode a file many times on a backend and set the measured PSNR
(mean and spread over repeats) beside what :mod:`quinr.quality` predicts.

* :func:`study_shots` sweeps the shots per circuit. The prediction is the exact binomial model of
  :func:`quinr.quality.expected_mse`, evaluated on what the backend samples from: its
  :class:`~quinr.quality.Expectation` (the torch density-matrix simulator of its declared
  :class:`~quinr.noise.NoiseSpec`, or a device's faithful model, e.g. ``aer.fake_torino``).
* :func:`study_noise` sweeps one noise parameter (depolarizing, readout, ...) on a backend that
  takes ``-O noise``, exact or with shots, predicted the same way.

PSNR is measured against the original signal when given, else against the exact noise-free
decode (what the file itself promises). Results go to JSON and CSV, and a PNG plot.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import ConfigError
from .noise import PARAMETERS, NoiseSpec
from .quality import load_reference, predictor_on, psnr_from_mse
from .signal import peak_value


@dataclass
class StudyPoint:
    """One setting of the sweep: PSNR of every repeat and the prediction."""

    value: float
    shots: int | None
    psnr: list[float]
    predicted_psnr: float | None
    seconds: float
    #: with a study's ``mitigate``: the same decodes (same seeds) with the mitigation
    mitigated: list[float] = field(default_factory=list)
    predicted_mitigated: float | None = None

    @property
    def mean(self) -> float:
        return _mean(self.psnr)

    @property
    def std(self) -> float:
        return _std(self.psnr)

    @property
    def mitigated_mean(self) -> float | None:
        return _mean(self.mitigated) if self.mitigated else None


def _mean(values: list[float]) -> float:
    return float(np.mean(values))  # inf when a decode was lossless (every such run is)


def _std(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.std(finite, ddof=1)) if len(finite) > 1 else 0.0


@dataclass
class StudyResult:
    kind: str  # "shots" or "noise"
    parameter: str  # "shots" or a NoiseSpec field
    backend: str
    reference: str
    noise: str
    repeats: int
    points: list[StudyPoint] = field(default_factory=list)
    #: the noise model the predictions come from (:attr:`quinr.quality.Prediction.source`)
    noise_source: str = ""
    #: the mitigation measured beside the unmitigated decodes, if any
    mitigation: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for p, q in zip(d["points"], self.points, strict=True):
            p.update(mean=q.mean, std=q.std, mitigated_mean=q.mitigated_mean)
        return d

    def save(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``study_<kind>.json``, ``.csv`` and ``.png`` into ``out_dir``."""
        from .files import atomic_open, atomic_write, make_dir

        out = make_dir(out_dir)
        stem = out / f"study_{self.kind}"
        paths = {"json": stem.with_suffix(".json"), "csv": stem.with_suffix(".csv"), "png": stem.with_suffix(".png")}
        atomic_write(paths["json"], (json.dumps(self.to_dict(), indent=2) + "\n").encode())
        with atomic_open(paths["csv"], "w", newline="") as f:
            w = csv.writer(f)
            lead = ["shots"] if self.parameter == "shots" else [self.parameter, "shots"]
            more = [f"psnr_mean_{self.mitigation}", f"predicted_psnr_{self.mitigation}"] if self.mitigation else []
            w.writerow([*lead, "psnr_mean", "psnr_std", "predicted_psnr", *more, "runs", "seconds"])
            for p in self.points:
                first = [p.shots] if self.parameter == "shots" else [p.value, p.shots or "exact"]
                extra = [_cell(p.mitigated_mean), _cell(p.predicted_mitigated)] if self.mitigation else []
                w.writerow([*first, _cell(p.mean), f"{p.std:.4f}", _cell(p.predicted_psnr), *extra, len(p.psnr),
                            f"{p.seconds:.2f}"])
        self.plot(paths["png"])
        return paths

    def plot(self, path: str | Path) -> Path:
        """Measured (mean and spread) and predicted PSNR at every point; with a mitigation, both
        series on the same axes. A lossless point (infinite PSNR) is drawn as a triangle at the
        top edge and named in the legend, never dropped."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        x = np.array([p.value for p in self.points], float)
        runs = sorted({len(p.psnr) for p in self.points})
        spread = f"{runs[0]} run{'s' if runs[0] > 1 else ''}" if len(runs) == 1 else f"{'/'.join(map(str, runs))} runs"
        fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
        series = [("", [p.mean for p in self.points], [p.std for p in self.points], [p.predicted_psnr for p in self.points])]
        if self.mitigation:
            series.append((f" with {self.mitigation} mitigation", [p.mitigated_mean for p in self.points],
                           [_std(p.mitigated) for p in self.points], [p.predicted_mitigated for p in self.points]))
        finite = [v for _, m, _, pr in series for v in [*m, *pr] if v is not None and math.isfinite(v)]
        top = (max(finite) + 3.0) if finite else 60.0
        for k, (suffix, mean, std, pred) in enumerate(series):
            color = f"C{k}"
            ok = [i for i, m in enumerate(mean) if m is not None and math.isfinite(m)]
            if ok:
                ax.errorbar(x[ok], [mean[i] for i in ok], yerr=[std[i] for i in ok], fmt="o", capsize=3, color=color,
                            label=f"measured on {self.backend}{suffix} (mean ± std, {spread})")
            lossless = [i for i, m in enumerate(mean) if m is not None and not math.isfinite(m)]
            if lossless:
                ax.plot(x[lossless], [top] * len(lossless), "^", color=color, ms=8,
                        label=f"lossless{suffix}: PSNR infinite (drawn at the top)")
            pts = [(xi, v) for xi, v in zip(x, pred, strict=True) if v is not None]
            if pts:
                ax.plot(*zip(*pts, strict=True), "-", color=color, alpha=0.7, label=f"predicted{suffix}")
        if self.kind == "shots":
            ax.set_xscale("log", base=2)
            ax.set_xlabel("shots per circuit")
        else:
            ax.set_xlabel(self.parameter)
        ax.set_ylabel(f"PSNR vs {self.reference} (dB)")
        ax.set_title(f"quinr study {self.kind}: {self.backend}" + ("" if self.noise == "none" else f"\nnoise {self.noise}"),
                     fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        from .files import atomic_open

        with atomic_open(path, "wb") as f:
            fig.savefig(f, format="png")
        plt.close(fig)
        return Path(path)


def _cell(v: float | None) -> str:
    return "" if v is None else ("inf" if math.isinf(v) else f"{v:.4f}")


def _sweep(
    kind: str,
    parameter: str,
    source,
    backend: str,
    settings: list[tuple[float, int | None, NoiseSpec]],
    noise: NoiseSpec,
    *,
    repeats: int,
    options: dict[str, Any] | None,
    reference,
    seed: int,
    crop,
    scale,
    progress: Callable[[int, int], None] | None,
    mitigate: str | None = None,
) -> StudyResult:
    from .backends import get_backend
    from .codec import decode_grid, decode_with, read_bitstream, read_source
    from .hardware import decode_on_backend

    if repeats < 1:
        raise ConfigError("repeats must be positive")
    from .checks import check_seed

    check_seed(seed + 1000 * (repeats - 1), "seed (of the last repeat)")
    if not settings:
        raise ConfigError("nothing to study: give at least one value")
    raw = read_source(source)
    bs = read_bitstream(raw)
    hdr = bs.header
    coords, _ = decode_grid(hdr, crop, scale)
    if reference is not None:
        ref = load_reference(reference, hdr, crop, scale)
        ref_name = "original"
    else:
        ref = decode_with(bs, None, crop, scale).data.astype(np.float64).reshape(-1, hdr.channels)
        ref_name = "exact decode"
    peak = peak_value(hdr.kind, hdr.vmin, hdr.vmax)
    result = StudyResult(kind, parameter, backend, ref_name, noise.describe(), repeats, mitigation=mitigate)
    predictors: dict[NoiseSpec, Any] = {}
    plan = []  # every point's backend, and whether the mitigation applies there, before any decode
    for value, shots, noise in settings:
        opts = dict(options or {})
        if not noise.noiseless:
            opts["noise"] = noise
        be = get_backend(backend, opts)
        plan.append((value, shots, noise, be, mitigate is not None and _applies(be, mitigate)))
    total = sum((repeats if shots is not None else 1) * (1 + applies) for _, shots, _, _, applies in plan)
    done = 0
    for value, shots, noise, be, applies in plan:
        t0 = time.perf_counter()
        psnrs: list[float] = []
        if noise.noiseless:  # a device brings its own noise
            result.noise = be.driver.describe_noise()
        mitigated: list[float] = []
        for r in range(repeats if shots is not None else 1):
            for how, into in ((None, psnrs), *(((mitigate, mitigated),) if applies else ())):
                sig, _ = decode_on_backend(raw, be, shots=shots, seed=seed + 1000 * r, crop=crop, scale=scale,
                                           mitigate=how)
                err = float(np.mean((sig.data.astype(np.float64).reshape(-1, hdr.channels) - ref) ** 2))
                into.append(psnr_from_mse(err, peak))
                done += 1
                if progress is not None:
                    progress(done, total)
        if mitigate and not applies:  # nothing to correct at this point: the mitigated decode is the decode
            mitigated = list(psnrs)
        predicted = predicted_m = None
        if hdr.model.blocks == 1:
            if noise not in predictors:  # the backend's own model of what it samples (noise spec, device)
                predictors[noise] = predictor_on(be, bs, torch.from_numpy(coords), samples=coords.shape[0],
                                                 reference=ref if reference is not None else None)
            plain = predictors[noise].at(shots)
            predicted, result.noise_source = _predicted(plain, reference is not None), plain.source
            if mitigate:  # where nothing is corrected, the mitigated decode is the decode
                predicted_m = (_predicted(predictors[noise].at(shots, mitigate), reference is not None) if applies
                               else predicted)
        result.points.append(StudyPoint(value, shots, psnrs, predicted, time.perf_counter() - t0, mitigated, predicted_m))
    return result


def _applies(be, mitigate: str) -> bool:
    """Whether ``mitigate`` has anything to correct on this backend (readout mitigation needs a
    readout error; zero-noise extrapolation needs gate noise)."""
    from .errors import BackendError

    try:
        be.check_mitigation(mitigate)
    except BackendError:
        return False
    return True


def _predicted(pred, against_reference: bool) -> float | None:
    value_db = pred.vs_reference if against_reference else pred.vs_exact
    return value_db if value_db is not None and math.isfinite(value_db) else None


def study_shots(
    source,
    backend: str,
    shots: list[int],
    *,
    repeats: int = 3,
    noise: NoiseSpec | str | None = None,
    options: dict[str, Any] | None = None,
    reference=None,
    seed: int = 0,
    crop: tuple[int, int, int, int] | None = None,
    scale: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    mitigate: str | None = None,
) -> StudyResult:
    """PSNR against shots per circuit on ``backend`` (under ``noise`` when it takes one); with
    ``mitigate``, every decode is also run with that mitigation (same seeds), beside it.
    ``progress(done, total)`` is called after every decode, with the decodes the study makes
    (exact points are decoded once; a mitigation doubles the decodes of the points it applies to)."""
    nz = _backend_noise(backend, options, noise)
    if any(not isinstance(s, int) or s < 1 for s in shots):
        raise ConfigError(f"shots must be positive integers, got {shots}")
    settings = [(float(s), int(s), nz) for s in sorted(set(shots))]
    return _sweep("shots", "shots", source, backend, settings, nz, repeats=repeats, options=options,
                  reference=reference, seed=seed, crop=crop, scale=scale, progress=progress, mitigate=mitigate)


def study_noise(
    source,
    backend: str,
    parameter: str,
    values: list[float],
    *,
    shots: int | None = None,
    repeats: int = 3,
    noise: NoiseSpec | str | None = None,
    options: dict[str, Any] | None = None,
    reference=None,
    seed: int = 0,
    crop: tuple[int, int, int, int] | None = None,
    scale: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    mitigate: str | None = None,
) -> StudyResult:
    """PSNR against one noise parameter (on top of ``noise``) on a backend that takes ``-O noise``;
    ``mitigate`` and ``progress`` as in :func:`study_shots`."""
    if parameter not in PARAMETERS:
        raise ConfigError(f"unknown noise parameter {parameter!r}; valid: {', '.join(PARAMETERS)}")
    base = _backend_noise(backend, options, noise)
    settings = []
    for v in values:
        if not math.isfinite(v) or v < 0:
            raise ConfigError(f"noise values must be non-negative numbers, got {v}")
        spec = replace(base, readout=((v, v),)) if parameter == "readout" else replace(base, **{parameter: float(v)})
        settings.append((float(v), shots, spec))
    return _sweep("noise", parameter, source, backend, settings, base, repeats=repeats, options=options,
                  reference=reference, seed=seed, crop=crop, scale=scale, progress=progress, mitigate=mitigate)


def _backend_noise(backend: str, options: dict[str, Any] | None, noise) -> NoiseSpec:
    """The study's noise: ``noise`` if given, else the noise the backend's own options declare."""
    from .backends import get_backend, parse_noise

    if noise is not None:
        return parse_noise(noise)

    return get_backend(backend, options).driver.noise
