"""The exact device emulator against the device emulators it models, side by side in one run.

    python benchmarks/device_emulator.py [--coords 32] [--shots 2000] [--devices FakeTorino,FakeFez]

For Nq = 4, 6, 8 (M = 2 Nq) and each device: seconds per coordinate of ``aer.fake_*`` (the
qiskit-ibm-runtime SamplerV2 local mode, ``--shots`` per circuit, one job of ``--coords``
coordinates) and of ``torch.fake_*`` (quinr's exact Pauli-transfer engine, the same coordinates;
the device program built once per network beforehand, as a decode does), their ratio, and the
largest difference between quinr's exact probabilities and Aer's density-matrix simulation of the
same transpiled noisy circuit (readout applied to both). Prints a table.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

warnings.filterwarnings("ignore")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--coords", type=int, default=32)
    ap.add_argument("--shots", type=int, default=2000)
    ap.add_argument("--devices", default="FakeTorino,FakeFez")
    ap.add_argument("--qubits", default="4,6,8")
    args = ap.parse_args()

    from qiskit_aer import AerSimulator

    from quinr.backends import get_backend
    from quinr.backends.device_model import build_program, fake_device, noise_model_of, transpile_for
    from quinr.circuit import CircuitSpec
    from quinr.noise import apply_confusion
    from quinr.sim.device import DeviceEngine

    print(f"torch threads {torch.get_num_threads()}; {args.coords} coordinates per job, aer.fake_* with {args.shots} shots")
    print(f"{'device':>11} {'Nq':>3} {'qubits':>6} {'2q steps':>8} {'aer.fake s/coord':>16} {'torch.fake s/coord':>18} "
          f"{'speed-up':>8} {'max |p - Aer dm|':>16}")
    for name in args.devices.split(","):
        device = fake_device(name)
        full_noise = noise_model_of(device)
        short = name.removeprefix("Fake").lower()
        aer_be, torch_be = get_backend(f"aer.fake_{short}"), get_backend(f"torch.fake_{short}")
        for nq in map(int, args.qubits.split(",")):
            spec = CircuitSpec(nq, 2 * nq)
            rng = np.random.default_rng(nq)
            h = rng.uniform(-1.5, 1.5, (args.coords, spec.embed_dim))
            theta = rng.uniform(-np.pi, np.pi, spec.n_theta)
            aer_be.run(spec, h[:1], theta, args.shots, 0, aer_be.new_report(args.shots))  # transpile, build the sim
            t = time.perf_counter()
            aer_be.run(spec, h, theta, args.shots, 1, aer_be.new_report(args.shots))
            aer_s = (time.perf_counter() - t) / args.coords
            torch_be.run(spec, h[:1], theta, None, None, torch_be.new_report(None))  # build the device program
            t = time.perf_counter()
            ours = torch_be.run(spec, h, theta, None, None, torch_be.new_report(None))
            torch_s = (time.perf_counter() - t) / args.coords
            # agreement: Aer density_matrix on the same transpiled circuit, full device noise model
            tr = transpile_for(device, spec)
            prog = build_program(device, spec, transpiled=tr)
            k = min(4, args.coords)
            circuits = []
            for row in tr.bind(h[:k], theta):
                qc = tr.isa.remove_final_measurements(inplace=False).assign_parameters(row)
                qc.save_probabilities(qubits=list(reversed(tr.physical)))
                circuits.append(qc)
            res = AerSimulator(method="density_matrix", noise_model=full_noise).run(circuits).result()
            aer_dm = np.array([res.data(i)["probabilities"] for i in range(k)])
            aer_dm = apply_confusion(torch.from_numpy(aer_dm), prog.confusion).numpy()
            diff = float(np.abs(ours[:k] - aer_dm).max())
            steps = len(DeviceEngine(prog).steps)
            print(f"{name:>11} {nq:>3} {prog.n_qubits:>6} {steps:>8} {aer_s:>16.4f} {torch_s:>18.5f} "
                  f"{aer_s / torch_s:>7.0f}x {diff:>16.1e}", flush=True)


if __name__ == "__main__":
    main()
