"""The rate-control table (quinr.rate.PRESETS): each network trained once on a signal, then written
at a ladder of byte budgets by the bit allocator (``--bits bytes:N``), every file decoded and
measured; and the ``--bits auto`` file, whose bytes per weight the table stores.

    python benchmarks/rate_table.py --signal kodim02 --out rate_kodim02.jsonl [--steps 1000]
    python benchmarks/rate_table.py --table rate_kodim02.jsonl rate_kitti.jsonl

One JSON line per network (resumable). ``--table`` prints, per network and signal, the auto file
and the PSNR at each budget, and the frontier: for each budget, which network is best.
"""

from __future__ import annotations

import argparse
import time

import torch
from windows import DATA, append_row, read_rows

from quinr.baselines.quinr_codec import network
from quinr.codec import allocate, decode, write_model
from quinr.config import ModelConfig
from quinr.model import QuINR
from quinr.rd import load_input
from quinr.signal import coordinates, psnr
from quinr.train import TrainConfig, fit

NETWORKS = ((4, 6, 2), (6, 12, 2), (6, 12, 2, 1, 2), (6, 12, 2, 1, 3), (6, 12, 2, 1, 4))
#: Budgets as fractions of the size of the network's ``--bits auto`` file.
LADDER = (0.6, 0.7, 0.8, 0.9, 1.1, 1.25, 1.5)
SIGNALS = {"kodim02": DATA / "kodak" / "kodim02.png", "kitti": DATA / "kitti" / "seq00_000000.bin"}


def run(signal: str, out: str, steps: int) -> None:
    sig = load_input(SIGNALS[signal]).signal
    done = {tuple(r["network"]) for r in read_rows(out)}
    for item in NETWORKS:
        if item in done:
            continue
        cfg = ModelConfig(in_features=2, out_features=sig.channels, **network(item))
        torch.manual_seed(0)
        net = QuINR(cfg, seed=0)
        t0 = time.perf_counter()
        fit(net, torch.from_numpy(coordinates(*sig.grid)), torch.from_numpy(sig.normalized().reshape(-1, sig.channels)),
            TrainConfig(steps=steps, batch_size=4096))
        net.canonicalize_()
        seconds = time.perf_counter() - t0
        rows: list[dict] = []
        auto_bytes = len(write_model(net, sig, allocate(net, sig, "auto")))
        for rule in ["auto"] + [f"bytes:{round(k * auto_bytes)}" for k in LADDER]:
            try:
                per = allocate(net, sig, rule)
            except Exception as exc:  # noqa: BLE001 - a budget below the network's smallest file
                rows.append({"rule": rule, "error": str(exc)})
                continue
            data = write_model(net, sig, per)
            rows.append({"rule": rule, "bytes": len(data), "bpp": 8 * len(data) / sig.pixels,
                         "psnr": psnr(sig, decode(data)), "bits": list(per)})
        append_row(out, {"signal": signal, "network": list(item), "weights": cfg.n_params(), "steps": steps,
                         "train_seconds": seconds, "files": rows})
        print(signal, item, cfg.n_params(), f"{seconds:.0f} s",
              [(r["rule"], r.get("bytes"), round(r.get("psnr", 0), 2)) for r in rows], flush=True)


def table(paths: list[str]) -> None:
    for path in paths:
        rows = read_rows(path)
        for r in rows:
            auto = next(f for f in r["files"] if f["rule"] == "auto")
            print(f"{r['signal']} {r['network']} {r['weights']} weights: auto {auto['bytes']} B "
                  f"({auto['bytes'] / r['weights']:.2f} B/weight) {auto['psnr']:.2f} dB; " + ", ".join(
                      f"{f['bytes']}:{f['psnr']:.2f}" for f in r["files"][1:] if "bytes" in f))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--signal", choices=tuple(SIGNALS), default="kodim02")
    ap.add_argument("--out", default="rate_table.jsonl")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--table", nargs="+", default=None)
    args = ap.parse_args()
    if args.table:
        table(args.table)
    else:
        run(args.signal, args.out, args.steps)


if __name__ == "__main__":
    main()
