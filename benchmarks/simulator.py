"""Simulator speed: quinr's torch statevector vs PennyLane default.qubit, side by side in one run.

Circuit: Nq = 8, M = 24, R = 2, E = 1, exact probabilities of all 256 basis states, random h and
theta. default.qubit runs with the torch interface, backprop and parameter broadcasting (float64,
which is what it takes; float32 gives it no speed-up). Each cell is the median of several calls
after one warm-up call. The last rows decode a 768x512 RGB image at Nq = 10 with the exact
simulator in a fresh process and report its peak resident memory.

    python benchmarks/simulator.py            # full table (default.qubit at 65536 takes ~1 min)
    python benchmarks/simulator.py --quick    # skip the 65536-coordinate default.qubit row
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import subprocess
import sys
import time

import torch
from pennylane_baseline import paper_circuit

from quinr.circuit import CircuitSpec
from quinr.sim import probabilities

SPEC = CircuitSpec(n_qubits=8, embed_dim=24, reuploads=2, layers=1)


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def inputs(batch: int, dtype: torch.dtype, grad: bool):
    g = torch.Generator().manual_seed(batch)
    h = (torch.rand(batch, SPEC.embed_dim, generator=g, dtype=dtype) * 2 - 1).requires_grad_(grad)
    theta = (torch.rand(SPEC.n_theta, generator=g, dtype=dtype) * 2 * math.pi).requires_grad_(grad)
    weights = torch.rand(batch, SPEC.n_states, generator=g, dtype=dtype)
    return h, theta, weights


def quinr_call(batch: int, backward: bool, last: int | None = None):
    h, theta, w = inputs(batch, torch.float32, backward)
    if last is not None:
        w = w[:, -last:]

    def run():
        if backward:
            (probabilities(SPEC, h, theta, last=last) * w).sum().backward()
        else:
            with torch.no_grad():
                probabilities(SPEC, h, theta, last=last)

    return run


def pennylane_call(batch: int, backward: bool):
    import pennylane as qml

    dev = qml.device("default.qubit", wires=SPEC.n_qubits)

    @qml.qnode(dev, interface="torch", diff_method="backprop")
    def circuit(h, theta):
        paper_circuit(SPEC, h, theta)
        return qml.probs(wires=range(SPEC.n_qubits))

    h, theta, w = inputs(batch, torch.float64, backward)

    def run():
        if backward:
            (circuit(h, theta) * w).sum().backward()
        else:
            with torch.no_grad():
                circuit(h, theta)

    return run


DECODE_SNIPPET = """
import time, torch
torch.set_num_threads({threads})
from quinr import bitstream
from quinr.bitstream import Header
from quinr.codec import decode
from quinr.model import ModelConfig, QuINR
from quinr.quant import quantize
from quinr.signal import SignalKind
cfg = ModelConfig(out_features=3, n_qubits=10, embed_dim=40, reuploads=2, layers=1)
net = QuINR(cfg, seed=0).canonicalize_()
data = bitstream.write(Header(SignalKind.U8, 512, 768, 3, 0.0, 255.0, cfg, 16),
                       [quantize(t.detach().numpy(), 16) for _, t in net.named_tensors()])
t0 = time.perf_counter()
sig = decode(data)
dt = time.perf_counter() - t0
# VmHWM is this process's own peak (ru_maxrss of a forked child can report the parent's).
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(dt, hwm / 1024.0, sig.shape)
"""


def decode_peak_memory(threads: int) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, "-c", DECODE_SNIPPET.format(threads=threads)], capture_output=True, text=True, check=True
    )
    seconds, peak_mib, _ = out.stdout.strip().split(" ", 2)
    return float(seconds), float(peak_mib)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip default.qubit at 65536 coordinates")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    rows = []

    def compare(label: str, batch: int, backward: bool, pl_repeats: int) -> None:
        ours = median_time(quinr_call(batch, backward), args.repeats)
        theirs = median_time(pennylane_call(batch, backward), pl_repeats) if pl_repeats else float("nan")
        rows.append((label, batch, ours, theirs, theirs / ours))

    compare("forward + backward", 256, True, args.repeats)
    compare("forward + backward", 4096, True, 3)
    compare("forward", 4096, False, 3)
    compare("forward", 65536, False, 0 if args.quick else 1)
    # The model needs only the last N_out = 3 probabilities (training and decoding);
    # default.qubit has no cheaper way to get them than the full vector.
    model = median_time(quinr_call(4096, True, last=3), args.repeats)
    rows.append(("model path (last 3 probs): fwd + bwd", 4096, model, rows[1][3], rows[1][3] / model))
    model = median_time(quinr_call(65536, False, last=3), args.repeats)
    rows.append(("model path (last 3 probs): forward", 65536, model, rows[3][3], rows[3][3] / model))

    print(f"quinr simulator benchmark  (torch {torch.__version__}, {args.threads} threads, {platform.processor() or platform.machine()})")
    print(f"circuit: {SPEC.describe()}, exact probabilities, median of repeated calls\n")
    print(f"| {'call':<36} | {'batch':>6} | {'quinr s':>9} | {'default.qubit s':>15} | {'speed-up':>8} |")
    print(f"|{'-' * 38}|{'-' * 8}|{'-' * 11}|{'-' * 17}|{'-' * 10}|")
    for label, batch, ours, theirs, ratio in rows:
        t = "skipped" if math.isnan(theirs) else f"{theirs:.3f}"
        r = "-" if math.isnan(ratio) else f"{ratio:.0f}x"
        print(f"| {label:<36} | {batch:>6} | {ours:>9.4f} | {t:>15} | {r:>8} |")

    seconds, peak = decode_peak_memory(args.threads)  # noqa: F841 (printed below)
    print(f"\ndecode 768x512 RGB at Nq=10 (M=40, R=2, E=1), exact simulator: {seconds:.1f} s, "
          f"peak RSS {peak:.0f} MiB (whole process, torch included; goal < 4096 MiB)")


if __name__ == "__main__":
    main()
