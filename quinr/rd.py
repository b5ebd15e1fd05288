"""Rate-distortion sweeps: every registered codec at several rates on one signal.

``run_rd`` plans the tasks of each codec of :mod:`quinr.baselines.registry` (quinr's network grid,
COIN's architectures, JPEG2000's target rates; a codec that cannot encode the signal, such as
JPEG2000 on a one-dimensional signal, is skipped), evaluates every task, writes each finished one
as its own JSON file (``points/<codec>/<key>.json``, so a rerun skips what is done), then one
CompressAI-style results file per codec (``<codec>.json``: ``{"name", "description", "meta",
"results": {"bpp": [...], "psnr": [...]}}``, bpp ascending; a codec that sweeps one network at
many rates, quinr, keeps its Pareto frontier there and every point under ``all_points``) and a
PSNR-vs-bpp plot.

Inputs: an image, a float ``.npy``, or a KITTI ``.bin`` scan (projected to its 64x1024 range
image first; LiDAR metrics, including the Chamfer distance, are then added to every point).
Independent points run in parallel through ``engine="local"`` (processes on this machine) or
``"ray"`` (a Ray cluster): see :mod:`quinr.engines`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .baselines.registry import RDInput, metrics, run_task
from .engines import check_engine, execute
from .errors import ConfigError
from .files import atomic_open, atomic_write, make_dir
from .signal import Signal, SignalKind, load_signal

__all__ = ["RDConfig", "RDInput", "Task", "load_input", "metrics", "pareto", "plan", "run_rd", "run_task", "skipped"]

class RDConfig:
    """What to sweep: which codecs, and each codec's settings, named ``<codec>_<option>`` after the
    options the codec declares (:mod:`quinr.baselines.registry`; e.g. ``quinr_grid``,
    ``coin_iters``, ``jpeg2000_bpp``). Unset settings take the codec's defaults, which give at
    least four points per codec."""

    def __init__(self, codecs: tuple[str, ...] | None = None, seed: int = 0, **settings: Any) -> None:
        from .baselines.registry import codecs as registered

        reg = registered()
        self.codecs = tuple(reg) if codecs is None else tuple(codecs)
        unknown = set(self.codecs) - set(reg)
        if unknown:
            raise ConfigError(f"unknown codecs {sorted(unknown)}; valid: {', '.join(reg)}")
        self.seed = seed
        self.settings = {name: {k: o.default for k, o in c.options.items()} for name, c in reg.items()}
        for key, value in settings.items():
            codec, _, option = key.partition("_")
            if option not in self.settings.get(codec, {}):
                valid = [f"{c}_{o}" for c, opts in self.settings.items() for o in opts]
                raise ConfigError(f"unknown sweep setting {key!r}; valid: {', '.join(valid)}")
            self.settings[codec][option] = value
        for name, c in reg.items():  # a control's unset options follow the codec it controls
            if c.follows is not None:
                for key, value in self.settings[name].items():
                    if value is None and key in self.settings[c.follows]:
                        self.settings[name][key] = self.settings[c.follows][key]

    def __getattr__(self, key: str) -> Any:  # cfg.quinr_grid, cfg.coin_iters, ...
        codec, _, option = key.partition("_")
        settings = self.__dict__.get("settings", {})
        if option in settings.get(codec, {}):
            return settings[codec][option]
        raise AttributeError(key)

    def with_points(self, n: int) -> RDConfig:
        """The sweep with at most ``n`` settings of each codec's points list (``--points N``)."""
        from .baselines.registry import codecs as registered

        out = RDConfig(self.codecs, self.seed)
        for name, codec in registered().items():
            for key, opt in codec.options.items():
                value = self.settings[name][key]
                out.settings[name][key] = tuple(value)[:max(1, n)] if opt.points else value
        return out


def load_input(path: str | Path, max_pixels: int | None = None, crop: tuple[int, ...] | None = None,
               scale: float | None = None) -> RDInput:
    """The sweep's signal: an image, a float .npy, or a KITTI scan projected to its range image;
    rescaled and cropped as ``encode --scale/--crop`` would (the LiDAR metrics need the whole
    64x1024 range image, so a window of one is swept as a plain float image)."""
    from .files import read_bytes
    from .views import view

    p = Path(path)
    digest = hashlib.sha256(read_bytes(p, "signal")).hexdigest()[:16]
    if crop is not None or scale is not None:  # another signal: its own results
        digest = hashlib.sha256(f"{digest} crop={crop} scale={scale}".encode()).hexdigest()[:16]
    if p.suffix.lower() == ".bin":
        from .lidar import project, read_kitti_bin

        img = project(read_kitti_bin(p))
        sig = view(Signal(img[..., None], SignalKind.F32, 0.0, float(img.max())), crop, scale)
        return RDInput(sig, p.stem, digest, lidar=sig.grid == (64, 1024))
    sig = view(load_signal(p, max_pixels=max_pixels), crop, scale)
    lidar = sig.kind is SignalKind.F32 and sig.grid == (64, 1024) and sig.channels == 1 and sig.vmin >= 0
    return RDInput(sig, p.stem, digest, lidar=lidar)


@dataclass
class Task:
    codec: str  # the results file it belongs to (quinr, coin, jpeg2000, jpeg2000-8bit, jpeg2000-16bit)
    params: dict[str, Any]
    family: str = ""  # the registered codec that runs it (not part of the key)
    key: str = field(init=False)

    def __post_init__(self) -> None:
        text = json.dumps({"codec": self.codec, **self.params}, sort_keys=True)
        self.key = hashlib.sha256(text.encode()).hexdigest()[:16]
        self.family = self.family or self.codec


def plan(inp: RDInput, cfg: RDConfig) -> list[Task]:
    """Every task of the sweep, codec by codec, skipping codecs that cannot encode the signal."""
    from .baselines.registry import codecs as registered

    reg = registered()
    return [Task(results, {**params, "input": inp.digest}, name)  # every key includes the input's digest
            for name in cfg.codecs if reg[name].unsupported(inp) is None
            for results, params in reg[name].plan(inp, cfg.settings[name], cfg.seed)]


def skipped(inp: RDInput, cfg: RDConfig) -> dict[str, str]:
    """The asked-for codecs that cannot encode the sweep's signal, and why."""
    from .baselines.registry import codecs as registered

    reg = registered()
    return {name: why for name in cfg.codecs if (why := reg[name].unsupported(inp)) is not None}


def pareto(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Points no other point beats in both rate and PSNR, bpp ascending."""
    front, best = [], -np.inf
    for pt in sorted(points, key=lambda q: (q["bpp"], -q["psnr"])):
        if pt["psnr"] > best:
            front.append(pt)
            best = pt["psnr"]
    return front


def run_rd(
    source: str | Path,
    out_dir: str | Path,
    cfg: RDConfig | None = None,
    *,
    engine: str = "serial",
    workers: int = 2,
    progress: Callable[[Task, bool], None] | None = None,
    max_pixels: int | None = None,
    crop: tuple[int, ...] | None = None,
    scale: float | None = None,
    step: Callable[[Task, int, int], None] | None = None,
) -> dict[str, Path]:
    """Run (or resume) a sweep; returns the written files by codec, plus ``"plot"``. ``crop`` and
    ``scale`` sweep a window or a resampled copy of the signal (see :func:`load_input`).
    ``step(task, done, total)`` follows the training steps of the point running (serial engine)."""
    from .files import check_output_dir

    cfg = cfg or RDConfig()
    check_engine(engine)
    out = check_output_dir(out_dir)
    inp = load_input(source, max_pixels, crop, scale)
    tasks = plan(inp, cfg)
    todo = []
    for t in tasks:
        done = _point_path(out, t).exists()
        if done and progress is not None:
            progress(t, True)
        if not done:
            todo.append(t)
    for task, points in execute(run_task, inp, todo, engine, workers, step):
        path = _point_path(out, task)
        make_dir(path.parent)
        data = json.dumps({"codec": task.codec, "params": task.params, "points": points}, indent=1)
        atomic_write(path, data.encode())  # a killed sweep never leaves half a point
        if progress is not None:
            progress(task, False)
    return write_results(inp, out, tasks, cfg)


def _point_path(out: Path, task: Task) -> Path:
    return out / "points" / task.codec / f"{task.key}.json"


def write_results(inp: RDInput, out: Path, tasks: list[Task], cfg: RDConfig) -> dict[str, Path]:
    by_codec: dict[str, list[dict[str, Any]]] = {}
    for t in tasks:
        path = _point_path(out, t)
        if path.exists():
            by_codec.setdefault(t.codec, []).extend(json.loads(path.read_text())["points"])
    written = {}
    from .baselines.registry import codecs as registered

    reg = registered()
    family = {t.codec: t.family for t in tasks}
    for codec, points in by_codec.items():
        owner = reg[family[codec]]
        points = _distinct(points)
        front = pareto(points) if owner.frontier else sorted(points, key=lambda q: q["bpp"])
        keys = [k for k in front[0] if all(isinstance(pt.get(k), (int, float)) for pt in front)]
        doc = {
            "name": codec,
            "description": owner.describe(codec, cfg.settings[family[codec]]),
            "meta": {"input": inp.name, "pixels": inp.signal.pixels, "psnr_peak": inp.signal.peak,
                     "bpp": "8 x file bytes / pixels", "lidar": inp.lidar},
            "results": {k: [pt[k] for pt in front] for k in keys},
        }
        if owner.frontier:
            doc["all_points"] = sorted(points, key=lambda q: q["bpp"])
        path = atomic_write(out / f"{codec}.json", (json.dumps(doc, indent=2) + "\n").encode())
        written[codec] = path
    if written:
        written["plot"] = plot(out, written, inp)
    return written


def _distinct(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One point per distinct file: settings that produce the same file (JPEG2000 at rates below
    its smallest codestream) give the same bytes and PSNR, and are shown once."""
    seen, out = set(), []
    for p in points:
        key = (round(p["bpp"], 9), round(p["psnr"], 6))
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def plot(out: Path, files: dict[str, Path], inp: RDInput) -> Path:
    """PSNR against bpp for every codec (quinr: its frontier, and every other network and bit
    depth as pale dots, named in the legend); for a LiDAR range image a second panel with the
    Chamfer distance of the re-projected point clouds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    docs = {codec: json.loads(path.read_text()) for codec, path in files.items()}
    panels = [("psnr", f"PSNR (dB, peak {inp.signal.peak:g})")]
    if inp.lidar and all("chamfer_m" in d["results"] for d in docs.values()):
        panels.append(("chamfer_m", "Chamfer distance (m, lower is better)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.2), dpi=120, squeeze=False)
    top = {key: max([v for d in docs.values() for v in d["results"].get(key, []) if math.isfinite(v)] or [0.0]) + 3.0
           for key, _ in panels}
    for ax, (key, label) in zip(axes[0], panels, strict=True):
        for codec, doc in docs.items():
            res = doc["results"]
            finite = [(b, v) for b, v in zip(res["bpp"], res[key], strict=True) if math.isfinite(v)]
            line = ax.plot(*zip(*finite, strict=True), "o-", ms=4,
                           label=f"{codec}" + (" (frontier)" if "all_points" in doc else ""))[0] if finite else None
            lossless = [b for b, v in zip(res["bpp"], res[key], strict=True) if math.isinf(v) and v > 0]
            if lossless:  # infinite PSNR: drawn at the top edge, never dropped
                ax.plot(lossless, [top[key]] * len(lossless), "^", ms=8, color=None if line is None else line.get_color(),
                        label=f"{codec}: lossless (PSNR infinite, drawn at the top)")
            if "all_points" in doc:
                pts = [p for p in doc["all_points"] if math.isfinite(p.get(key, math.nan))]
                ax.scatter([p["bpp"] for p in pts], [p[key] for p in pts], s=8, alpha=0.3,
                           color="grey" if line is None else line.get_color(),
                           label=f"{codec}: every network and bit depth tried")
        bpp_axis(ax, "bits per pixel (8 x file bytes / pixels)", label)
    axes[0][0].set_title(f"rate-distortion: {inp.name}", fontsize=9)
    return save_figure(fig, out / "rd.png")


def bpp_axis(ax, xlabel: str, ylabel: str) -> None:
    """A log bpp axis a reader can read: plain numbers at 1, 2, 5 x 10^k (every integer multiple
    within a narrow range), no minor labels; a grid and the legend."""
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    lo, hi = ax.get_xlim()
    subs = (1.0, 2.0, 5.0) if hi / lo > 8 else tuple(float(k) for k in range(1, 10))
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)


def save_figure(fig, path: Path) -> Path:
    """Write a figure as PNG atomically and release it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png")
    plt.close(fig)
    return path
