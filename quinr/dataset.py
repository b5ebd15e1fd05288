"""Rate-distortion over a dataset: one sweep per signal, then the dataset's curves and BD-rates.

``quinr rd DIR|GLOB --out OUT`` (and :func:`run_rd_many`) runs :func:`quinr.rd.run_rd` on every
signal into ``OUT/<name>/`` (each resumable, as a single sweep is), then writes ``OUT/dataset.json``
and ``OUT/dataset.png``:

* per codec and setting (a JPEG2000 rate, a COIN width, a quinr network at a bit depth): the mean
  bpp and mean PSNR over the signals (settings missing for some signal are left out); quinr's
  dataset curve is the Pareto frontier of its mean points, as a single sweep's is;
* per codec against JPEG2000 (the anchor): BD-rate and BD-PSNR (:mod:`quinr.bjontegaard`) of
  every signal's own curves and their mean, and of the mean curves.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .bjontegaard import bd_psnr, bd_rate
from .errors import ConfigError

ANCHOR = "jpeg2000"


def run_rd_many(inputs: list[Path], out_dir: str | Path, cfg=None, *, engine: str = "serial", workers: int = 2,
                max_pixels: int | None = None, signal_done: Callable[[str, int, int], None] | None = None,
                **kwargs: Any) -> dict[str, Any]:
    """Sweep every input into ``out_dir/<name>/``; returns (and writes) the dataset summary.
    ``kwargs`` go to each :func:`quinr.rd.run_rd` (progress, step)."""
    from .files import check_output_dir, make_dir
    from .rd import run_rd

    check_output_dir(out_dir)
    out = make_dir(out_dir)
    from .engines import ray_cluster

    with ray_cluster(workers) if engine == "ray" else contextlib.nullcontext():  # one cluster for the set
        for k, src in enumerate(inputs):
            run_rd(src, out / src.stem, cfg, engine=engine, workers=workers, max_pixels=max_pixels, **kwargs)
            if signal_done is not None:
                signal_done(src.name, k + 1, len(inputs))
    return summarize(out, [src.stem for src in inputs])


def _settings(folder: Path) -> dict[tuple[str, str], dict[str, float]]:
    """Every point of one signal's sweep, keyed by (codec, setting without the input)."""
    out = {}
    for path in sorted((folder / "points").glob("*/*.json")):
        doc = json.loads(path.read_text())
        params = {k: v for k, v in doc["params"].items() if k != "input"}
        for p in doc["points"]:
            key = json.dumps({**params, "bits": p.get("bits")}, sort_keys=True, default=str)
            out[(doc["codec"], key)] = {k: v for k, v in p.items() if isinstance(v, (int, float)) and k != "bits"}
    return out


def _curve(points: list[dict[str, float]], frontier: bool) -> tuple[list[float], list[float]]:
    from .rd import pareto

    pts = pareto(points) if frontier else sorted(points, key=lambda q: q["bpp"])
    return [p["bpp"] for p in pts], [p["psnr"] for p in pts]


def _delta(fn, anchor: tuple[list[float], list[float]], test: tuple[list[float], list[float]]) -> float | None:
    try:
        return fn(*anchor, *test)
    except ConfigError:  # a curve of fewer than two usable points has no delta
        return None


def summarize(out: Path, names: list[str]) -> dict[str, Any]:
    from .baselines.registry import codecs as registered
    from .files import atomic_write

    per_signal = {name: _settings(out / name) for name in names}
    keys = set.intersection(*(set(s) for s in per_signal.values())) if per_signal else set()
    codecs = sorted({codec for codec, _ in keys})
    frontier = {c: getattr(registered().get(c.split("-")[0]), "frontier", False) for c in codecs}
    summary: dict[str, Any] = {"signals": names, "anchor": ANCHOR, "codecs": {}}
    for codec in codecs:
        means = []
        for c, key in sorted(k for k in keys if k[0] == codec):
            vals = [per_signal[n][(c, key)] for n in names]
            if all(math.isfinite(v["psnr"]) for v in vals):
                means.append({"setting": json.loads(key), "bpp": sum(v["bpp"] for v in vals) / len(vals),
                              "psnr": sum(v["psnr"] for v in vals) / len(vals)})
        bpp, psnr = _curve(means, frontier[codec])
        summary["codecs"][codec] = {"mean_points": means, "curve": {"bpp": bpp, "psnr": psnr}}
    if ANCHOR in summary["codecs"]:
        anchor_mean = tuple(summary["codecs"][ANCHOR]["curve"].values())
        for codec, doc in summary["codecs"].items():
            if codec == ANCHOR:
                continue
            per = {}
            for n in names:
                own = _signal_curves(out / n)
                if codec in own and ANCHOR in own:
                    per[n] = {"bd_rate": _delta(bd_rate, own[ANCHOR], own[codec]),
                              "bd_psnr": _delta(bd_psnr, own[ANCHOR], own[codec])}
            rates = [v["bd_rate"] for v in per.values() if v["bd_rate"] is not None]
            gains = [v["bd_psnr"] for v in per.values() if v["bd_psnr"] is not None]
            mean_curve = tuple(doc["curve"].values())
            doc["vs_anchor"] = {
                "per_signal": per,
                "mean_bd_rate": sum(rates) / len(rates) if rates else None,
                "mean_bd_psnr": sum(gains) / len(gains) if gains else None,
                "bd_rate_of_mean_curves": _delta(bd_rate, anchor_mean, mean_curve),
                "bd_psnr_of_mean_curves": _delta(bd_psnr, anchor_mean, mean_curve),
            }
    atomic_write(out / "dataset.json", (json.dumps(summary, indent=2, default=str) + "\n").encode())
    summary["plot"] = str(_plot(out, summary))
    return summary


def _signal_curves(folder: Path) -> dict[str, tuple[list[float], list[float]]]:
    """Each codec's curve of one signal (its results file: quinr's frontier, the others' points)."""
    out = {}
    for path in folder.glob("*.json"):
        doc = json.loads(path.read_text())
        if "results" in doc:
            out[doc["name"]] = (doc["results"]["bpp"], doc["results"]["psnr"])
    return out


def _plot(out: Path, summary: dict[str, Any]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .rd import bpp_axis, save_figure

    fig, ax = plt.subplots(figsize=(6.5, 4.2), dpi=120)
    for codec, doc in summary["codecs"].items():
        bd = doc.get("vs_anchor", {}).get("mean_bd_rate")
        label = codec + ("" if bd is None else f" (BD-rate vs {ANCHOR} {bd:+.1f} %)")
        ax.plot(doc["curve"]["bpp"], doc["curve"]["psnr"], "o-", ms=4, label=label)
    bpp_axis(ax, "mean bits per pixel", "mean PSNR (dB)")
    ax.set_title(f"rate-distortion over {len(summary['signals'])} signals", fontsize=9)
    return save_figure(fig, out / "dataset.png")
