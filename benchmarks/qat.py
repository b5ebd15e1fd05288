"""Quantization-aware fine-tuning at equal bytes and equal training steps.

For each signal and byte budget, the network rate control picks for it (quinr.rate.choose_preset)
is trained two ways with the same number of steps in all: plainly for S + Q steps, and for S steps
followed by Q steps of fine-tuning through the weights quantized at the budget's allocation
(``TrainConfig.qat_steps``). Both are written at the budget by the bit allocator (``--bits
bytes:N``), decoded from their bytes and measured. The plain S + Q training is shared by every
budget of the same network; the S-step one too, each budget fine-tuning its own copy.

    python benchmarks/qat.py --signal kodim02 --bpp 0.0078 0.0103 0.013 --out qat_kodim02.jsonl
    python benchmarks/qat.py --signal kitti --bpp 0.02 0.03 0.04 --out qat_kitti.jsonl
    python benchmarks/qat.py --signal kodim02 --bpp 0.0103 --network 6:12:2:1:3 --out qat_kodim02.jsonl
    python benchmarks/qat.py --table qat_kodim02.jsonl qat_kitti.jsonl
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from windows import DATA, append_row, read_rows

from quinr.baselines.quinr_codec import grid_items
from quinr.model import QuINR
from quinr.rate import choose_preset, network_model
from quinr.rd import load_input
from quinr.search import written
from quinr.signal import coordinates
from quinr.train import TrainConfig, fit

SIGNALS = {"kodim02": DATA / "kodak" / "kodim02.png", "kitti": DATA / "kitti" / "seq00_000000.bin"}


def _trained(cfg, sig, coords, values, steps: int) -> QuINR:
    torch.manual_seed(0)
    net = QuINR(cfg, seed=0)
    fit(net, coords, values, TrainConfig(steps=steps, batch_size=4096))
    return net.canonicalize_()


def run(signal: str, bpps: list[float], steps: int, qat: int, out: str, network: tuple[int, ...] | None) -> None:
    sig = load_input(SIGNALS[signal]).signal
    done = {(r["bpp_asked"], tuple(r["network"])) for r in read_rows(out)}
    forced = None if network is None else network_model(network, sig)
    by_net: dict = {}
    for bpp in bpps:
        budget = math.floor(bpp * sig.pixels / 8)
        cfg = forced or choose_preset(sig, budget).model(sig)
        if (bpp, (cfg.n_qubits, cfg.embed_dim, cfg.reuploads, cfg.layers, cfg.blocks)) not in done:
            by_net.setdefault(cfg, []).append((bpp, budget))
    coords = torch.from_numpy(coordinates(*sig.grid))
    values = torch.from_numpy(sig.normalized().reshape(-1, sig.channels))
    tuning = TrainConfig(steps=steps, batch_size=4096, qat_steps=qat)
    for cfg, items in by_net.items():
        t0 = time.perf_counter()
        plain = _trained(cfg, sig, coords, values, steps + qat)
        base = _trained(cfg, sig, coords, values, steps)
        seconds = time.perf_counter() - t0
        for bpp, budget in items:
            rule = f"bytes:{budget}"
            row = {"signal": signal, "bpp_asked": bpp, "budget": budget, "weights": cfg.n_params(),
                   "network": [cfg.n_qubits, cfg.embed_dim, cfg.reuploads, cfg.layers, cfg.blocks],
                   "steps": steps, "qat_steps": qat, "plain": written(sig, plain, rule),
                   "qat": written(sig, base, rule, tuning),  # a copy of base, fine-tuned at the rule's bits
                   "train_seconds": seconds}
            append_row(out, row)
            print(signal, bpp, budget, row["network"], f"plain {row['plain']['bytes']} B {row['plain']['psnr']:.2f} dB",
                  f"qat {row['qat']['bytes']} B {row['qat']['psnr']:.2f} dB", flush=True)


def table(paths: list[str]) -> None:
    print("| signal | bpp asked | network (Nq, M, R, E, blocks) | weights | plain bytes | plain dB | "
          "QAT bytes | QAT dB | gain dB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for path in paths:
        for r in read_rows(path):
            p, q = r["plain"], r["qat"]
            print(f"| {r['signal']} | {r['bpp_asked']} | {tuple(r['network'])} | {r['weights']} | {p['bytes']} | "
                  f"{p['psnr']:.2f} | {q['bytes']} | {q['psnr']:.2f} | {q['psnr'] - p['psnr']:+.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--signal", choices=tuple(SIGNALS), default="kodim02")
    ap.add_argument("--bpp", type=float, nargs="+", default=[0.0078, 0.0103, 0.013])
    ap.add_argument("--steps", type=int, default=800, help="training steps before the fine-tuning")
    ap.add_argument("--qat", type=int, default=200, help="fine-tuning steps (the plain run trains steps + qat)")
    ap.add_argument("--network", default=None, metavar="NQ:M:R[:E[:B]]",
                    help="this network at every budget (default: the one rate control picks)")
    ap.add_argument("--out", default="qat.jsonl")
    ap.add_argument("--table", nargs="+", default=None)
    args = ap.parse_args()
    if args.table:
        table(args.table)
    else:
        run(args.signal, args.bpp, args.steps, args.qat, args.out,
            None if args.network is None else grid_items(args.network)[0])


if __name__ == "__main__":
    main()
