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

from windows import DATA, append_row, read_rows

from quinr.networks import from_json
from quinr.rd import load_input
from quinr.search import candidates, measure

NETWORKS = ((4, 6, 2), (6, 12, 2), (6, 12, 2, 1, 2), (6, 12, 2, 1, 3), (6, 12, 2, 1, 4),
            (6, (26, 6), 2, 1, 2), (6, (26, 9, 9), 2, 1, 3),  # one M per block (format version 5)
            (6, (60, 12, 12), 2, 1, 3))  # 588 weights, for 0.016-0.02 bpp on kodim02
# The budgets are quinr.search.LADDER: 0.6 to 1.5 times the size of the network's ``--bits auto`` file.
SIGNALS = {"kodim02": DATA / "kodak" / "kodim02.png", "kitti": DATA / "kitti" / "seq00_000000.bin"}


def run(signal: str, out: str, steps: int) -> None:
    sig = load_input(SIGNALS[signal]).signal
    done = {from_json(r["network"]) for r in read_rows(out)}
    for item in NETWORKS:
        if item in done:
            continue
        row = measure(sig, candidates((item,), steps)[0])  # quinr search's measurement: one training, every file
        files = row["files"]
        append_row(out, {"signal": signal, "network": row["network"], "weights": row["weights"], "steps": steps,
                         "seconds": row["seconds"], "files": files})
        print(signal, item, row["weights"], f"{row['seconds']:.0f} s",
              [(r["rule"], r.get("bytes"), round(r.get("psnr", 0), 2)) for r in files], flush=True)


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
