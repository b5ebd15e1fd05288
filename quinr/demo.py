"""``quinr demo``: compress a real photo that ships inside matplotlib, compare with JPEG2000.

The photo is matplotlib's sample ``grace_hopper.jpg`` (512x600 RGB), so the demo needs no
network. It is downscaled by 2 (256x300) so that training fits in a couple of minutes on two CPU
cores; quinr then decodes its own file, and JPEG2000 (Pillow/OpenJPEG, 9/7 wavelet with the colour
transform) is run at the same bits per pixel for reference.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .baselines.jpeg2000 import encode_at_bpp
from .codec import encode
from .errors import SignalError
from .figures import side_by_side
from .files import atomic_write, make_dir
from .model import ModelConfig
from .signal import Signal, save_signal, signal_from_image
from .train import StepInfo, TrainConfig

DEMO_MODEL = ModelConfig(n_qubits=8, embed_dim=24, reuploads=2, layers=1)
DEMO_TRAIN = TrainConfig(steps=800, lr=0.1, batch_size=4096, eval_every=50, seed=0)
DEMO_SIZE = (256, 300)  # width, height


def demo_image() -> Signal:
    """matplotlib's sample photo of Grace Hopper, downscaled to :data:`DEMO_SIZE`."""
    try:
        import matplotlib.cbook as cbook
        from PIL import Image

        with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as im:
            small = im.convert("RGB").resize(DEMO_SIZE, Image.Resampling.LANCZOS)
    except (ImportError, OSError, ValueError) as exc:
        raise SignalError(f"the demo photo (matplotlib sample data) is not available: {exc}") from None
    return signal_from_image(small, "grace_hopper.jpg")


@dataclass(frozen=True)
class DemoRow:
    codec: str
    n_bytes: int
    bpp: float
    psnr: float
    seconds: float


def run_demo(
    out_dir: Path,
    steps: int | None = None,
    make_callback: Callable[[int], Callable[[StepInfo], None]] | None = None,
) -> str:
    """Run the demo, write its files to ``out_dir`` and return the report text."""
    make_dir(out_dir)
    signal = demo_image()
    save_signal(signal, out_dir / "original.png")
    train = DEMO_TRAIN if steps is None else TrainConfig(**{**DEMO_TRAIN.__dict__, "steps": steps})
    callback = make_callback(train.steps) if make_callback else None
    res = encode(signal, out_dir / "grace_hopper.qinr", model=DEMO_MODEL, train=train, bits="auto", callback=callback)
    save_signal(res.decoded, out_dir / "quinr.png")
    t0 = time.perf_counter()
    j2k = encode_at_bpp(signal, res.bpp)
    j2k_seconds = time.perf_counter() - t0
    atomic_write(out_dir / "jpeg2000.jp2", j2k.data)
    save_signal(j2k.decoded, out_dir / "jpeg2000.png")
    side_by_side([("original", signal), (f"quinr: {res.n_bytes} bytes, {res.psnr:.2f} dB", res.decoded),
                  (f"JPEG2000: {len(j2k.data)} bytes, {j2k.psnr:.2f} dB", j2k.decoded)], out_dir / "side_by_side.png")
    rows = [
        DemoRow("quinr", res.n_bytes, res.bpp, res.psnr, res.total_seconds),
        DemoRow("JPEG2000", len(j2k.data), j2k.bpp, j2k.psnr, j2k_seconds),
    ]
    h, w, _ = signal.shape
    lines = [
        f"quinr demo: grace_hopper.jpg (matplotlib sample data) at {w}x{h} RGB, {h * w} pixels",
        f"network: {DEMO_MODEL.circuit().describe()}, {res.n_params} parameters at "
        f"({', '.join(map(str, res.tensor_bits))}) bits per tensor; "
        f"{train.steps} steps of {train.batch_size} coordinates",
        "",
        f"{'codec':<10} {'bytes':>7} {'bpp':>8} {'PSNR dB':>8} {'time s':>8}",
    ]
    lines += [f"{r.codec:<10} {r.n_bytes:>7} {r.bpp:>8.4f} {r.psnr:>8.2f} {r.seconds:>8.1f}" for r in rows]
    lines += [
        "",
        "PSNR over RGB, peak 255; quinr's is measured by decoding its own file.",
        f"files in {out_dir}/: side_by_side.png (the three at once), original.png, grace_hopper.qinr, quinr.png, "
        "jpeg2000.jp2, jpeg2000.png",
    ]
    return "\n".join(lines)
