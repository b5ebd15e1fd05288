"""What the device benchmarks share: the two windows they measure, and their resumable rows.

``signals()``: an 8x8 window of kodim02 (at 384,256) and a 16x4 window of the KITTI scan's
projected range image (at 508,30), or synthetic stand-ins where the shared data are absent.
``read_rows``/``append_row``: one JSON line per finished row, so a rerun skips what is done.
Imported by ``device_prediction.py``, ``hardware_circuits.py`` and ``mitigation.py`` (run as
scripts from this folder, which is then on ``sys.path``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def signals() -> dict:
    from quinr.lidar import project, read_kitti_bin
    from quinr.signal import Signal, SignalKind, load_signal

    out = {}
    kod = DATA / "kodak" / "kodim02.png"
    if kod.exists():
        img = load_signal(kod).data[256:264, 384:392]
    else:
        rng = np.random.default_rng(0)
        img = (rng.random((8, 8, 3)) * 255).astype(np.uint8)
    out["kodim02 8x8"] = Signal(np.ascontiguousarray(img), SignalKind.U8, 0.0, 255.0)
    scan = DATA / "kitti" / "seq00_000000.bin"
    if scan.exists():
        rng_img = project(read_kitti_bin(scan))[30:34, 508:524].astype(np.float32)
    else:
        rng_img = np.abs(np.random.default_rng(1).normal(20, 5, (4, 16))).astype(np.float32)
    out["KITTI 16x4"] = Signal(np.ascontiguousarray(rng_img[..., None]), SignalKind.F32,
                               float(rng_img.min()), float(rng_img.max()))
    return out


def read_rows(path: str | Path) -> list[dict]:
    """The rows written so far (none when the file does not exist yet)."""
    p = Path(path)
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()] if p.exists() else []


def append_row(path: str | Path, row: dict) -> None:
    with Path(path).open("a") as f:
        f.write(json.dumps(row) + "\n")
