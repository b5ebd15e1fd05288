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

    @property
    def mean(self) -> float:
        return float(np.mean(self.psnr))

    @property
    def std(self) -> float:
        return float(np.std(self.psnr, ddof=1)) if len(self.psnr) > 1 else 0.0


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

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for p, q in zip(d["points"], self.points, strict=True):
            p.update(mean=q.mean, std=q.std)
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
            w.writerow([self.parameter, "shots", "psnr_mean", "psnr_std", "predicted_psnr", "repeats", "seconds"])
            for p in self.points:
                w.writerow([p.value, p.shots or "exact", f"{p.mean:.4f}", f"{p.std:.4f}",
                            "" if p.predicted_psnr is None else f"{p.predicted_psnr:.4f}", len(p.psnr), f"{p.seconds:.2f}"])
        self.plot(paths["png"])
        return paths

    def plot(self, path: str | Path) -> Path:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        x = np.array([p.value for p in self.points], float)
        fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
        ax.errorbar(x, [p.mean for p in self.points], yerr=[p.std for p in self.points], fmt="o", capsize=3,
                    label=f"measured on {self.backend} (mean ± std, {self.repeats} runs)")
        pred = [(xi, p.predicted_psnr) for xi, p in zip(x, self.points, strict=True) if p.predicted_psnr is not None]
        if pred:
            ax.plot(*zip(*pred, strict=True), "-", label="predicted (quinr.quality)")
        if self.kind == "shots":
            ax.set_xscale("log", base=2)
            ax.set_xlabel("shots per circuit")
        else:
            ax.set_xlabel(self.parameter)
        ax.set_ylabel(f"PSNR vs {self.reference} (dB)")
        ax.set_title(f"quinr study {self.kind}: {self.backend}" + ("" if self.noise == "none" else f"\nnoise {self.noise}"),
                     fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        from .files import atomic_open

        with atomic_open(path, "wb") as f:
            fig.savefig(f, format="png")
        plt.close(fig)
        return Path(path)


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
    progress: Callable[[], None] | None,
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
    result = StudyResult(kind, parameter, backend, ref_name, noise.describe(), repeats)
    predictors: dict[NoiseSpec, Any] = {}
    for value, shots, noise in settings:
        opts = dict(options or {})
        if not noise.noiseless:
            opts["noise"] = noise
        t0 = time.perf_counter()
        psnrs = []
        be = get_backend(backend, opts)
        if noise.noiseless:  # a device brings its own noise
            result.noise = be.driver.describe_noise()
        for r in range(repeats if shots is not None else 1):
            sig, _ = decode_on_backend(raw, be, shots=shots, seed=seed + 1000 * r, crop=crop, scale=scale)
            err = float(np.mean((sig.data.astype(np.float64).reshape(-1, hdr.channels) - ref) ** 2))
            psnrs.append(psnr_from_mse(err, peak))
            if progress is not None:
                progress()
        predicted = None
        if hdr.model.blocks == 1:
            if noise not in predictors:  # the backend's own model of what it samples (noise spec, device)
                predictors[noise] = predictor_on(be, bs, torch.from_numpy(coords), samples=coords.shape[0],
                                                 reference=ref if reference is not None else None)
            pred = predictors[noise].at(shots)
            value_db = pred.vs_reference if reference is not None else pred.vs_exact
            predicted = value_db if value_db is not None and math.isfinite(value_db) else None
            result.noise_source = pred.source
        result.points.append(StudyPoint(value, shots, psnrs, predicted, time.perf_counter() - t0))
        if shots is None and progress is not None:
            for _ in range(repeats - 1):
                progress()
    return result


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
    progress: Callable[[], None] | None = None,
) -> StudyResult:
    """PSNR against shots per circuit on ``backend`` (under ``noise`` when it takes one)."""
    nz = _backend_noise(backend, options, noise)
    if any(not isinstance(s, int) or s < 1 for s in shots):
        raise ConfigError(f"shots must be positive integers, got {shots}")
    settings = [(float(s), int(s), nz) for s in sorted(set(shots))]
    return _sweep("shots", "shots", source, backend, settings, nz, repeats=repeats, options=options,
                  reference=reference, seed=seed, crop=crop, scale=scale, progress=progress)


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
    progress: Callable[[], None] | None = None,
) -> StudyResult:
    """PSNR against one noise parameter (on top of ``noise``) on a backend that takes ``-O noise``."""
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
                  reference=reference, seed=seed, crop=crop, scale=scale, progress=progress)


def _backend_noise(backend: str, options: dict[str, Any] | None, noise) -> NoiseSpec:
    """The study's noise: ``noise`` if given, else the noise the backend's own options declare."""
    from .backends import get_backend, parse_noise

    if noise is not None:
        return parse_noise(noise)

    return get_backend(backend, options).driver.noise
