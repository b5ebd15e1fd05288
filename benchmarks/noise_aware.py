"""Noise-aware training and readout mitigation on noisy backends, side by side in one run.

Three encodings of the same image (kodim02 resized, or a synthetic image when the sample is
absent): noise-free training, noise-aware training with the white-noise approximation
(``--noise-mode global``, fast) and with exact density matrices (``--noise-mode dm``). Each is
decoded exactly (noise-free), on ``aer.dm`` under the training noise (exact noisy
probabilities), and there with ``--mitigate readout``. With ``--device-noise`` a second part
trains on the FakeTorino calibration snapshot reduced to a noise spec (the five-number summary;
``benchmarks/device_prediction.py`` trains on the device-faithful model) and decodes on the ``aer.fake_torino`` emulator
(the full per-qubit device model through SamplerV2, with shots).

    python benchmarks/noise_aware.py                      # table + docs/figures/noise_aware.png
    python benchmarks/noise_aware.py --device-noise       # adds the FakeTorino emulator part
    python benchmarks/noise_aware.py --image synthetic --figure docs/figures/noise_aware_synthetic.png

Prints a table; writes the figure and a JSON of the numbers.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

from quinr import encode
from quinr.codec import decode
from quinr.hardware import decode_on_backend
from quinr.model import ModelConfig
from quinr.signal import Signal, SignalKind, psnr
from quinr.train import TrainConfig

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[1]
KODIM = ROOT.parent / "shared" / "data" / "kodak" / "kodim02.png"  # the sample set beside the checkout
NOISE = "depolarizing=0.003,depolarizing2=0.02,readout=0.04/0.08"


def load_image(width: int, height: int, which: str = "kodim02") -> tuple[Signal, str]:
    from PIL import Image

    if which == "kodim02" and KODIM.exists():
        img = Image.open(KODIM).convert("RGB").resize((width, height), Image.LANCZOS)
        return Signal(np.asarray(img, np.uint8).copy(), SignalKind.U8, 0.0, 255.0), f"kodim02 resized to {width}x{height}"
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    rgb = np.stack([0.2 + 0.6 * x, 0.3 + 0.4 * np.sin(6 * x * y), 0.8 - 0.6 * y], -1)
    return Signal(np.rint(255 * rgb).astype(np.uint8), SignalKind.U8, 0.0, 255.0), f"synthetic {width}x{height}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--height", type=int, default=24)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--image", choices=("kodim02", "synthetic"), default="kodim02",
                    help="kodim02 resized (synthetic when the sample is absent), or a smooth synthetic image")
    ap.add_argument("--noise", default=NOISE)
    ap.add_argument("--device-noise", action="store_true", help="also train on FakeTorino and decode on aer.fake_torino")
    ap.add_argument("--shots", type=int, default=4000, help="shots per circuit on aer.fake_torino")
    ap.add_argument("--figure", default=str(ROOT / "docs" / "figures" / "noise_aware.png"))
    args = ap.parse_args()

    img, label = load_image(args.width, args.height, args.image)
    model = ModelConfig(n_qubits=5, embed_dim=10, reuploads=2, layers=1)
    print(f"image: {label}; network {model.circuit().describe()}; {args.steps} steps; noise {args.noise}")
    trainings = {
        "noise-free": TrainConfig(steps=args.steps),
        "aware (global)": TrainConfig(steps=args.steps, noise=args.noise, noise_mode="global"),
        "aware (dm)": TrainConfig(steps=args.steps, noise=args.noise, noise_mode="dm"),
    }
    rows = []
    for name, cfg in trainings.items():
        t0 = time.perf_counter()
        res = encode(img, model=model, train=cfg)
        train_s = time.perf_counter() - t0
        exact = psnr(img, decode(res.data))
        noisy = psnr(img, decode_on_backend(res.data, "aer.dm", shots=None, options={"noise": args.noise})[0])
        mitigated = psnr(img, decode_on_backend(res.data, "aer.dm", shots=None, options={"noise": args.noise},
                                                mitigate="readout")[0])
        rows.append({"training": name, "train_s": train_s, "exact": exact, "aer.dm": noisy, "aer.dm+mitigation": mitigated})
        print(f"  {name:16s} train {train_s:6.1f} s   exact {exact:6.2f}   aer.dm {noisy:6.2f}   "
              f"aer.dm+mitigate {mitigated:6.2f} dB")

    device_rows = []
    if args.device_noise:
        snap = "device=FakeTorino,global=0"  # the five-number summary (device=FakeTorino alone: the device model)
        print(f"device part: training on the {snap} snapshot, decoding on aer.fake_torino with {args.shots} shots")
        for name, cfg in (("noise-free", TrainConfig(steps=args.steps)),
                          ("aware (dm, snapshot)", TrainConfig(steps=args.steps, noise=snap, noise_mode="dm"))):
            res = encode(img, model=model, train=cfg)
            out = {"training": name}
            for mit in (None, "readout"):
                t0 = time.perf_counter()
                sig, _ = decode_on_backend(res.data, "aer.fake_torino", shots=args.shots, seed=1, mitigate=mit)
                out["fake_torino" + ("+mitigation" if mit else "")] = psnr(img, sig)
                out["decode_s"] = time.perf_counter() - t0
            device_rows.append(out)
            print(f"  {name:22s} aer.fake_torino {out['fake_torino']:6.2f}   +mitigate {out['fake_torino+mitigation']:6.2f} dB")

    fig_path = Path(args.figure)
    fig_path.parent.mkdir(parents=True, exist_ok=True)
    plot(rows, device_rows, fig_path, label, args.noise, args.shots)
    fig_path.with_suffix(".json").write_text(json.dumps({"image": label, "noise": args.noise, "steps": args.steps,
                                                         "rows": rows, "device_rows": device_rows}, indent=2) + "\n")
    print(f"wrote {fig_path} and {fig_path.with_suffix('.json')}")


def plot(rows, device_rows, path: Path, label: str, noise: str, shots: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = ["exact", "aer.dm", "aer.dm+mitigation"]
    panels = 2 if device_rows else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.5 * panels, 4), dpi=120, squeeze=False)
    ax = axes[0, 0]
    width = 0.8 / len(rows)
    for i, r in enumerate(rows):
        xs = np.arange(len(cols)) + (i - (len(rows) - 1) / 2) * width
        bars = ax.bar(xs, [r[c] for c in cols], width, label=r["training"])
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(np.arange(len(cols)), ["exact decode\n(noise-free)", "aer.dm\n(noisy, exact probs)", "aer.dm\n+ readout mitigation"])
    ax.set_ylabel("PSNR (dB)")
    ax.set_title(f"{label}; noise {noise}", fontsize=8)
    ax.legend(fontsize=8)
    if device_rows:
        ax = axes[0, 1]
        dcols = ["fake_torino", "fake_torino+mitigation"]
        width = 0.8 / len(device_rows)
        for i, r in enumerate(device_rows):
            xs = np.arange(len(dcols)) + (i - (len(device_rows) - 1) / 2) * width
            bars = ax.bar(xs, [r[c] for c in dcols], width, label=r["training"])
            ax.bar_label(bars, fmt="%.1f", fontsize=7)
        ax.set_xticks(np.arange(len(dcols)), [f"aer.fake_torino\n{shots} shots", "+ readout mitigation"])
        ax.set_title("FakeTorino: trained on its calibration snapshot", fontsize=8)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    main()
