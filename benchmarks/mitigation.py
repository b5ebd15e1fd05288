"""What each mitigation buys, what it costs in shots, and how well its prediction holds.

    python benchmarks/mitigation.py --out rows.jsonl [--backends torch.fake_torino,torch.fake_fez] [--qubits 4,6]
    python benchmarks/mitigation.py --table rows.jsonl

For the kodim02 window (8x8 at 384,256) and the KITTI range-image window (16x4 at 508,30), a
network of Nq qubits (M = 2 Nq, noise-free training, the paper's circuit) is decoded on each
backend with ``--shots`` shots per circuit, ``--seeds`` times, with no mitigation, ``readout``,
``zne`` and ``readout+zne``: the measured PSNR against the exact decode (mean and spread), the
prediction ``quinr budget`` makes for it, and the total shots each decode spends (zero-noise
extrapolation runs every circuit at three folding factors: 3x). ``torch.fake_*`` samples the exact
device model's distributions (the distribution ``aer.fake_*`` samples, to 1e-8; docs/noise.md), so
rows run in seconds; any catalogue backend with shots can be given.
"""

from __future__ import annotations

import argparse
import statistics
import warnings
from pathlib import Path

from windows import append_row, read_rows, signals

warnings.filterwarnings("ignore")
MITIGATIONS = ("none", "readout", "zne", "readout+zne")


def run(name, sig, nq, backend, args) -> dict:
    import numpy as np
    import torch

    import quinr
    from quinr.grid import coordinates
    from quinr.quality import predictor_on
    from quinr.signal import psnr

    enc = quinr.encode(sig, model=quinr.ModelConfig(n_qubits=nq, embed_dim=2 * nq),
                       train=quinr.TrainConfig(steps=args.steps))
    exact = quinr.decode(enc.data)
    from quinr.backends import get_backend

    be = get_backend(backend)
    coords = torch.from_numpy(coordinates(*sig.grid, dtype=np.float64))
    predictor = predictor_on(be, quinr.read_bitstream(enc.data), coords,
                             reference=sig.data.astype(np.float64).reshape(-1, sig.channels))
    rows = {}
    for m in MITIGATIONS:
        mitigate = None if m == "none" else m
        pred = predictor.at(args.shots, mitigate)
        measured, vs_orig, shots = [], [], 0
        for seed in range(args.seeds):
            dec, rep = quinr.decode_on_backend(enc.data, be, shots=args.shots, seed=seed, mitigate=mitigate)
            measured.append(psnr(exact, dec))
            vs_orig.append(psnr(sig, dec))
            shots = rep.circuits * args.shots
        rows[m] = {"predicted": pred.vs_exact, "measured": measured, "predicted_vs_original": pred.vs_reference,
                   "measured_vs_original": vs_orig, "total_shots": shots}
    return {"signal": name, "nq": nq, "backend": backend, "shots": args.shots, "exact_vs_original": enc.psnr,
            "rows": rows}


def table(rows: list[dict]) -> None:
    print(f"{'signal':>11} {'Nq':>2} {'backend':>17} {'mitigation':>11} {'total shots':>11} {'predicted':>9} "
          f"{'measured':>15} {'diff':>5} {'vs original':>11}")
    worst = 0.0
    for r in rows:
        for m, x in r["rows"].items():
            mean, sd = statistics.mean(x["measured"]), statistics.stdev(x["measured"])
            worst = max(worst, abs(x["predicted"] - mean))
            print(f"{r['signal']:>11} {r['nq']:>2} {r['backend']:>17} {m:>11} {x['total_shots']:>11} "
                  f"{x['predicted']:9.2f} {mean:8.2f} ± {sd:4.2f} {x['predicted'] - mean:+5.2f} "
                  f"{statistics.mean(x['measured_vs_original']):11.2f}")
    print(f"largest |predicted - measured mean|: {worst:.2f} dB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="mitigation.jsonl")
    ap.add_argument("--table", default=None, metavar="JSONL")
    ap.add_argument("--backends", default="torch.fake_torino,torch.fake_fez")
    ap.add_argument("--qubits", default="4,6")
    ap.add_argument("--shots", type=int, default=2000)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args()
    if args.table:
        table(read_rows(args.table))
        return
    import torch

    torch.set_num_threads(2)
    out = Path(args.out)
    done = {(r["signal"], r["nq"], r["backend"]) for r in read_rows(out)}
    for name, sig in signals().items():
        for nq in (int(q) for q in args.qubits.split(",")):
            for backend in args.backends.split(","):
                if (name, nq, backend) in done:
                    continue
                row = run(name, sig, nq, backend, args)
                append_row(out, row)
                print(f"{name} Nq {nq} {backend}: " + ", ".join(
                    f"{m} {statistics.mean(x['measured']):.2f}" for m, x in row["rows"].items()), flush=True)
    table(read_rows(out))


if __name__ == "__main__":
    main()
