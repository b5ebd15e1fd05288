"""Decode speed per backend: quinr's batched drivers vs the naive PennyLane plugin path.

The decode: a 64x64 RGB image (4096 circuits), Nq = 6, M = 12, R = 2, E = 1 (a seeded, untrained
network: speed does not depend on the weights), 1024 shots where a backend samples.

The naive path is what a PennyLane user writes: a QNode on ``qiskit.aer`` or
``braket.local.qubit`` with parameter broadcasting, which the plugins expand into one circuit
(and one transpilation or task) per coordinate. It is measured on 256 coordinates and scaled to
4096 (labelled); ``--full`` runs all 4096 (several minutes each).

    python benchmarks/decode_backends.py                    # every local backend + naive paths
    python benchmarks/decode_backends.py --backends aer,braket
    python benchmarks/decode_backends.py --backends aer.fake_torino --size 16 --skip-naive

The device emulators (aer.fake_*) are left out of the default list: their noisy transpiled
circuits take about 0.1-0.25 s per coordinate, so time them on a smaller image with --size.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch
from pennylane_baseline import paper_circuit

from quinr import bitstream
from quinr.backends import get_backend, load_profiles, missing_requirements
from quinr.bitstream import Header
from quinr.codec import decode
from quinr.hardware import decode_on_backend
from quinr.model import ModelConfig, QuINR
from quinr.quant import quantize
from quinr.signal import SignalKind, coordinates

warnings.filterwarnings("ignore")
CFG = ModelConfig(out_features=3, n_qubits=6, embed_dim=12, reuploads=2, layers=1)
SIZE = 64  # --size
SHOTS = 1024


def qinr_bytes() -> bytes:
    net = QuINR(CFG, seed=0).canonicalize_()
    header = Header(SignalKind.U8, SIZE, SIZE, 3, 0.0, 255.0, CFG, 16)
    return bitstream.write(header, [quantize(t.detach().numpy(), 16) for _, t in net.named_tensors()])


def naive_seconds(device_name: str, n: int, **kwargs) -> float:
    """The PennyLane plugin path for the first n coordinates of the same decode."""
    import pennylane as qml

    net = QuINR(CFG, seed=0)
    spec = CFG.circuit()
    x = torch.from_numpy(coordinates(SIZE, SIZE))[:n]
    with torch.no_grad():
        h = net.blocks[0].embed(x).double().numpy()
    theta = net.blocks[0].theta.detach().double().numpy()
    dev = qml.device(device_name, wires=spec.n_qubits, **kwargs)

    @qml.qnode(dev)
    def circuit(hh):
        paper_circuit(spec, hh, theta)
        return qml.probs(wires=range(spec.n_qubits))

    circuit = qml.set_shots(circuit, shots=SHOTS)
    t0 = time.perf_counter()
    circuit(h)
    return time.perf_counter() - t0


def main() -> None:
    global SIZE
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", default=None, help="comma-separated names (default: every local backend)")
    ap.add_argument("--full", action="store_true", help="run the naive paths on all 4096 coordinates")
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--size", type=int, default=SIZE, help="image side in pixels (default 64)")
    args = ap.parse_args()
    SIZE = args.size
    torch.set_num_threads(2)
    data = qinr_bytes()
    reference = decode(data)
    names = args.backends.split(",") if args.backends else sorted(
        p.name for p in load_profiles().values()
        if p.kind != "qpu" and p.driver != "replay" and not missing_requirements(p) and p.max_qubits >= CFG.n_qubits
        and not p.noise.startswith("device snapshot")
    )
    rows = []
    print(f"decode of a {SIZE}x{SIZE} RGB image ({SIZE * SIZE} circuits), {CFG.circuit().describe()}\n")
    print(f"| {'backend':<16} | {'mode':<10} | {'tasks':>5} | {'seconds':>8} | {'RMSE vs exact (8-bit levels)':>28} |")
    print(f"|{'-' * 18}|{'-' * 12}|{'-' * 7}|{'-' * 10}|{'-' * 30}|", flush=True)

    def show(row) -> None:
        rows.append(row)
        name, mode, tasks, seconds, err = row
        print(f"| {name:<16} | {mode:<10} | {tasks:>5} | {seconds:>8.2f} | {err:>28.2f} |", flush=True)

    for name in names:
        be = get_backend(name)
        shots = None if be.profile.exact else SHOTS
        t0 = time.perf_counter()
        sig, report = decode_on_backend(data, be, shots=shots, seed=0)
        seconds = time.perf_counter() - t0
        err = float(np.sqrt(np.mean((sig.data.astype(float) - reference.data.astype(float)) ** 2)))
        show((name, "exact" if shots is None else f"{shots} shots", report.tasks, seconds, err))
        if be.profile.exact and be.profile.noise == "none":  # sampled too, as the naive paths run
            t0 = time.perf_counter()
            sig, report = decode_on_backend(data, be, shots=SHOTS, seed=0)
            seconds = time.perf_counter() - t0
            err = float(np.sqrt(np.mean((sig.data.astype(float) - reference.data.astype(float)) ** 2)))
            show((name, f"{SHOTS} shots", report.tasks, seconds, err))

    if args.skip_naive:
        return
    n = SIZE * SIZE if args.full else 256
    print(f"\nnaive PennyLane plugin path, {SHOTS} shots, measured on {n} coordinates"
          + ("" if args.full else f", scaled x{SIZE * SIZE // n} to the full decode"))
    print(f"| {'path':<44} | {'measured s':>10} | {'full decode s':>13} | {'quinr s':>8} | {'speed-up':>8} |")
    print(f"|{'-' * 46}|{'-' * 12}|{'-' * 15}|{'-' * 10}|{'-' * 10}|")
    quinr_shots = {name: seconds for name, mode, _, seconds, _ in rows if mode == f"{SHOTS} shots"}
    for label, dev, kwargs, ours in (
        ("qiskit.aer QNode, broadcasting (vs quinr aer)", "qiskit.aer", {}, "aer"),
        ("braket.local.qubit QNode, broadcasting (vs braket)", "braket.local.qubit", {"backend": "braket_sv"}, "braket"),
    ):
        if ours not in quinr_shots:
            continue
        measured = naive_seconds(dev, n, **kwargs)
        full = measured * (SIZE * SIZE) / n
        print(f"| {label:<44} | {measured:>10.1f} | {full:>13.1f} | {quinr_shots[ours]:>8.2f} | "
              f"{full / quinr_shots[ours]:>7.0f}x |", flush=True)


if __name__ == "__main__":
    main()
