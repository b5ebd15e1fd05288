"""The design choices the paper leaves open, measured at equal stored weights.

Each variant below changes one thing in quinr's network (``quinr.model.QuINR``) and keeps its
stored tensors' count (so, at the same bit depths, its payload's size within the entropy coder's
difference); all train with quinr's own trainer for the same steps, seed and mini-batches. Each is
measured in float and with every tensor quantized at a uniform depth (the file's grid,
``quinr.train.quantized``), with the payload the entropy coder would write for it
(``quinr.bitstream.stored_bits``). Every variant is a model option quinr writes
(``ModelConfig.readout``, ``ModelConfig.link``, ``ModelConfig.embed_dims``), so what is measured
here is what ``quinr encode --readout/--link/--embed`` makes.

- ``paper``: blocks connect by the previous block's per-qubit <Z>; the readout is the last N_out
  basis-state probabilities through an affine map (output map 1).
- ``z``: the readout is <Z> of the first N_out qubits of the last block through the affine map
  (``--readout z``, output map 2). The marginal probability P(q = 1) = (1 - <Z_q>) / 2 is an
  affine function of <Z_q>, so this variant is also the "marginal probabilities" readout: the
  affine absorbs the difference.
- ``residual``: block k >= 2 reads <Z> of block k-1 plus <Z> of block k-2 (``--link residual``,
  format version 6; it needs three blocks to differ from ``paper``).
- ``probs``: block k >= 1 reads all 2^Nq probabilities of block k-1, as 2^Nq p - 1 (``--link
  probs``, format version 6). Its input layer costs 2^Nq + 1 weights per feature instead of
  Nq + 1, so it is measured with fewer features in the later block and more in the first:
  ``probs/m=18,1`` at Nq 6 stores 281 weights against the paper's 282 for (12, 12).
- ``m=A,B``: per-block M (``--embed A+B``, format version 5); (19, 9), (26, 6) and (33, 3) store
  exactly as many weights as (12, 12) at Nq 6 (a first-block feature costs 3 weights, a
  second-block one 7).

Variants combine with ``/`` (``probs/m=18,1``); the table compares each with ``paper`` on the same
network item and seed.

With ``--shots``, a one-block network's 12-bit file is also measured under shot noise, exactly
(``quinr.quality.expected_mse``: each channel's estimate is a binomial frequency, a basis state's
for the paper's readout, its qubit's for <Z>): the expected PSNR against the original at each shot
count, and the fewest shots that keep the decode within 0.5 dB of its exact PSNR
(``quinr.quality.shots_for_drop``, what ``quinr budget`` reports), on a seeded subset of 16,384
coordinates (the MSE is a mean, so the subset estimates it without bias). This is where the readout can
matter on hardware: a <Z> averages every shot, a basis state's probability counts only the shots
that land on it, and its affine gain is larger.

    python benchmarks/design_space.py --signal kodim02 --out design_kodim02.jsonl
    python benchmarks/design_space.py --signal kitti --out design_kitti.jsonl
    python benchmarks/design_space.py --table design_kodim02.jsonl design_kitti.jsonl
    python benchmarks/design_space.py --signal kodim02 --out shots_kodim02.jsonl --shots \
        --runs paper@6:12:2:1:1 z@6:12:2:1:1 paper@8:24:2:1:1 z@8:24:2:1:1
    python benchmarks/design_space.py --shots-table shots_kodim02.jsonl shots_kitti.jsonl
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from windows import DATA, append_row, read_rows

from quinr import bitstream
from quinr.model import QuINR
from quinr.networks import parse_network
from quinr.quant import quantize
from quinr.rate import network_model
from quinr.rd import load_input
from quinr.signal import Signal, coordinates, psnr
from quinr.train import TrainConfig, fit, quantized

SIGNALS = {"kodim02": DATA / "kodak" / "kodim02.png", "kitti": DATA / "kitti" / "seq00_000000.bin"}
#: (variant, network Nq:M:R:E:blocks) pairs measured by default.
RUNS = (("paper", "6:12:2:1:1"), ("z", "6:12:2:1:1"),
        ("paper", "6:12:2:1:2"), ("z", "6:12:2:1:2"), ("m=19,9", "6:12:2:1:2"), ("m=26,6", "6:12:2:1:2"),
        ("probs/m=18,1", "6:12:2:1:2"),
        ("paper", "6:12:2:1:3"), ("z", "6:12:2:1:3"), ("residual", "6:12:2:1:3"))
BITS = (10, 12)
#: Shot counts of ``--shots``, and the largest one ``shots_for_drop`` may answer.
SHOTS = (1024, 16384, 262144)
MAX_SHOTS = 1 << 26
#: Coordinates the shot-noise columns evaluate (a seeded random subset; the expected MSE is a mean).
SHOT_COORDINATES = 16384


def variant_options(variant: str) -> dict:
    """The ModelConfig keywords of a variant (``/``-joined parts, see the module's docstring)."""
    out: dict = {}
    for part in variant.split("/"):
        if part == "z":
            out["readout"] = "z"
        elif part in ("residual", "probs"):
            out["link"] = part
        elif part.startswith("m="):
            out["embed_dims"] = tuple(int(v) for v in part[2:].split(","))
        elif part != "paper":
            raise SystemExit(f"unknown variant {part!r}")
    return out


def _psnr(sig: Signal, net: torch.nn.Module, coords: torch.Tensor) -> float:
    values = net.predict(coords).double().numpy()
    return psnr(sig, Signal.from_normalized(values.reshape(*sig.grid, sig.channels), sig.kind, sig.vmin, sig.vmax))


def shot_columns(sig: Signal, net: QuINR) -> dict:
    """The expected PSNR of the network's 12-bit file against the original under each of
    :data:`SHOTS` shots per circuit, and the shots for a 0.5 dB drop (one block only)."""
    from quinr.codec import write_model
    from quinr.quality import exact_outputs, expected_mse, psnr_from_mse, shots_for_drop

    n = sig.data.size // sig.channels  # a seeded subset of the coordinates: the MSE is a mean
    idx = np.sort(np.random.default_rng(0).choice(n, min(n, SHOT_COORDINATES), replace=False))
    coords = torch.from_numpy(coordinates(*sig.grid, dtype=np.float64)[idx])
    out = exact_outputs(bitstream.read(write_model(net, sig, 12)), coords)
    ref = sig.data.astype("float64").reshape(-1, sig.channels)[idx]
    row = {f"shots_psnr_{s}": psnr_from_mse(expected_mse(out, s, ref), out.peak) for s in SHOTS}
    row["shots_psnr_exact"] = psnr_from_mse(float(np.mean((out.exact_values() - ref.ravel()) ** 2)), out.peak)
    row["shots_for_0.5dB"] = shots_for_drop(out, ref, 0.5, MAX_SHOTS)
    row["gain"] = float(abs(out.scale).mean()) * (1.0 if out.readout == "probs" else 2.0)  # d value / d frequency
    return row


def run(signal: str, runs: list[tuple[str, str]], steps: int, out: str, seed: int = 0, shots: bool = False) -> None:
    sig = load_input(SIGNALS[signal]).signal
    done = {(r["variant"], r["network"], r.get("seed", 0)) for r in read_rows(out)}
    coords = torch.from_numpy(coordinates(*sig.grid))
    values = torch.from_numpy(sig.normalized().reshape(-1, sig.channels))
    for variant, net_text in runs:
        if (variant, net_text, seed) in done:
            continue
        item = parse_network(net_text)
        options = variant_options(variant)
        if "embed_dims" in options:  # per-block M: the item's M, one per block
            item = (item[0], options.pop("embed_dims"), *item[2:])
        cfg = network_model(item, sig, **options)
        torch.manual_seed(seed)
        net = QuINR(cfg, seed=seed)
        t0 = time.perf_counter()
        fit(net, coords, values, TrainConfig(steps=steps, batch_size=4096, seed=seed))
        net.canonicalize_()
        seconds = time.perf_counter() - t0
        tensors = [t for _, t in net.named_tensors()]
        row = {"signal": signal, "variant": variant, "network": net_text, "seed": seed, "steps": steps,
               "weights": sum(t.numel() for t in tensors), "float_psnr": _psnr(sig, net, coords),
               "train_seconds": seconds}
        for b in BITS:
            with quantized(net, (b,) * len(tensors)):
                row[f"psnr_{b}"] = _psnr(sig, net, coords)
            payload = sum(bitstream.stored_bits(quantize(t.detach().numpy(), b), b) for t in tensors)
            row[f"payload_{b}"] = (payload + 7) // 8
        if shots and cfg.blocks == 1:
            row.update(shot_columns(sig, net))
        append_row(out, row)
        print(signal, variant, net_text, f"seed {seed}", f"{row['weights']} weights", f"float {row['float_psnr']:.2f} dB",
              *(f"{b} bits: {row[f'payload_{b}']} B {row[f'psnr_{b}']:.2f} dB" for b in BITS), flush=True)


def table(paths: list[str]) -> None:
    print("| signal | network (Nq:M:R:E:blocks) | variant | seed | weights | float dB | "
          + " | ".join(f"{b}-bit payload B | {b}-bit dB | vs paper dB" for b in BITS) + " |")
    print("|---|---|---|---|---|---|" + "---|---|---|" * len(BITS))
    for path in paths:
        rows = read_rows(path)
        base = {(r["signal"], r["network"], r.get("seed", 0)): r for r in rows if r["variant"] == "paper"}
        for r in rows:
            ref = base.get((r["signal"], r["network"], r.get("seed", 0)))
            cells = []
            for b in BITS:
                gain = "" if ref is None or r is ref else f"{r[f'psnr_{b}'] - ref[f'psnr_{b}']:+.2f}"
                cells += [str(r[f"payload_{b}"]), f"{r[f'psnr_{b}']:.2f}", gain]
            print(f"| {r['signal']} | {r['network']} | {r['variant']} | {r.get('seed', 0)} | {r['weights']} | "
                  f"{r['float_psnr']:.2f} | "
                  + " | ".join(cells) + " |")


def shots_table(paths: list[str]) -> None:
    print("| signal | network | readout | 12-bit payload B | exact dB (whole image) | affine gain | "
          + " | ".join(f"{s:,} shots dB" for s in SHOTS) + " | shots for -0.5 dB |")
    print("|---|---|---|---|---|---|" + "---|" * len(SHOTS) + "---|")
    for path in paths:
        for r in read_rows(path):
            if "shots_for_0.5dB" not in r:
                continue
            need = r["shots_for_0.5dB"]
            print(f"| {r['signal']} | {r['network']} | {'z' if r['variant'] == 'z' else 'probs'} | {r['payload_12']} | "
                  f"{r['psnr_12']:.2f} | {r['gain']:.2f} | " + " | ".join(f"{r[f'shots_psnr_{s}']:.2f}" for s in SHOTS)
                  + f" | {'over ' + format(MAX_SHOTS, ',') if need is None else format(need, ',')} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--signal", choices=sorted(SIGNALS))
    ap.add_argument("--runs", nargs="*", help="VARIANT@NQ:M:R:E:B items (default: the module's RUNS)")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--seeds", type=int, nargs="*", default=[0], help="seeds of initialisation and sampling")
    ap.add_argument("--out", default="design_space.jsonl")
    ap.add_argument("--table", nargs="*", help="print the markdown table of these result files and stop")
    ap.add_argument("--shots", action="store_true", help="also measure one-block networks under shot noise")
    ap.add_argument("--shots-table", nargs="*", help="print the shot-noise table of these result files and stop")
    args = ap.parse_args()
    if args.table:
        table(args.table)
        return
    if args.shots_table:
        shots_table(args.shots_table)
        return
    if args.signal is None:
        raise SystemExit("--signal is needed (or --table FILES)")
    runs = [tuple(item.split("@", 1)) for item in args.runs] if args.runs else list(RUNS)
    for seed in args.seeds:
        run(args.signal, runs, args.steps, args.out, seed, args.shots)


if __name__ == "__main__":
    main()
