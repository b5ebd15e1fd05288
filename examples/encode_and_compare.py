"""Compress an image, read the file's header, decode it (whole, a window, half size) and judge it.

    python examples/encode_and_compare.py [IMAGE] [--small]

Without IMAGE a synthetic photo-like test card is used; ``--small`` trains a tiny network for a
few steps (what CI runs).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

import quinr
from quinr.views import view


def test_card(h: int = 48, w: int = 64) -> quinr.Signal:
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    rgb = np.stack([0.5 + 0.4 * np.sin(6 * x), 0.5 + 0.4 * np.cos(5 * y), 0.5 + 0.3 * np.sin(4 * (x + y))], -1)
    return quinr.Signal((255 * rgb).round().astype(np.uint8), quinr.SignalKind.U8, 0.0, 255.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image", nargs="?", default=None)
    ap.add_argument("--small", action="store_true")
    args = ap.parse_args()
    original = quinr.load_signal(args.image) if args.image else test_card()
    model = quinr.ModelConfig(n_qubits=4, embed_dim=8) if args.small else quinr.ModelConfig(n_qubits=8, embed_dim=24)
    train = quinr.TrainConfig(steps=20 if args.small else 500)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "image.qinr"
        res = quinr.encode(original, path, model=model, train=train, bits="auto")
        print(f"{res.n_bytes} bytes, {res.bpp:.4f} bpp, {res.psnr:.2f} dB (measured on the written file)")
        hdr = quinr.info(path)
        print(f"header: {hdr.grid} grid, {hdr.channels} channels, network {hdr.model.circuit().describe()}")

        decoded = quinr.decode(path)
        print("whole decode against the original:", quinr.compare(original, decoded))
        window = quinr.decode(path, crop=(4, 2, 16, 8))  # X, Y, W, H
        print("a 16x8 window:", quinr.compare(view(original, crop=(4, 2, 16, 8)), window)["psnr"], "dB")
        half = quinr.decode(path, scale=0.5)
        print("half size:", half.describe())
        quinr.save_signal(decoded, Path(tmp) / "decoded.png")


if __name__ == "__main__":
    main()
