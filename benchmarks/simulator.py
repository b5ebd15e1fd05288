"""Simulator speed, side by side in one run: quinr's engines (the fused CPU kernels, the default on
CPU; the torch statevector with its hand-written adjoint backward, and with plain autograd),
PennyLane default.qubit (backprop), lightning.qubit (adjoint) and TorchQuantum.

Circuit: Nq = 8, M = 24, R = 2, E = 1, random h and theta; "all" = exact probabilities of all 256
basis states, "last 3" = the model's three outputs. default.qubit runs with the torch interface,
backprop and parameter broadcasting (float64, which is what it takes; float32 gives it no
speed-up); lightning.qubit with its adjoint method. Each cell is the median of several calls after
one warm-up call, and the rows that compare quinr's own paths measure them in alternating turns.
TorchQuantum (torchquantum-ng) pins other versions of torch and numpy, so it runs in its own
virtual environment (``--tq-python PATH``, or ``benchmarks/.tq-venv`` created with pip when the
network allows); without one its column is skipped with the reason. Peak memory of one training
step is measured in fresh processes. The last rows decode a 768x512 RGB image at Nq = 10 with the
exact simulator in a fresh process and report its peak resident memory.

    python benchmarks/simulator.py            # full table (default.qubit at 65536 takes ~1 min)
    python benchmarks/simulator.py --quick    # skip the 65536-coordinate default.qubit row
    python benchmarks/simulator.py --tq-only  # only quinr against TorchQuantum, in turns
    python benchmarks/simulator.py --flops    # only the matmul arithmetic of forward and backward
    python benchmarks/simulator.py --kernels  # only the fused engine's kernels (--threads 1: one core)
    python benchmarks/simulator.py --ratio    # only the fused engine's forward against its f+b
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

# isort: off
# First, before torch loads: the command line's OpenMP spin (GOMP_SPINCOUNT, unless set), so the
# engines run as `quinr encode` runs them. `GOMP_SPINCOUNT=300000` in the environment measures
# them under GNU OpenMP's default instead.
import quinr.cli  # noqa: F401
import torch
# isort: on
from pennylane_baseline import paper_circuit

from quinr.circuit import CircuitSpec
from quinr.sim import probabilities

SPEC = CircuitSpec(n_qubits=8, embed_dim=24, reuploads=2, layers=1)
HERE = Path(__file__).resolve().parent


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def in_turns(fns: dict, repeats: int) -> dict:
    """Median seconds of each callable, measured in alternating turns (one warm-up each)."""
    for fn in fns.values():
        fn()
    times: dict = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def inputs(batch: int, dtype: torch.dtype, grad: bool, spec: CircuitSpec = SPEC):
    g = torch.Generator().manual_seed(batch)
    h = (torch.rand(batch, spec.embed_dim, generator=g, dtype=dtype) * 2 - 1).requires_grad_(grad)
    theta = (torch.rand(spec.n_theta, generator=g, dtype=dtype) * 2 * math.pi).requires_grad_(grad)
    weights = torch.rand(batch, spec.n_states, generator=g, dtype=dtype)
    return h, theta, weights


def quinr_call(batch: int, backward: str | None, last: int | None = None, engine: str = "auto"):
    """backward: None (forward only, no autograd, on ``engine``: "auto", "fused" or "adjoint" for
    the torch forward), or the engine of a forward + backward: "fused", "adjoint", "autograd"."""
    h, theta, w = inputs(batch, torch.float32, backward is not None)
    if last is not None:
        w = w[:, -last:]

    def run():
        if backward:
            (probabilities(SPEC, h, theta, last=last, backward=backward) * w).sum().backward()
        else:
            with torch.no_grad():
                probabilities(SPEC, h, theta, last=last, backward=engine)

    return run


def pennylane_call(batch: int, backward: bool, device: str = "default.qubit"):
    """default.qubit: backprop through all probabilities. lightning.qubit: its adjoint method,
    which differentiates expectation values only, so the backward takes the gradient of one
    random diagonal observable (the same weighting of all 256 probabilities for every coordinate)."""
    import pennylane as qml

    dev = qml.device(device, wires=SPEC.n_qubits)
    adjoint = device != "default.qubit" and backward
    h, theta, w = inputs(batch, torch.float64, backward)
    observable = qml.Hermitian(torch.diag(w[0]).numpy(), wires=range(SPEC.n_qubits))

    @qml.qnode(dev, interface="torch", diff_method="adjoint" if adjoint else "backprop" if device == "default.qubit" else None)
    def circuit(h, theta):
        paper_circuit(SPEC, h, theta)
        return qml.expval(observable) if adjoint else qml.probs(wires=range(SPEC.n_qubits))

    def run():
        if adjoint:
            circuit(h, theta).sum().backward()
        elif backward:
            (circuit(h, theta) * w).sum().backward()
        else:
            with torch.no_grad():
                circuit(h, theta)

    return run


TQ_SNIPPET = """
import math, statistics, time, torch, torchquantum as tq
torch.set_num_threads({threads})
n, m, batch = 8, 24, {batch}
g = torch.Generator().manual_seed(batch)
h = (torch.rand(batch, m, generator=g) * 2 - 1).requires_grad_()
theta = (torch.rand({n_theta}, generator=g) * 2 * math.pi).requires_grad_()
w = torch.rand(batch, 2 ** n, generator=g)
gates = {gates!r}
def probs():
    qd = tq.QuantumDevice(n_wires=n, bsz=batch)
    for name, src, idx, wires in gates:
        ang = h[:, idx] if src == "h" else theta[idx].expand(batch)
        getattr(tq.functional, name.lower())(qd, wires=list(wires), params=ang[:, None])
    return (qd.get_states_1d().abs() ** 2)
def fwd():
    with torch.no_grad():
        probs()
def fb():
    (probs() * w).sum().backward()
out = []
for fn in (fwd, fb):
    fn(); ts = []
    for _ in range({repeats}):
        t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
    out.append(statistics.median(ts))
print(*out)
"""


def torchquantum(python: str | None, batch: int, threads: int, repeats: int) -> tuple[float, float] | str:
    """TorchQuantum's forward and forward + backward seconds in its own environment, or why not."""
    venv = HERE / ".tq-venv"
    exe = python or str(venv / "bin" / "python")
    if not Path(exe).exists():
        made = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True)
        pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "torchquantum-ng==0.2.0"],
                             capture_output=True, text=True, timeout=900) if made.returncode == 0 else made
        if pip.returncode != 0:
            last = (pip.stderr.strip().splitlines() or ["no output"])[-1]
            return f"skipped: torchquantum-ng could not be installed into its own environment ({last[:120]})"
    gates = [(g.name, g.source, g.index, tuple(g.wires)) for g in SPEC.gates()]
    code = TQ_SNIPPET.format(threads=threads, batch=batch, n_theta=SPEC.n_theta, gates=gates, repeats=repeats)
    out = subprocess.run([exe, "-c", code], capture_output=True, text=True)
    if out.returncode != 0:
        return f"skipped: TorchQuantum failed ({(out.stderr.strip().splitlines() or ['?'])[-1][:120]})"
    fwd, fb = (float(x) for x in out.stdout.split())
    return fwd, fb


STEP_SNIPPET = """
import torch
from quinr.circuit import CircuitSpec
from quinr.sim import probabilities
torch.set_num_threads({threads})
spec = CircuitSpec(n_qubits={n}, embed_dim={m}, reuploads=2, layers=1)
h = (torch.rand({batch}, {m}) * 2 - 1).requires_grad_()
theta = (torch.rand(spec.n_theta) * 6).requires_grad_()
w = torch.rand({batch}, 3)
(probabilities(spec, h[:2], theta, last=3, backward="{mode}") * w[:2]).sum().backward()
def status(key):
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(key))
open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current size
base = status("VmRSS")
(probabilities(spec, h, theta, last=3, backward="{mode}") * w).sum().backward()
print((status("VmHWM") - base) / 1024.0)
"""


def step_memory(n: int, batch: int, mode: str, threads: int) -> float:
    """Growth of the peak resident memory (MiB) over one training step, in a fresh process."""
    code = STEP_SNIPPET.format(threads=threads, n=n, m=3 * n, batch=batch, mode=mode)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(HERE.parent)})
    return float(out.stdout.strip())


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


def against_torchquantum(args: argparse.Namespace) -> None:
    """quinr and TorchQuantum in turns (TorchQuantum runs in its own process, so the machine's
    drift between the two measurements is what pairing them round by round takes out): each round
    times quinr's forward and forward + backward, then TorchQuantum's; the ratio of each round, and
    their median."""
    print(f"\nagainst TorchQuantum (all probabilities, batch 4096; {args.tq_rounds} rounds in turns)")
    rounds = []
    for _ in range(args.tq_rounds):
        ours = in_turns({m: quinr_call(4096, m) for m in (None, "fused")}, args.repeats)
        tq = torchquantum(args.tq_python, 4096, args.threads, 3)
        if isinstance(tq, str):
            print(tq)
            return
        rounds.append((tq[0] / ours[None], tq[1] / ours["fused"]))
        print(f"  round {len(rounds)}: TorchQuantum {tq[0]:.4f} s forward, {tq[1]:.4f} s forward + backward; quinr "
              f"{ours[None]:.4f} s, {ours['fused']:.4f} s: {rounds[-1][0]:.1f}x, {rounds[-1][1]:.1f}x")
    fwd, fb = (statistics.median(r[k] for r in rounds) for k in (0, 1))
    print(f"forward: quinr {fwd:.1f}x faster (rounds {min(r[0] for r in rounds):.1f}-{max(r[0] for r in rounds):.1f}x); "
          f"forward + backward: {fb:.1f}x ({min(r[1] for r in rounds):.1f}-{max(r[1] for r in rounds):.1f}x)")


def arithmetic_floor() -> None:
    """The matrix-product arithmetic of quinr's torch forward and of its adjoint backward
    (``torch.utils.flop_counter``, which counts matmuls, not elementwise work, and cannot see into
    the fused engine's compiled kernels): the backward's share is what no kernel can skip in this
    Kronecker-factor form, so (forward + backward) / forward here is the floor of the torch
    engine's time ratio."""
    from torch.utils.flop_counter import FlopCounterMode

    print("| Nq | batch | outputs | forward GFLOP | backward GFLOP | (fwd + bwd) / fwd |")
    print("|---|---|---|---|---|---|")
    for nq, batch in ((6, 4096), (8, 4096), (10, 1024)):
        spec = CircuitSpec(n_qubits=nq, embed_dim=24, reuploads=2, layers=1)
        for last in (None, 3):
            torch.manual_seed(0)
            h, theta = torch.randn(batch, 24, requires_grad=True), torch.randn(spec.n_theta, requires_grad=True)
            with FlopCounterMode(display=False) as fwd:
                p = probabilities(spec, h, theta, last=last, backward="adjoint")
            with FlopCounterMode(display=False) as bwd:
                (p * torch.randn_like(p)).sum().backward()
            f, b = fwd.get_total_flops(), bwd.get_total_flops()
            print(f"| {nq} | {batch} | {'all' if last is None else 'last 3'} | {f / 1e9:.3f} | {b / 1e9:.3f} | "
                  f"{(f + b) / f:.2f} |")


def kernel_times(repeats: int) -> None:
    """The fused engine's kernels alone (the calls of ``quinr.sim.fused._run``, which include the
    numba dispatch but no torch op), on ``quinr.sim._launch.kernel_threads()`` threads (torch's, unless
    ``QUINR_KERNEL_THREADS`` says otherwise), in medians: the composition of the runs that read h
    and the circuit's forward, without checkpoints (a no-gradient call) and with them, then the
    backwards of a training step. The ratio compares the kernels of a training step with those
    of a no-gradient call."""
    from quinr.sim import fused

    times: dict[str, list[float]] = {}
    run = fused._run

    def timed(name: str, *args) -> None:
        t0 = time.perf_counter()
        run(name, *args)
        if args[0] > 1:  # the tiles of the stages that read h, not the shared stages' one
            times.setdefault(name, []).append(time.perf_counter() - t0)

    print("| outputs | compose ms | forward ms | forward with checkpoints ms | backward ms | compose backward ms | "
          "training kernels / no-gradient kernels |")
    print("|---|---|---|---|---|---|---|")
    fused._run = timed
    try:
        for last in (None, 3):
            cells = {}
            for backward in (None, "fused"):
                call = quinr_call(4096, backward, last, "fused")
                call()
                times.clear()
                for _ in range(repeats):
                    call()
                cells[backward] = {k: statistics.median(v) * 1e3 for k, v in times.items()}
            plain, grad = cells[None], cells["fused"]
            print(f"| {'all' if last is None else 'last 3'} | {plain['compose']:.2f} | {plain['forward']:.2f} | "
                  f"{grad['forward']:.2f} | {grad['backward']:.2f} | {grad['compose_grad']:.2f} | "
                  f"{sum(grad.values()) / sum(plain.values()):.2f} |")
    finally:
        fused._run = run


def fused_ratio(repeats: int) -> None:
    """The goal's ratio for the fused engine alone: its forward (no gradients) and its forward +
    backward, in turns with each other only (in the main table each follows a torch engine's
    call, whose parallel ops and cache use it inherits)."""
    print("| outputs | fused fwd ms | fused f+b ms | f+b / fwd |")
    print("|---|---|---|---|")
    for last in (None, 3):
        t = in_turns({"fwd": quinr_call(4096, None, last, "fused"), "fb": quinr_call(4096, "fused", last)}, repeats)
        print(f"| {'all' if last is None else 'last 3'} | {t['fwd'] * 1e3:.2f} | {t['fb'] * 1e3:.2f} | "
              f"{t['fb'] / t['fwd']:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip default.qubit at 65536 coordinates")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--tq-python", default=None, help="a Python with torchquantum-ng installed")
    ap.add_argument("--tq-rounds", type=int, default=3, help="rounds of quinr and TorchQuantum in turns (default 3)")
    ap.add_argument("--tq-only", action="store_true", help="only the TorchQuantum comparison")
    ap.add_argument("--flops", action="store_true", help="only the matmul arithmetic of forward and backward")
    ap.add_argument("--kernels", action="store_true", help="only the fused engine's kernels, without torch's ops")
    ap.add_argument("--ratio", action="store_true", help="only the fused engine's forward and forward + backward, "
                    "in turns with each other")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"quinr simulator benchmark  (torch {torch.__version__}, {args.threads} threads, "
          f"{platform.processor() or platform.machine()}, GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT')})")
    print(f"circuit: {SPEC.describe()}, batch 4096 unless stated, median of repeated calls\n")
    if args.tq_only:
        against_torchquantum(args)
        return
    if args.flops:
        arithmetic_floor()
        return
    if args.kernels:
        kernel_times(max(args.repeats, 20))
        return
    if args.ratio:
        fused_ratio(max(args.repeats, 40))
        return

    print("quinr's engines: forward, and forward + backward, measured in turns")
    print("| outputs | torch fwd s | fused fwd s | autograd f+b s | adjoint f+b s | fused f+b s | "
          "fused f+b / fused fwd | fused f+b / torch fwd | fused vs adjoint |")
    print("|---|---|---|---|---|---|---|---|---|")
    for last in (None, 3):
        calls = {"torch": quinr_call(4096, None, last, "adjoint"), "fused fwd": quinr_call(4096, None, last, "fused")}
        calls.update({m: quinr_call(4096, m, last) for m in ("autograd", "adjoint", "fused")})
        t = in_turns(calls, args.repeats)
        print(f"| {'all' if last is None else 'last 3'} | {t['torch']:.4f} | {t['fused fwd']:.4f} | "
              f"{t['autograd']:.4f} | {t['adjoint']:.4f} | {t['fused']:.4f} | {t['fused'] / t['fused fwd']:.2f} | "
              f"{t['fused'] / t['torch']:.2f} | {t['adjoint'] / t['fused']:.2f}x |")
    print("\nthe fused engine alone, forward and forward + backward in turns with each other")
    fused_ratio(max(args.repeats, 40))

    print("\npeak memory growth of one training step (last 3 outputs, fresh process), MiB")
    print("| Nq | batch | autograd | adjoint | fused | adjoint / autograd | fused / autograd |")
    print("|---|---|---|---|---|---|---|")
    for n, batch in ((8, 4096), (10, 4096), (10, 16384)):
        a, b, c = (step_memory(n, batch, m, args.threads) for m in ("autograd", "adjoint", "fused"))
        print(f"| {n} | {batch} | {a:.0f} | {b:.0f} | {c:.0f} | {b / a:.2f} | {c / a:.2f} |")

    print("\nagainst PennyLane (all probabilities; quinr with its default engine, the fused kernels)")
    print(f"| {'call':<18} | {'batch':>6} | {'quinr s':>8} | {'default.qubit s':>15} | {'x':>5} | "
          f"{'lightning.qubit s':>17} | {'x':>5} |")
    print(f"|{'-' * 20}|{'-' * 8}|{'-' * 10}|{'-' * 17}|{'-' * 7}|{'-' * 19}|{'-' * 7}|")
    # lightning.qubit runs one circuit per coordinate (about 8 ms forward, 60 ms with its adjoint
    # backward), so it is measured where that takes seconds, not minutes
    cases = [("forward + backward", 256, True, args.repeats, 1),
             ("forward + backward", 4096, True, 3, 0),
             ("forward", 4096, False, 3, 1),
             ("forward", 65536, False, 0 if args.quick else 1, 0)]
    for label, batch, backward, dq_repeats, lq_repeats in cases:
        ours = median_time(quinr_call(batch, "fused" if backward else None), args.repeats)
        cells = []
        for device, reps in (("default.qubit", dq_repeats), ("lightning.qubit", lq_repeats)):
            theirs = median_time(pennylane_call(batch, backward, device), reps) if reps else float("nan")
            cells.append((theirs, theirs / ours))
        text = ["skipped" if math.isnan(t) else f"{t:.3f}" for t, _ in cells]
        ratio = ["-" if math.isnan(r) else f"{r:.0f}x" for _, r in cells]
        print(f"| {label:<18} | {batch:>6} | {ours:>8.4f} | {text[0]:>15} | {ratio[0]:>5} | {text[1]:>17} | {ratio[1]:>5} |")

    against_torchquantum(args)

    seconds, peak = decode_peak_memory(args.threads)
    print(f"\ndecode 768x512 RGB at Nq=10 (M=40, R=2, E=1), exact simulator: {seconds:.1f} s, "
          f"peak RSS {peak:.0f} MiB (whole process, torch included; goal < 4096 MiB)")


if __name__ == "__main__":
    main()
