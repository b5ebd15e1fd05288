"""The design choices the paper leaves open, measured at equal stored weights before any becomes a
bitstream option.

Each variant below changes one thing in quinr's network (``quinr.model.QuINR``) and keeps its
stored tensors' count (so, at the same bit depths, its payload's size within the entropy coder's
difference); all train with quinr's own trainer for the same steps, seed and mini-batches. Each is
measured in float and with every tensor quantized at a uniform depth (the file's grid,
``quinr.train.quantized``), with the payload the entropy coder would write for it
(``quinr.bitstream.stored_bits``). A variant that does not beat the network quinr writes today
does not earn a field in the format.

- ``paper``: blocks connect by the previous block's per-qubit <Z>; the readout is the last N_out
  basis-state probabilities through an affine map (what quinr writes, ``output map`` 1).
- ``z``: the readout is <Z> of the first N_out qubits of the last block through the affine map.
  The marginal probability P(q = 1) = (1 - <Z_q>) / 2 is an affine function of <Z_q>, so this
  variant is also the "marginal probabilities" readout: the affine absorbs the difference.
- ``residual``: block k >= 2 reads <Z> of block k-1 plus <Z> of block k-2 (a residual connection;
  it needs three blocks to differ from ``paper``).
- ``m=A,B``: per-block M (two blocks); (19, 9), (26, 6) and (33, 3) store exactly as many
  weights as (12, 12) at Nq 6 (a first-block feature costs 3 weights, a second-block one 7). Since
  this measurement quinr writes it (``ModelConfig.embed_dims``, format version 5, ``--embed 26+6``);
  the variant is now that model, initialised exactly as the benchmark's own variant was.

Not measured: blocks connected by "probabilities of more states" (the next block's input layer
reads all 2^Nq probabilities): at Nq 6, M 12 that layer grows from 84 to 780 weights, 2.8 times the
whole two-block network, so it cannot be compared at equal size.

    python benchmarks/design_space.py --signal kodim02 --out design_kodim02.jsonl
    python benchmarks/design_space.py --signal kitti --out design_kitti.jsonl
    python benchmarks/design_space.py --table design_kodim02.jsonl design_kitti.jsonl
"""

from __future__ import annotations

import argparse
import time

import torch
from windows import DATA, append_row, read_rows

from quinr import bitstream
from quinr.model import QuINR, exact_evaluator, qrelu
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
        ("paper", "6:12:2:1:3"), ("z", "6:12:2:1:3"), ("residual", "6:12:2:1:3"))
BITS = (10, 12)


class Variant(QuINR):
    """quinr's network with one design choice changed (see the module's docstring)."""

    def __init__(self, cfg, variant: str, seed: int = 0) -> None:
        super().__init__(cfg, seed=seed)
        self.variant = variant
        if variant == "z":  # <Z> in [-1, 1] -> [0, 1] at the start
            with torch.no_grad():
                self.scale.fill_(0.5)
                self.offset.fill_(0.5)
        elif variant not in ("paper", "residual") and not variant.startswith("m="):  # m=: the config's embed_dims
            raise SystemExit(f"unknown variant {variant!r}")

    def forward(self, x: torch.Tensor, evaluator=None) -> torch.Tensor:
        if self.variant not in ("z", "residual"):
            return super().forward(x, evaluator)
        evaluator = evaluator or exact_evaluator
        feats, prev = x, None
        for k, block in enumerate(self.blocks):
            last = k == len(self.blocks) - 1
            if last and self.variant == "residual":
                p = block(feats, evaluator, self.cfg.out_features)
                return qrelu(self.scale * p + self.offset)
            z = block(feats, evaluator, None) @ self._z_signs
            if self.variant == "residual" and prev is not None:
                z, prev = z + prev, z
            else:
                prev = z
            feats = z
        return qrelu(self.scale * feats[:, : self.cfg.out_features] + self.offset)


def _psnr(sig: Signal, net: torch.nn.Module, coords: torch.Tensor) -> float:
    values = net.predict(coords).double().numpy()
    return psnr(sig, Signal.from_normalized(values.reshape(*sig.grid, sig.channels), sig.kind, sig.vmin, sig.vmax))


def run(signal: str, runs: list[tuple[str, str]], steps: int, out: str, seed: int = 0) -> None:
    sig = load_input(SIGNALS[signal]).signal
    done = {(r["variant"], r["network"], r.get("seed", 0)) for r in read_rows(out)}
    coords = torch.from_numpy(coordinates(*sig.grid))
    values = torch.from_numpy(sig.normalized().reshape(-1, sig.channels))
    for variant, net_text in runs:
        if (variant, net_text, seed) in done:
            continue
        item = parse_network(net_text)
        if variant.startswith("m="):  # per-block M, as quinr now writes it (format version 5)
            item = (item[0], tuple(int(v) for v in variant[2:].split(",")), *item[2:])
        cfg = network_model(item, sig)
        torch.manual_seed(seed)
        net = Variant(cfg, variant, seed)
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--signal", choices=sorted(SIGNALS))
    ap.add_argument("--runs", nargs="*", help="VARIANT@NQ:M:R:E:B items (default: the module's RUNS)")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--seeds", type=int, nargs="*", default=[0], help="seeds of initialisation and sampling")
    ap.add_argument("--out", default="design_space.jsonl")
    ap.add_argument("--table", nargs="*", help="print the markdown table of these result files and stop")
    args = ap.parse_args()
    if args.table:
        table(args.table)
        return
    if args.signal is None:
        raise SystemExit("--signal is needed (or --table FILES)")
    runs = [tuple(item.split("@", 1)) for item in args.runs] if args.runs else list(RUNS)
    for seed in args.seeds:
        run(args.signal, runs, args.steps, args.out, seed)


if __name__ == "__main__":
    main()
