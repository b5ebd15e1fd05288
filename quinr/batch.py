"""Many signals in one call: a folder, a glob or a list of files encoded into a folder.

``quinr encode DIR|GLOB -o OUTDIR`` (and :func:`encode_many`): every input (images, float
``.npy``, KITTI ``.bin`` scans, projected to their 64x1024 range image as ``quinr rd`` does)
becomes ``OUTDIR/<name>.qinr``. The set is resumable: an output that already exists and reads as
a quinr bitstream is kept and measured again (decoding is cheap), not retrained; a killed run
leaves no half file (every write is atomic). ``OUTDIR/summary.json`` lists every signal (bytes,
bpp, PSNR, seconds, whether it was done before) and the means.
"""

from __future__ import annotations

import glob
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .errors import BitstreamError, ConfigError

#: What a folder is searched for.
SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".npy", ".bin")


def _named(pattern: str | Path) -> str:
    """The input's text, refused when empty (``Path("")`` would silently be the current folder)."""
    text = str(pattern)
    if not text.strip():
        raise ConfigError("an empty input path: name a file, a folder or a glob")
    return text


def expand_inputs(pattern: str | Path, suffixes: tuple[str, ...] = SUFFIXES) -> list[Path]:
    """The files a folder (those with one of ``suffixes``, sorted) or a glob names."""
    text = _named(pattern)
    p = Path(text)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in suffixes)
    elif any(ch in text for ch in "*?["):
        files = sorted(Path(f) for f in glob.glob(text, recursive=True) if Path(f).is_file())
    else:
        return [p]
    if not files:
        what = "signals" if suffixes == SUFFIXES else "files"
        raise ConfigError(f"{text}: no {what} found (looked for {', '.join(suffixes)})")
    stems = [f.stem for f in files]
    clash = sorted({s for s in stems if stems.count(s) > 1})
    if clash:
        raise ConfigError(f"{text}: several inputs would be written to the same file: {', '.join(clash[:5])}.qinr")
    return files


def is_many(pattern: str | Path) -> bool:
    text = _named(pattern)
    return Path(text).is_dir() or any(ch in text for ch in "*?[")


@dataclass
class Item:
    """One signal of a set."""

    input: str
    output: str
    bytes: int
    bpp: float
    psnr: float
    seconds: float
    done_before: bool


def load_any(path: Path, max_pixels: int | None = None):
    """A signal from an image, a float ``.npy`` or a KITTI ``.bin`` scan (its range image)."""
    if path.suffix.lower() == ".bin":
        from .rd import load_input

        return load_input(path, max_pixels).signal
    from .signal import load_signal

    return load_signal(path, max_pixels=max_pixels)


@dataclass(frozen=True)
class EncodeJob:
    """What every signal of a set is encoded with (shipped once to each worker)."""

    out: Path
    model: Any = None
    train: Any = None
    bits: int | str | tuple[int, ...] = 16
    max_pixels: int | None = None


def encode_one(job: EncodeJob, src: Path, step: Callable[[int, int], None] | None = None) -> Item:
    """One signal of a set into ``job.out/<stem>.qinr``, or the file already there measured again
    (a damaged or foreign one is encoded again). ``step(done, total)`` follows training."""
    from .codec import decode, encode
    from .files import read_bytes
    from .signal import psnr
    from .train import TrainConfig

    target = job.out / f"{src.stem}.qinr"
    t0 = time.perf_counter()
    signal = load_any(src, job.max_pixels)
    if target.exists():
        try:
            data = read_bytes(target, "bitstream")
            decoded = decode(data, max_pixels=job.max_pixels)
            if decoded.shape != signal.shape:
                raise BitstreamError("another signal's file")
            return Item(str(src), str(target), len(data), 8 * len(data) / signal.pixels, psnr(signal, decoded),
                        time.perf_counter() - t0, True)
        except BitstreamError:
            pass  # damaged or foreign: encode it again
    train = job.train or TrainConfig()
    steps = train.total_steps  # the restarts' and the fine-tuning's steps continue the count
    res = encode(signal, target, model=job.model, train=job.train, bits=job.bits,
                 callback=None if step is None else lambda info: step(info.step, steps))
    return Item(str(src), str(target), len(res.data), 8 * len(res.data) / signal.pixels, res.psnr,
                time.perf_counter() - t0, False)


def encode_many(
    inputs: list[Path],
    out_dir: str | Path,
    *,
    model=None,
    train=None,
    bits: int | str | tuple[int, ...] = 16,
    max_pixels: int | None = None,
    engine: str = "serial",
    workers: int = 2,
    progress: Callable[[str, int, int], None] | None = None,
    step: Callable[[Path, int, int], None] | None = None,
) -> dict[str, Any]:
    """Encode every input into ``out_dir`` on ``engine`` (:mod:`quinr.engines`: signals train in
    parallel on ``local`` or ``ray``); returns (and writes as ``summary.json``) the summary, items
    in input order. ``progress(name, done, total)`` after every signal; ``step(input, done,
    total)`` follows training steps."""
    from .engines import check_engine, execute
    from .files import atomic_write, check_output_dir, make_dir

    check_engine(engine)
    check_output_dir(out_dir)
    job = EncodeJob(make_dir(out_dir), model, train, bits, max_pixels)
    found: dict[Path, Item] = {}
    for src, item in execute(encode_one, job, list(inputs), engine, workers, step):
        found[src] = item
        if progress is not None:
            progress(src.name, len(found), len(inputs))
    items = [found[src] for src in inputs]
    finite = [i.psnr for i in items if math.isfinite(i.psnr)]
    summary = {
        "signals": len(items),
        "mean_psnr": sum(finite) / len(finite) if finite else None,
        "mean_bpp": sum(i.bpp for i in items) / len(items),
        "total_bytes": sum(i.bytes for i in items),
        "items": [asdict(i) for i in items],
    }
    atomic_write(job.out / "summary.json", (json.dumps(summary, indent=2) + "\n").encode())
    return summary


def decode_many(
    inputs: list[Path],
    out_dir: str | Path,
    backend: str,
    *,
    shots: int | None,
    max_cost: float | None = None,
    yes: bool = False,
    options: dict[str, Any] | None = None,
    seed: int | None = None,
    mitigate: str | None = None,
    max_pixels: int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Decode every ``.qinr`` on one backend under ONE budget: the whole set's estimate is summed
    and checked against ``max_cost`` before the first submission (a billed backend needs a
    ``max_cost`` or ``yes``, as one decode does), and each decode then runs under what is left of
    it. Outputs: ``out_dir/<name>.png`` (images) or ``.npy``; ``summary.json`` with every report."""
    from .backends import get_backend
    from .budget import estimate_cost
    from .checks import check_max_cost, within_budget
    from .codec import info
    from .errors import BudgetError
    from .files import atomic_write, check_output_dir, make_dir
    from .grid import size
    from .hardware import decode_on_backend
    from .mitigation import scales_of
    from .signal import output_suffixes

    max_cost = check_max_cost(max_cost)
    check_output_dir(out_dir)
    be = get_backend(backend, options)
    plan = []
    for src in inputs:
        hdr = info(src)
        _, cost, _ = estimate_cost(be.profile, size(hdr.grid), shots, hdr.model.blocks, len(scales_of(mitigate)))
        suffixes = output_suffixes(hdr.kind, hdr.channels, len(hdr.grid))  # the kind's own file first
        if not suffixes:
            raise ConfigError(f"{src}: a {hdr.channels}-channel {hdr.kind.name.lower()} signal has no file format to "
                              "decode to")
        suffix = suffixes[0]
        plan.append((src, cost, suffix))
    total = sum(cost for _, cost, _ in plan)
    currency = be.profile.pricing.currency
    if be.billed and max_cost is None and not yes:
        raise BudgetError(f"backend {be.name} is billed; the {len(plan)} decodes are estimated at {total:.2f} {currency} "
                          "together; give --max-cost (the whole set's budget) or --yes")
    if max_cost is not None and not within_budget(total, max_cost):
        each = ", ".join(f"{src.name} {cost:.2f}" for src, cost, _ in plan[:6])
        raise BudgetError(f"the {len(plan)} decodes are estimated at {total:.2f} {currency} together, over --max-cost "
                          f"{max_cost:.2f} ({each}{', ...' if len(plan) > 6 else ''}); nothing was submitted")
    out = make_dir(out_dir)
    spent, items = 0.0, []
    for k, (src, cost, suffix) in enumerate(plan):
        left = None if max_cost is None else max(0.0, max_cost - spent)
        target = out / f"{src.stem}{suffix}"
        _, report = decode_on_backend(src, be, shots=shots, options=None, seed=seed, max_cost=left, yes=yes,
                                      mitigate=mitigate, output=target, max_pixels=max_pixels)
        spent += report.billed_cost if report.billed_cost is not None else report.estimated_cost
        items.append({"input": str(src), "output": str(target), "estimated_cost": cost,
                      "cost": report.estimated_cost, "report": report.to_dict()})
        if progress is not None:
            progress(src.name, k + 1, len(plan))
    summary = {"backend": be.name, "decodes": len(items), "estimated_total": total, "spent": spent,
               "max_cost": max_cost, "currency": currency, "items": items}
    atomic_write(out / "summary.json", (json.dumps(summary, indent=2, default=str) + "\n").encode())
    return summary
