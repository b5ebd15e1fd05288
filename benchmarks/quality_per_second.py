"""Quality per second: PSNR of the network against wall time, for batch sizes, learning rates and
schedules, on kodim02 and the KITTI range image (the paper's network, Nq 8, M 24, R 2).

    python benchmarks/quality_per_second.py --out qps.jsonl [--budget-kodim02 150 --budget-kitti 90]
    python benchmarks/quality_per_second.py --table qps.jsonl --figure docs/figures/quality_per_second.png

Every run trains under a time budget (``TrainConfig.time_budget``: the cosine schedule runs on
elapsed time and ends with the budget) with the full signal measured every 25 steps for the best
checkpoint, as ``quinr encode`` does; a training callback records (seconds, best PSNR) at every
such measurement. PSNR here is the unquantized network's, from the full-signal MSE in the
signal's normalized range (peak = the value range: 255 for kodim02, the maximum range for KITTI);
the written file at 16 bits is within 0.01 dB of it. Runs one at a time on the machine's threads
(two here); one JSON line per finished run, so a rerun skips what is done.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from windows import DATA, append_row, read_rows

#: (label, batch, lr, schedule)
CONFIGS = (
    ("batch 1024", 1024, 0.1, "cosine"),
    ("batch 4096 (default)", 4096, 0.1, "cosine"),
    ("batch 16384", 16384, 0.1, "cosine"),
    ("batch 4096, lr 0.05", 4096, 0.05, "cosine"),
    ("batch 4096, lr 0.2", 4096, 0.2, "cosine"),
    ("batch 4096, constant lr", 4096, 0.1, "constant"),
)


def load(name: str):
    import numpy as np

    from quinr.lidar import project, read_kitti_bin
    from quinr.signal import Signal, SignalKind, load_signal

    if name == "kodim02":
        return load_signal(DATA / "kodak" / "kodim02.png")
    img = project(read_kitti_bin(DATA / "kitti" / "seq00_000000.bin"))
    return Signal(img[..., None].astype(np.float32), SignalKind.F32, 0.0, float(img.max()))


def run(name: str, sig, label: str, batch: int, lr: float, schedule: str, budget: float) -> dict:
    import numpy as np
    import torch

    from quinr import ModelConfig, QuINR
    from quinr.grid import coordinates
    from quinr.train import TrainConfig, fit

    cfg = ModelConfig(n_qubits=8, embed_dim=24, reuploads=2, out_features=sig.channels)
    model = QuINR(cfg, seed=0)
    coords = torch.from_numpy(coordinates(*sig.grid)).float()
    values = torch.from_numpy(sig.normalized().reshape(-1, sig.channels))
    train = TrainConfig(steps=1_000_000, lr=lr, schedule=schedule, batch_size=batch, time_budget=budget)
    trace: list[tuple[float, float]] = []
    start = time.perf_counter()
    best = [math.inf]

    def callback(info) -> None:
        if info.best_loss < best[0]:
            best[0] = info.best_loss
            trace.append((time.perf_counter() - start, -10 * math.log10(info.best_loss)))

    res = fit(model, coords, values, train, callback)
    seconds = time.perf_counter() - start
    return {"signal": name, "label": label, "batch": batch, "lr": lr, "schedule": schedule, "budget": budget,
            "steps": len(res.losses), "seconds": seconds, "psnr": -10 * math.log10(res.best_loss),
            "trace": trace, "pixels": int(np.prod(sig.grid))}


def table(rows: list[dict]) -> None:
    print(f"| {'signal':<8} | {'configuration':<24} | {'steps':>6} | {'seconds':>7} | {'PSNR at 1/3':>11} | "
          f"{'at 2/3':>6} | {'final PSNR':>10} |")
    print(f"|{'-' * 10}|{'-' * 26}|{'-' * 8}|{'-' * 9}|{'-' * 13}|{'-' * 8}|{'-' * 12}|")
    for r in rows:
        at = []
        for frac in (1 / 3, 2 / 3):
            hit = [p for t, p in r["trace"] if t <= frac * r["budget"]]
            at.append(f"{hit[-1]:.2f}" if hit else "-")
        print(f"| {r['signal']:<8} | {r['label']:<24} | {r['steps']:>6} | {r['seconds']:>7.0f} | {at[0]:>11} | "
              f"{at[1]:>6} | {r['psnr']:>10.2f} |")


def figure(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({r["signal"] for r in rows})
    fig, axes = plt.subplots(1, len(names), figsize=(5.2 * len(names), 3.8), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        for r in (r for r in rows if r["signal"] == name):
            t, p = zip(*r["trace"], strict=True) if r["trace"] else ((), ())
            ax.step(t, p, where="post", label=r["label"])
        ax.set_title(f"{name}: best PSNR against wall time (2 threads)", fontsize=9)
        ax.set_xlabel("seconds")
        ax.set_ylabel("PSNR (dB)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="quality_per_second.jsonl")
    ap.add_argument("--table", default=None, metavar="JSONL", help="print the table of a finished run and stop")
    ap.add_argument("--figure", default=None, metavar="PNG")
    ap.add_argument("--signals", default="kodim02,kitti")
    ap.add_argument("--budget-kodim02", type=float, default=150.0)
    ap.add_argument("--budget-kitti", type=float, default=90.0)
    args = ap.parse_args()
    if args.table:
        rows = read_rows(args.table)
    else:
        import torch

        torch.set_num_threads(2)
        out = Path(args.out)
        done = {(r["signal"], r["label"]) for r in read_rows(out)}
        for name in args.signals.split(","):
            sig = load(name)
            budget = args.budget_kodim02 if name == "kodim02" else args.budget_kitti
            for label, batch, lr, schedule in CONFIGS:
                if (name, label) in done:
                    continue
                row = run(name, sig, label, batch, lr, schedule, budget)
                append_row(out, row)
                print(f"{name} {label}: {row['psnr']:.2f} dB after {row['steps']} steps, {row['seconds']:.0f} s",
                      flush=True)
        rows = read_rows(out)
    table(rows)
    if args.figure:
        figure(rows, args.figure)


if __name__ == "__main__":
    main()
