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


def expand_inputs(pattern: str | Path) -> list[Path]:
    """The signals a folder (its files with a known suffix, sorted) or a glob names."""
    text = str(pattern)
    p = Path(text)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in SUFFIXES)
    elif any(ch in text for ch in "*?["):
        files = sorted(Path(f) for f in glob.glob(text, recursive=True) if Path(f).is_file())
    else:
        return [p]
    if not files:
        raise ConfigError(f"{text}: no signals found (looked for {', '.join(SUFFIXES)})")
    stems = [f.stem for f in files]
    clash = sorted({s for s in stems if stems.count(s) > 1})
    if clash:
        raise ConfigError(f"{text}: several inputs would be written to the same file: {', '.join(clash[:5])}.qinr")
    return files


def is_many(pattern: str | Path) -> bool:
    text = str(pattern)
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


def encode_many(
    inputs: list[Path],
    out_dir: str | Path,
    *,
    model=None,
    train=None,
    bits: int | str | tuple[int, ...] = 16,
    max_pixels: int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    step: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    """Encode every input into ``out_dir``; returns (and writes as ``summary.json``) the summary.
    ``progress(name, done, total)`` after every signal; ``step`` is the training callback."""
    from .codec import decode, encode
    from .files import atomic_write, check_output_dir, make_dir
    from .signal import psnr

    check_output_dir(out_dir)
    out = make_dir(out_dir)
    items: list[Item] = []
    for k, src in enumerate(inputs):
        target = out / f"{src.stem}.qinr"
        t0 = time.perf_counter()
        signal = load_any(src, max_pixels)
        done_before = False
        if target.exists():
            try:
                decoded = decode(target, max_pixels=max_pixels)
                if decoded.shape != signal.shape:
                    raise BitstreamError("another signal's file")
                data = target.read_bytes()
                done_before = True
                quality = psnr(signal, decoded)
            except BitstreamError:
                done_before = False  # damaged or foreign: encode it again
        if not done_before:
            res = encode(signal, target, model=model, train=train, bits=bits, callback=step)
            data, quality = res.data, res.psnr
        items.append(Item(str(src), str(target), len(data), 8 * len(data) / signal.pixels, quality,
                          time.perf_counter() - t0, done_before))
        if progress is not None:
            progress(src.name, k + 1, len(inputs))
    finite = [i.psnr for i in items if math.isfinite(i.psnr)]
    summary = {
        "signals": len(items),
        "mean_psnr": sum(finite) / len(finite) if finite else None,
        "mean_bpp": sum(i.bpp for i in items) / len(items),
        "total_bytes": sum(i.bytes for i in items),
        "items": [asdict(i) for i in items],
    }
    atomic_write(out / "summary.json", (json.dumps(summary, indent=2) + "\n").encode())
    return summary
