"""The README's picture: quinr against JPEG2000 at the same bytes, on kodim02 and on the KITTI
range image, side by side with the original (docs/figures/demo_kodim02.png, demo_kitti.png).

    python benchmarks/demo_figure.py --out docs/figures [--kodim02-bpp 0.0103 --kitti-bpp 0.03 --steps 1000]

quinr is encoded by rate control (``quinr encode --target-bpp``: the network from the shipped
table, the bits filled to the budget); JPEG2000 (Pillow/OpenJPEG; 16-bit for the range image) is
then asked for quinr's own rate, and both files are decoded and measured. Prints one table row
per codec for docs/results.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from windows import DATA

from quinr.baselines.jpeg2000 import encode_at_bpp, encode_float_at_bpp
from quinr.figures import side_by_side
from quinr.rate import encode_to
from quinr.rd import load_input
from quinr.signal import psnr
from quinr.train import TrainConfig


def panels(name: str, path: Path, bpp: float, steps: int, out: Path) -> None:
    sig = load_input(path).signal
    t0 = time.perf_counter()
    r = encode_to(sig, None, target_bpp=bpp, train=TrainConfig(steps=steps, batch_size=4096))
    seconds = time.perf_counter() - t0
    res = r.result
    j2k = encode_float_at_bpp(sig, res.bpp) if sig.kind.name == "F32" else encode_at_bpp(sig, res.bpp)
    jp = psnr(sig, j2k.decoded)
    print(f"| {name} | quinr ({r.preset.describe() if r.preset else 'given'}) | {res.n_bytes} | {res.bpp:.4f} | "
          f"{res.psnr:.2f} | {seconds:.0f} s |")
    print(f"| {name} | JPEG2000 | {len(j2k.data)} | {j2k.bpp:.4f} | {jp:.2f} | |")
    figure = side_by_side(
        [(f"original ({name})", sig),
         (f"quinr: {res.n_bytes} bytes, {res.bpp:.4f} bpp, {res.psnr:.2f} dB", res.decoded),
         (f"JPEG2000: {len(j2k.data)} bytes, {j2k.bpp:.4f} bpp, {jp:.2f} dB", j2k.decoded)],
        out / f"demo_{name}.png")
    print(f"wrote {figure}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("docs/figures"))
    ap.add_argument("--kodim02-bpp", type=float, default=0.0103)
    ap.add_argument("--kitti-bpp", type=float, default=0.03)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--only", choices=("kodim02", "kitti"), default=None)
    args = ap.parse_args()
    print("| signal | codec | bytes | bpp | PSNR dB | encode |")
    print("|---|---|---|---|---|---|")
    if args.only in (None, "kodim02"):
        panels("kodim02", DATA / "kodak" / "kodim02.png", args.kodim02_bpp, args.steps, args.out)
    if args.only in (None, "kitti"):
        panels("kitti", DATA / "kitti" / "seq00_000000.bin", args.kitti_bpp, args.steps, args.out)


if __name__ == "__main__":
    main()
