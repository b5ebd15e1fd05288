"""Predicted against measured PSNR of decodes on the emulated IBM devices, and device-aware training.

    python benchmarks/device_prediction.py --out device_prediction.jsonl        # all rows (hours)
    python benchmarks/device_prediction.py --out rows.jsonl --qubits 4 --devices FakeTorino
    python benchmarks/device_prediction.py --table rows.jsonl                   # the table only

For a kodim02 window (8x8 at 384,256) and a KITTI range-image window (16x4 at 508,30 of the
projected scan), at Nq = 4, 6, 8 (M = 2 Nq) and on each device: the window is encoded twice, with
noise-free training and with device-aware training (``--noise device=FakeX``: training through the
device model), each decoded ``--seeds`` times on ``aer.fake_*`` (qiskit-ibm-runtime SamplerV2
local mode, ``--shots`` shots) with readout mitigation and, from the same samples (the record
replayed), without. Beside each: the prediction of :mod:`quinr.quality` (``quinr budget``'s
numbers) against the exact decode and against the original. One JSON line per row, written as
it finishes (a rerun skips rows already in ``--out``); the table is printed at the end.
Falls back to synthetic signals where the shared data are absent.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from windows import append_row, read_rows, signals

warnings.filterwarnings("ignore")


def run_row(name, sig, nq, device, training, args, steps, tmp) -> dict:
    import quinr
    from quinr.backends import get_backend
    from quinr.grid import coordinates
    from quinr.quality import predict_on
    from quinr.signal import psnr

    short = device.removeprefix("Fake").lower()
    noise = f"device=Fake{short.capitalize()}" if training == "device-aware" else None
    t0 = time.perf_counter()
    enc = quinr.encode(sig, model=quinr.ModelConfig(n_qubits=nq, embed_dim=2 * nq),
                       train=quinr.TrainConfig(steps=steps, noise=noise,
                                               batch_size=args.batch if noise and nq >= 8 else None))
    train_s = time.perf_counter() - t0
    exact = quinr.decode(enc.data)
    be = get_backend(f"aer.fake_{short}")
    measured = {"readout": [], "none": []}
    vs_orig = {"readout": [], "none": []}
    t0 = time.perf_counter()
    for s in range(args.seeds):
        rec = Path(tmp) / f"{name[:4]}{nq}{short}{training[:3]}{s}.npz"
        dec, _ = quinr.decode_on_backend(enc.data, be, shots=args.shots, seed=s, mitigate="readout", record=rec)
        measured["readout"].append(psnr(exact, dec))
        vs_orig["readout"].append(psnr(sig, dec))
        dec, _ = quinr.decode_on_backend(enc.data, "replay", shots=args.shots, options={"record": str(rec)})
        measured["none"].append(psnr(exact, dec))
        vs_orig["none"].append(psnr(sig, dec))
    decode_s = time.perf_counter() - t0
    coords = torch.from_numpy(coordinates(*sig.grid, dtype=np.float64))
    bs = quinr.read_bitstream(enc.data)
    t0 = time.perf_counter()
    preds = {m: predict_on(be, bs, coords, args.shots, mitigate=None if m == "none" else m,
                           reference=sig.data.astype(np.float64).reshape(-1, sig.channels))
             for m in ("none", "readout")}
    predict_s = time.perf_counter() - t0
    return {"signal": name, "nq": nq, "device": device, "training": training, "shots": args.shots,
            "seeds": args.seeds, "exact_psnr_vs_original": enc.psnr,
            "rows": {m: {"predicted_vs_exact": preds[m].vs_exact, "measured_vs_exact": measured[m],
                         "predicted_vs_original": preds[m].vs_reference, "measured_vs_original": vs_orig[m],
                         "shots_only": preds[m].shots_only} for m in ("none", "readout")},
            "noise_source": preds["none"].source, "train_s": train_s, "decode_s": decode_s, "predict_s": predict_s}


def table(rows: list[dict]) -> None:
    print(f"{'signal':>11} {'Nq':>2} {'device':>10} {'training':>12} {'mitig.':>7} {'pred':>6} {'measured':>13} "
          f"{'|diff|':>6} {'shots-only':>10} {'vs orig: pred':>13} {'meas':>6}")
    worst = 0.0
    for r in rows:
        for m, v in r["rows"].items():
            meas = np.array(v["measured_vs_exact"])
            diff = abs(v["predicted_vs_exact"] - meas.mean())
            worst = max(worst, diff)
            print(f"{r['signal']:>11} {r['nq']:>2} {r['device']:>10} {r['training']:>12} {m:>7} "
                  f"{v['predicted_vs_exact']:6.2f} {meas.mean():6.2f} ± {meas.std(ddof=1):4.2f} {diff:6.2f} "
                  f"{v['shots_only']:10.2f} {v['predicted_vs_original']:13.2f} {np.mean(v['measured_vs_original']):6.2f}")
    print(f"largest |predicted - measured mean| (vs exact decode): {worst:.2f} dB over {2 * len(rows)} rows")
    gains = []
    for r in rows:
        if r["training"] != "device-aware":
            continue
        twin = next((q for q in rows if q["training"] == "noise-free" and all(q[k] == r[k] for k in ("signal", "nq", "device"))), None)
        if twin is not None:
            for m in ("none", "readout"):
                gains.append((r["signal"], r["nq"], r["device"], m, np.mean(r["rows"][m]["measured_vs_original"])
                              - np.mean(twin["rows"][m]["measured_vs_original"])))
    if gains:
        print("device-aware minus noise-free training, measured PSNR against the original on the emulated device:")
        for g in gains:
            print(f"  {g[0]:>11} Nq {g[1]} {g[2]:>10} {g[3]:>7}: {g[4]:+.2f} dB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="device_prediction.jsonl")
    ap.add_argument("--table", default=None, metavar="JSONL", help="print the table of a finished run and stop")
    ap.add_argument("--qubits", default="4,6,8")
    ap.add_argument("--devices", default="FakeTorino,FakeFez")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--shots", type=int, default=2000)
    ap.add_argument("--steps", type=int, default=300, help="training steps (device-aware at Nq 8: --steps8)")
    ap.add_argument("--steps8", type=int, default=150)
    ap.add_argument("--batch", type=int, default=16, help="batch of device-aware training at Nq >= 8")
    args = ap.parse_args()
    if args.table:
        table(read_rows(args.table))
        return
    torch.set_num_threads(2)
    out = Path(args.out)
    done = {(r["signal"], r["nq"], r["device"], r["training"]) for r in read_rows(out)}
    with tempfile.TemporaryDirectory() as tmp:
        for name, sig in signals().items():
            for nq in map(int, args.qubits.split(",")):
                for device in args.devices.split(","):
                    for training in ("noise-free", "device-aware"):
                        if (name, nq, device, training) in done:
                            continue
                        steps = args.steps8 if (nq >= 8 and training == "device-aware") else args.steps
                        row = run_row(name, sig, nq, device, training, args, steps, tmp)
                        append_row(out, row)
                        r = row["rows"]["none"]
                        print(f"{name} Nq {nq} {device} {training}: predicted {r['predicted_vs_exact']:.2f}, measured "
                              f"{np.mean(r['measured_vs_exact']):.2f} dB (train {row['train_s']:.0f} s, decode "
                              f"{row['decode_s']:.0f} s)", flush=True)
    table(read_rows(out))


if __name__ == "__main__":
    main()
