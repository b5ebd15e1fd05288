"""Rate-distortion sweeps: quinr, COIN and JPEG2000 at several rates on one signal.

``run_rd`` evaluates every point of every codec, writes each finished point as its own JSON file
(``points/<codec>/<key>.json``, so a rerun skips what is done), then one CompressAI-style results
file per codec (``<codec>.json``: ``{"name", "description", "meta", "results": {"bpp": [...],
"psnr": [...]}}``, bpp ascending) and a PSNR-vs-bpp plot.

* quinr: a grid of networks (Nq, M, R); each is trained once and written at every bit depth of
  the grid (quantization needs no retraining). Its results are the Pareto frontier of all
  points; every point is kept under ``all_points``.
* COIN: the COIN paper's architectures at ``coin_iters`` iterations (the paper: 50,000).
* JPEG2000: target rates through Pillow/OpenJPEG; for float signals (range images) two codecs,
  8-bit (as the paper) and 16-bit quantisation.

Inputs: an image, a float ``.npy``, or a KITTI ``.bin`` scan (projected to its 64x1024 range
image first; LiDAR metrics, including the Chamfer distance, are then added to every point).
Independent points run in parallel through ``engine="local"`` (processes) or ``"dask"``
(``pip install "quinr[cluster]"``; a running cluster via ``DASK_SCHEDULER_ADDRESS`` or a local
one).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .bitstream import FORMAT_VERSION
from .errors import ConfigError
from .files import atomic_open, atomic_write, make_dir
from .signal import Signal, SignalKind, load_signal

CODECS = ("quinr", "coin", "jpeg2000")
ENGINES = ("serial", "local", "dask")


@dataclass(frozen=True)
class RDConfig:
    """What to sweep. Defaults give at least four points per codec."""

    codecs: tuple[str, ...] = CODECS
    #: quinr networks (n_qubits, embed_dim, reuploads)
    quinr_grid: tuple[tuple[int, int, int], ...] = ((6, 12, 2), (8, 24, 2), (8, 32, 3), (10, 40, 2))
    #: bit depths each network is written at; "auto" = per-tensor depths (codec.choose_bits)
    quinr_bits: tuple[int | str, ...] = (8, 10, 12, 16, "auto")
    quinr_steps: int = 300
    quinr_batch: int | None = 4096
    coin_configs: tuple[str, ...] = ("5x14", "5x20", "5x30", "10x28")
    coin_iters: int = 50_000
    jpeg2000_bpp: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2, 0.4)
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = set(self.codecs) - set(CODECS)
        if unknown:
            raise ConfigError(f"unknown codecs {sorted(unknown)}; valid: {', '.join(CODECS)}")


@dataclass
class RDInput:
    """The signal of a sweep and, for LiDAR scans, what the range metrics need."""

    signal: Signal
    name: str
    digest: str
    lidar: bool = False


def load_input(path: str | Path, max_pixels: int | None = None) -> RDInput:
    from .files import read_bytes

    p = Path(path)
    digest = hashlib.sha256(read_bytes(p, "signal")).hexdigest()[:16]
    if p.suffix.lower() == ".bin":
        from .lidar import project, read_kitti_bin

        img = project(read_kitti_bin(p))
        sig = Signal(img[..., None], SignalKind.F32, 0.0, float(img.max()))
        return RDInput(sig, p.stem, digest, lidar=True)
    sig = load_signal(p, max_pixels=max_pixels)
    lidar = sig.kind is SignalKind.F32 and sig.grid == (64, 1024) and sig.channels == 1 and sig.vmin >= 0
    return RDInput(sig, p.stem, digest, lidar=lidar)


@dataclass
class Task:
    codec: str  # the results file it belongs to (quinr, coin, jpeg2000, jpeg2000-8bit, jpeg2000-16bit)
    params: dict[str, Any]
    key: str = field(init=False)

    def __post_init__(self) -> None:
        text = json.dumps({"codec": self.codec, **self.params}, sort_keys=True)
        self.key = hashlib.sha256(text.encode()).hexdigest()[:16]


def plan(inp: RDInput, cfg: RDConfig) -> list[Task]:
    tasks: list[Task] = []

    def add(codec: str, **params: Any) -> None:  # every key includes the input's digest
        tasks.append(Task(codec, {**params, "input": inp.digest}))

    if "quinr" in cfg.codecs:
        for nq, m, r in cfg.quinr_grid:
            add("quinr", n_qubits=nq, embed_dim=m, reuploads=r, bits=list(cfg.quinr_bits), steps=cfg.quinr_steps,
                batch=cfg.quinr_batch, seed=cfg.seed, format=FORMAT_VERSION)
    if "coin" in cfg.codecs:
        for name in cfg.coin_configs:
            add("coin", config=name, iters=cfg.coin_iters, seed=cfg.seed)
    if "jpeg2000" in cfg.codecs:
        depths = (8, 16) if inp.signal.kind is SignalKind.F32 else (None,)
        for depth in depths:
            codec = "jpeg2000" if depth is None else f"jpeg2000-{depth}bit"
            for bpp in cfg.jpeg2000_bpp:
                add(codec, bpp=bpp, depth=depth)
    return tasks


def _metrics(inp: RDInput, decoded: Signal) -> dict[str, float]:
    from .signal import psnr

    out = {"psnr": psnr(inp.signal, decoded)}
    if inp.lidar:
        from .lidar import range_metrics

        m = range_metrics(inp.signal.data[..., 0], decoded.data[..., 0])
        out.update({k: m[k] for k in ("rmse_m", "mae_m", "mask_accuracy", "chamfer_m")})
    return out


def run_task(inp: RDInput, task: Task) -> list[dict[str, Any]]:
    """Evaluate one task; quinr tasks give one point per bit depth."""
    t0 = time.perf_counter()
    pixels = inp.signal.pixels
    p = task.params
    if task.codec == "quinr":
        import torch

        from .codec import choose_bits, decode, write_model
        from .model import ModelConfig, QuINR
        from .signal import coordinates
        from .train import TrainConfig, fit

        h, w, c = inp.signal.shape
        cfg = ModelConfig(out_features=c, n_qubits=p["n_qubits"], embed_dim=p["embed_dim"], reuploads=p["reuploads"])
        torch.manual_seed(p["seed"])
        net = QuINR(cfg, seed=p["seed"])
        coords = torch.from_numpy(coordinates(h, w))
        values = torch.from_numpy(inp.signal.normalized().reshape(-1, c))
        fit(net, coords, values, TrainConfig(steps=p["steps"], batch_size=p["batch"], seed=p["seed"]))
        net.canonicalize_()
        seconds = time.perf_counter() - t0
        points = []
        for bits in p["bits"]:
            per = choose_bits(net, inp.signal) if bits == "auto" else bits
            data = write_model(net, inp.signal, per)
            points.append({"bpp": 8.0 * len(data) / pixels, "bytes": len(data), "bits": max(per) if bits == "auto" else bits,
                           "auto_bits": bits == "auto", "params": cfg.n_params(), "train_seconds": seconds,
                           **_metrics(inp, decode(data))})
        return points
    if task.codec == "coin":
        from .baselines import coin

        res = coin.encode(inp.signal, p["config"], iters=p["iters"], seed=p["seed"])
        return [{"bpp": res.bpp, "bytes": len(res.data), "params": res.n_params, "best_iter": res.best_iter,
                 "train_seconds": time.perf_counter() - t0, **_metrics(inp, res.decoded)}]
    from .baselines import jpeg2000

    if p["depth"] is None:
        res = jpeg2000.encode_at_bpp(inp.signal, p["bpp"])
    else:
        res = jpeg2000.encode_float_at_bpp(inp.signal, p["bpp"], depth=p["depth"])
    return [{"bpp": res.bpp, "bytes": len(res.data), "target_bpp": p["bpp"],
             "seconds": time.perf_counter() - t0, **_metrics(inp, res.decoded)}]


def _run_one(args: tuple[RDInput, Task]) -> tuple[Task, list[dict[str, Any]]]:
    import torch

    torch.set_num_threads(1)  # one core per point when points run in parallel
    inp, task = args
    return task, run_task(inp, task)


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
    cfg: RDConfig = RDConfig(),
    *,
    engine: str = "serial",
    workers: int = 2,
    progress: Callable[[Task, bool], None] | None = None,
    max_pixels: int | None = None,
) -> dict[str, Path]:
    """Run (or resume) a sweep; returns the written files by codec, plus ``"plot"``."""
    from .files import check_output_dir

    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; valid: {', '.join(ENGINES)}")
    out = check_output_dir(out_dir)
    inp = load_input(source, max_pixels)
    tasks = plan(inp, cfg)
    todo = []
    for t in tasks:
        done = _point_path(out, t).exists()
        if done and progress is not None:
            progress(t, True)
        if not done:
            todo.append(t)
    for task, points in _execute(inp, todo, engine, workers):
        path = _point_path(out, task)
        make_dir(path.parent)
        data = json.dumps({"codec": task.codec, "params": task.params, "points": points}, indent=1)
        atomic_write(path, data.encode())  # a killed sweep never leaves half a point
        if progress is not None:
            progress(task, False)
    return write_results(inp, out, tasks, cfg)


def _point_path(out: Path, task: Task) -> Path:
    return out / "points" / task.codec / f"{task.key}.json"


def _execute(inp: RDInput, todo: list[Task], engine: str, workers: int):
    if engine == "serial" or len(todo) <= 1:
        for t in todo:
            yield t, run_task(inp, t)
        return
    if engine == "local":
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_run_one, (inp, t)) for t in todo]
            for f in as_completed(futures):
                yield f.result()
        return
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise ConfigError('engine "dask" needs dask.distributed: pip install "quinr[cluster]"') from None
    address = os.environ.get("DASK_SCHEDULER_ADDRESS")
    with (Client(address) if address else Client(n_workers=workers, threads_per_worker=1)) as client:
        futures = client.map(_run_one, [(inp, t) for t in todo], pure=False)
        for f in as_completed(futures):
            yield f.result()


def write_results(inp: RDInput, out: Path, tasks: list[Task], cfg: RDConfig) -> dict[str, Path]:
    by_codec: dict[str, list[dict[str, Any]]] = {}
    for t in tasks:
        path = _point_path(out, t)
        if path.exists():
            by_codec.setdefault(t.codec, []).extend(json.loads(path.read_text())["points"])
    written = {}
    descriptions = {
        "quinr": f"quINR, Pareto frontier over Nq/M/R grid {list(cfg.quinr_grid)} x bits {list(cfg.quinr_bits)}, "
                 f"{cfg.quinr_steps} steps",
        "coin": f"COIN (SIREN w0=30, Adam 2e-4, fp16), {cfg.coin_iters} iterations",
        "jpeg2000": "JPEG2000 (Pillow/OpenJPEG, 9/7 irreversible, colour transform)",
        "jpeg2000-8bit": "JPEG2000 of the range image quantised to 8 bits over [0, max range]",
        "jpeg2000-16bit": "JPEG2000 of the range image quantised to 16 bits over [0, max range]",
    }
    for codec, points in by_codec.items():
        front = pareto(points) if codec == "quinr" else sorted(points, key=lambda q: q["bpp"])
        keys = [k for k in front[0] if isinstance(front[0][k], (int, float))]
        doc = {
            "name": codec,
            "description": descriptions[codec],
            "meta": {"input": inp.name, "pixels": inp.signal.pixels, "psnr_peak": inp.signal.peak,
                     "bpp": "8 x file bytes / pixels", "lidar": inp.lidar},
            "results": {k: [pt[k] for pt in front] for k in keys},
        }
        if codec == "quinr":
            doc["all_points"] = sorted(points, key=lambda q: q["bpp"])
        path = atomic_write(out / f"{codec}.json", (json.dumps(doc, indent=2) + "\n").encode())
        written[codec] = path
    if written:
        written["plot"] = plot(out, written, inp)
    return written


def plot(out: Path, files: dict[str, Path], inp: RDInput) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2), dpi=120)
    for codec, path in files.items():
        doc = json.loads(path.read_text())
        ax.plot(doc["results"]["bpp"], doc["results"]["psnr"], "o-", label=codec)
        if codec == "quinr":
            pts = doc["all_points"]
            ax.scatter([p["bpp"] for p in pts], [p["psnr"] for p in pts], s=8, alpha=0.3, color="grey")
    ax.set_xscale("log")
    ax.set_xlabel("bits per pixel (8 x file bytes / pixels)")
    ax.set_ylabel(f"PSNR (dB, peak {inp.signal.peak:g})")
    ax.set_title(f"rate-distortion: {inp.name}", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = out / "rd.png"
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png")
    plt.close(fig)
    return path
