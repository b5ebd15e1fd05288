"""Regenerate the golden bitstreams. Run only when FORMAT_VERSION changes (then add new files,
keep the old ones and teach the reader both): ``python tests/golden/make_golden.py``.

The recipes are deterministic (seeded initialisation, no training), so the test suite rebuilds
the same bytes and checks that the writer still produces them.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from quinr import bitstream
from quinr.bitstream import Header
from quinr.model import ModelConfig, QuINR
from quinr.quant import quantize
from quinr.signal import SignalKind

HERE = Path(__file__).parent

RECIPES = {
    "v1_rgb.qinr": (
        Header(SignalKind.U8, 12, 16, 3, 0.0, 255.0, ModelConfig(out_features=3, n_qubits=4, embed_dim=8, shuffle_seed=11), 12),
        7,
    ),
    "v1_float_blocks.qinr": (
        Header(
            SignalKind.F32, 8, 32, 1, -2.5, 80.25,
            ModelConfig(out_features=1, n_qubits=3, embed_dim=5, reuploads=3, layers=2, blocks=2, angle_scale=math.pi),
            16,
        ),
        3,
    ),
}


def build(name: str) -> bytes:
    header, seed = RECIPES[name]
    net = QuINR(header.model, seed=seed).canonicalize_()
    tensors = [quantize(t.detach().numpy(), header.bits) for _, t in net.named_tensors()]
    return bitstream.write(header, tensors)


def main() -> None:
    from quinr.codec import decode
    from quinr.signal import save_signal

    for name in RECIPES:
        data = build(name)
        (HERE / name).write_bytes(data)
        sig = decode(data)
        out = HERE / (name.replace(".qinr", ".png" if sig.kind is not SignalKind.F32 else ".npy"))
        if sig.kind is SignalKind.F32:
            np.save(out, sig.data)
        else:
            save_signal(sig, out)
        print(f"wrote {name} ({len(data)} bytes) and {out.name}")


if __name__ == "__main__":
    main()
