"""Ask for a size or a quality, not for a network: rate control and the bit allocator.

    python examples/rate_control.py [--small]

Encodes a test card three ways: into a byte budget with the network from the shipped table
(``quinr.rate.encode_to``), into the same budget with a network of your own (only the bits are
chosen), and at a target PSNR; prints what was asked and where each landed. Then shows the
allocator alone: one trained network written at several budgets with ``bits="bytes:N"``.
"""

from __future__ import annotations

import argparse

from encode_and_compare import test_card

import quinr
from quinr.rate import encode_to


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true")
    args = ap.parse_args()
    card = test_card(16, 20) if args.small else test_card(64, 64)
    train = quinr.TrainConfig(steps=10 if args.small else 300, batch_size=None)
    mine = quinr.ModelConfig(n_qubits=4, embed_dim=8, reuploads=1)
    budget = 170 if args.small else 400
    for label, kwargs in (("table's network", {}), ("my network", {"model": mine})):
        r = encode_to(card, None, max_bytes=budget, train=train, **kwargs)
        chosen = r.preset.describe() if r.preset else "given"
        print(f"{label}: asked {r.asked}, landed {r.landed}; network {chosen}")
    r = encode_to(card, None, target_psnr=11.0 if args.small else 20.0, model=mine, train=train)
    print(f"PSNR target: asked {r.asked}, landed {r.landed}")
    for n in (110, 130, 150):  # the allocator alone: one network, three budgets (each retrains here)
        res = quinr.encode(card, None, model=mine, train=train, bits=f"bytes:{n}")
        print(f"bits=bytes:{n}: {res.n_bytes} bytes, {res.psnr:.2f} dB, bits per tensor {res.tensor_bits}")


if __name__ == "__main__":
    main()
