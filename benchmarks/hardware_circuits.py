"""Circuits a QPU runs well: the paper's all-pairs circuit against hardware-aware ones, at equal size.

    python benchmarks/hardware_circuits.py --out rows.jsonl                 # every row (about an hour)
    python benchmarks/hardware_circuits.py --out rows.jsonl --qubits 4 --devices FakeTorino
    python benchmarks/hardware_circuits.py --table rows.jsonl [--figure docs/figures/hardware_circuits.png]

For a kodim02 window (8x8 at 384,256) and a KITTI range-image window (16x4 at 508,30), at
Nq = 4, 6, 8, on each emulated IBM device, these networks, all stored at 12 bits per weight:

* ``paper``: the paper's all-pairs entangler, M = 2 Nq, noise-free training (today's default);
* ``paper+device``: the same trained through the device model (``--noise device=FakeX``);
* ``device``: the device's coupled pairs on its best qubits, layout pinned (``--entangler
  device:FakeX``), noise-free training;
* ``target``: the same trained through the device model (``--target FakeX``);
* ``linear+target``: a path of coupled qubits (``--target FakeX --entangler linear``).

The sparse circuits have fewer angles but store their placement (pairs, target, layout), so their
embedding size M is chosen to make the file as large as the paper's, within a few bytes (the
table shows the bytes). Each file
is decoded exactly (PSNR of the exact decode against the original) and on the device's exact
emulator (``torch.fake_*``: the transpiled circuit with the calibrated noise, which agrees with
``aer.fake_*``'s distribution to 1e-8; see docs/noise.md), without and with readout mitigation,
and with ``--shots`` shots (3 seeds). The device loss is PSNR(exact decode) - PSNR(device decode),
both against the original. ``--devices`` may include ``IonQ`` (an all-to-all device with
IonQ Forte's published error rates as a noise spec; no routing, so no placement).
One JSON line per row as it finishes (a rerun skips rows already in ``--out``).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
import warnings
from pathlib import Path

from windows import append_row, read_rows, signals

warnings.filterwarnings("ignore")

#: IonQ Forte's published figures (single-qubit 99.98 %, two-qubit 99.6 %, SPAM about 0.5 %),
#: as a noise spec: an all-to-all trapped-ion device.
IONQ = "depolarizing=0.0002,depolarizing2=0.004,readout=0.005"
CONFIGS = ("paper", "paper+device", "device", "target", "linear+target")


def network(config: str, nq: int, device: str, channels: int):
    """The ModelConfig of a configuration, and the training noise."""
    from quinr import ModelConfig
    from quinr.backends.placement import place
    from quinr.circuit import CircuitSpec
    from quinr.header import pack_placement

    paper = ModelConfig(n_qubits=nq, embed_dim=2 * nq, out_features=channels)
    fake = f"Fake{device}"
    if config.startswith("paper"):
        noise = f"device={fake}" if config == "paper+device" else None
        if device == "IonQ" and noise:
            noise = IONQ
        return paper, noise
    if device == "IonQ":
        spec = CircuitSpec(nq, 2 * nq, entangler="linear")
    else:
        spec = place(CircuitSpec(nq, 2 * nq), fake, "linear" if config.startswith("linear") else "device")
    # the embedding size whose network holds as many weights as the paper's, less the
    # placement's bytes (pairs, target, layout) at 12 bits a weight: equal file size
    goal = paper.n_params() - round(8 * len(pack_placement(spec)) / 12)
    cfg = min((ModelConfig(out_features=channels, spec=dataclasses.replace(spec, embed_dim=m)) for m in range(1, 8 * nq)),
              key=lambda c: (abs(c.n_params() - goal), c.embed_dim))
    noise = None if config == "device" else (IONQ if device == "IonQ" else f"device={fake}")
    return cfg, noise


def run_row(name, sig, nq, device, config, args) -> dict:
    import quinr
    from quinr.signal import psnr

    cfg, noise = network(config, nq, device, sig.channels)
    aware = noise is not None
    big = aware and nq >= 8
    steps = args.steps8 if big and config.startswith("paper") else args.steps
    t0 = time.perf_counter()
    train = quinr.TrainConfig(steps=steps, noise=noise, batch_size=args.batch if big else None,
                              noise_mode="dm" if noise == IONQ else "global")
    if noise is not None and noise.startswith("device="):
        from quinr.backends import training_noise

        train = dataclasses.replace(train, noise=training_noise(noise))
    elif noise is not None:
        from quinr.noise import parse as parse_noise

        train = dataclasses.replace(train, noise=parse_noise(noise))
    enc = quinr.encode(sig, model=cfg, train=train, bits=12)
    train_s = time.perf_counter() - t0
    if device == "IonQ":
        backend, options = "torch", {"noise": IONQ}
    else:
        backend, options = f"torch.fake_{device.lower()}", {}
    out = {"signal": name, "nq": nq, "device": device, "config": config, "entangler": cfg.spec.entangler,
           "pairs": len(cfg.spec.pairs), "embed": cfg.embed_dim, "params": cfg.n_params(), "bytes": enc.n_bytes,
           "layout": list(cfg.spec.layout), "steps": steps, "batch": train.batch_size, "train_s": train_s,
           "exact": enc.psnr}
    t0 = time.perf_counter()
    for m in args.mitigate.split(","):
        mitigate = None if m == "none" else m
        dec, _ = quinr.decode_on_backend(enc.data, backend, shots=None, options=options, mitigate=mitigate)
        out[f"device_{m}"] = psnr(sig, dec)
    out["shots"] = args.shots
    out["device_shots"] = [psnr(sig, quinr.decode_on_backend(enc.data, backend, shots=args.shots, seed=s,
                                                             options=options)[0]) for s in range(args.seeds)]
    out["decode_s"] = time.perf_counter() - t0
    return out


def table(rows: list[dict]) -> None:
    zne = any("device_zne" in r for r in rows)
    extra = f" {'+zne':>6} {'+ro+zne':>7}" if zne else ""
    print(f"{'signal':>11} {'Nq':>2} {'device':>7} {'network':>20} {'pairs':>5} {'M':>3} {'bytes':>5} "
          f"{'exact':>6} {'device':>6} {'+ro':>6}{extra} {'shots':>6} {'loss':>6}")
    for r in rows:
        loss = r["exact"] - r["device_none"]
        more = f" {r.get('device_zne', float('nan')):6.2f} {r.get('device_readout+zne', float('nan')):7.2f}" if zne else ""
        print(f"{r['signal']:>11} {r['nq']:>2} {r['device']:>7} {r['config']:>20} {r['pairs']:>5} {r['embed']:>3} "
              f"{r['bytes']:>5} {r['exact']:6.2f} {r['device_none']:6.2f} {r.get('device_readout', float('nan')):6.2f}"
              f"{more} {statistics.mean(r['device_shots']):6.2f} {loss:6.2f}")
    print("\nbest hardware-aware device PSNR against the paper's circuit (noise-free training), per case:")
    cases: dict = {}
    for r in rows:
        cases.setdefault((r["signal"], r["nq"], r["device"]), {})[r["config"]] = r
    for key, c in cases.items():
        if "paper" not in c:
            continue
        base = c["paper"]
        aware = [r for k, r in c.items() if k != "paper"]
        if not aware:
            continue
        best = max(aware, key=lambda r: r["device_none"])
        print(f"  {key[0]:>11} Nq {key[1]} {key[2]:>7}: paper loss {base['exact'] - base['device_none']:5.2f} dB "
              f"(device {base['device_none']:.2f}); best {best['config']}: loss {best['exact'] - best['device_none']:5.2f}"
              f" dB (device {best['device_none']:.2f}, exact {best['exact']:.2f} vs paper {base['exact']:.2f})")


def figure(rows: list[dict], path: str) -> None:
    """One panel per signal and device: PSNR against the original, exact and on the device, of
    every network at each Nq (bars), so the device loss is the gap between a pair of bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = sorted({(r["signal"], r["device"]) for r in rows})
    configs = [c for c in CONFIGS if any(r["config"] == c for r in rows)]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (signal, device) in zip(axes[0], panels, strict=True):
        qubits = sorted({r["nq"] for r in rows if r["signal"] == signal and r["device"] == device})
        width = 0.8 / len(configs)
        for k, config in enumerate(configs):
            for j, nq in enumerate(qubits):
                hit = [r for r in rows if (r["signal"], r["device"], r["config"], r["nq"]) == (signal, device, config, nq)]
                if not hit:
                    continue
                x = j + (k - (len(configs) - 1) / 2) * width
                ax.bar(x, hit[0]["exact"], width, color=colors[k], alpha=0.3, edgecolor=colors[k])
                ax.bar(x, hit[0]["device_none"], width, color=colors[k], label=config if j == 0 else None)
        ax.set_xticks(range(len(qubits)), [f"Nq = {q}" for q in qubits])
        ax.set_title(f"{signal}, {device}", fontsize=10)
        ax.set_ylabel("PSNR vs original (dB)")
        lo = min(r["device_none"] for r in rows if r["signal"] == signal and r["device"] == device)
        ax.set_ylim(max(0.0, lo - 5), None)
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.suptitle("on the device (solid) and exact (pale), equal file size", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=None)
    ap.add_argument("--table", default=None, metavar="JSONL", help="print the table of a finished run and stop")
    ap.add_argument("--qubits", default="4,6,8")
    ap.add_argument("--devices", default="Torino,Fez")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--signals", default="kodim02 8x8,KITTI 16x4")
    ap.add_argument("--mitigate", default="none,readout",
                    help="decodes on the device's exact emulator: none, readout, zne, readout+zne")
    ap.add_argument("--shots", type=int, default=2000)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--steps8", type=int, default=150, help="steps of the paper's circuit trained on the device at Nq 8")
    ap.add_argument("--batch", type=int, default=16, help="batch of device-aware training at Nq >= 8")
    ap.add_argument("--figure", default=None, metavar="PNG", help="also draw the rows (with --table or after a run)")
    args = ap.parse_args()
    if args.table:
        rows = read_rows(args.table)
        table(rows)
        if args.figure:
            figure(rows, args.figure)
        return
    import torch

    torch.set_num_threads(2)
    out = Path(args.out or "hardware_circuits.jsonl")
    done = {(r["signal"], r["nq"], r["device"], r["config"]) for r in read_rows(out)}
    sigs = signals()
    for name in args.signals.split(","):
        for nq in (int(q) for q in args.qubits.split(",")):
            for device in args.devices.split(","):
                for config in args.configs.split(","):
                    if (name, nq, device, config) in done:
                        continue
                    if device == "IonQ" and config in ("device", "linear+target"):
                        continue  # all-to-all: nothing to place
                    row = run_row(name, sigs[name], nq, device, config, args)
                    append_row(out, row)
                    print(f"{name} Nq {nq} {device} {config}: exact {row['exact']:.2f}, device {row['device_none']:.2f} "
                          f"dB, {row['bytes']} bytes (train {row['train_s']:.0f} s, decode {row['decode_s']:.0f} s)",
                          flush=True)
    rows = read_rows(out)
    table(rows)
    if args.figure:
        figure(rows, args.figure)


if __name__ == "__main__":
    main()
