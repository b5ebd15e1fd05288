"""Before paying: ask what a decode costs and what it will reach; then decode on a backend.

    python examples/decode_on_a_backend.py [--small]

Encodes a small test card, asks ``plan_budget`` for the price and predicted quality of a decode on
IBM Torino (offline: its calibration snapshot) and on Amazon Braket's IonQ Forte, then decodes on
the local device emulator ``torch.fake_torino`` with shots, without and with readout mitigation,
and compares the prediction with what the decode measured.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from encode_and_compare import test_card

import quinr
from quinr.budget import plan_budget


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true")
    args = ap.parse_args()
    card = test_card(8, 12) if args.small else test_card(32, 32)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "card.qinr"
        quinr.encode(card, path, model=quinr.ModelConfig(n_qubits=4, embed_dim=8),
                     train=quinr.TrainConfig(steps=20 if args.small else 300))
        for backend in ("ibm.torino", "braket.ionq_forte"):
            est = plan_budget(path, backend, shots=1000, reference=card, max_cost=50.0)
            if est.predicted_psnr_vs_exact is not None:  # a device model: noise and shots
                quality = f"predicted {est.predicted_psnr_vs_exact:.2f} dB against the exact decode"
            else:  # no offline model of this device: the shot-noise bound only
                quality = f"no device model; shot noise alone bounds it at {est.predicted_psnr_shots_only:.2f} dB"
            print(f"{backend}: {est.circuits} circuits, {est.cost:.2f} {est.currency}, "
                  f"{'fits' if est.within_budget else 'over'} a 50 {est.currency} budget; {quality}")
        for mitigate in (None, "readout"):
            est = plan_budget(path, "torch.fake_torino", shots=2000, mitigate=mitigate)
            signal, report = quinr.decode_on_backend(path, "torch.fake_torino", shots=2000, seed=1, mitigate=mitigate)
            print(f"torch.fake_torino, mitigation {mitigate}: predicted {est.predicted_psnr_vs_exact:.2f} dB, measured "
                  f"{report.psnr_vs_exact:.2f} dB against the exact decode; {report.circuits} circuits, "
                  f"{quinr.compare(card, signal)['psnr']:.2f} dB against the original")


if __name__ == "__main__":
    main()
