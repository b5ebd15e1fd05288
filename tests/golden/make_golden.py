"""Regenerate the golden bitstreams of the current FORMAT_VERSION. Run only when it changes
(then add new recipes, keep the old files and teach the reader both):
``python tests/golden/make_golden.py``. The v1 files were written by the version-1 writer (this
script's v1 recipes: v1_rgb is v2_rgb's header and weights; v1_float_blocks is v2_float_mixed's
at 16 bits for every tensor) and are kept, read-only, for the reader.

The recipes are closed-form (no RNG, no model initialisation, no training), so the test suite
rebuilds the same bytes on any machine and checks that the writer still produces them.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from quinr import bitstream
from quinr.bitstream import Header
from quinr.model import ModelConfig
from quinr.quant import quantize
from quinr.signal import SignalKind

HERE = Path(__file__).parent

RECIPES = {
    "v2_rgb.qinr": (
        Header(SignalKind.U8, 12, 16, 3, 0.0, 255.0, ModelConfig(out_features=3, n_qubits=4, embed_dim=8, shuffle_seed=11), 12),
        7,
    ),
    "v2_float_mixed.qinr": (
        Header(
            SignalKind.F32, 8, 32, 1, -2.5, 80.25,
            ModelConfig(out_features=1, n_qubits=3, embed_dim=5, reuploads=3, layers=2, blocks=2, angle_scale=math.pi),
            16, (10, 6, 12, 8, 7, 16, 9, 4),
        ),
        3,
    ),
}


_AMPLITUDE = {"weight": 0.1, "bias": 3.0, "theta": 3.0, "scale": 4.0, "offset": 0.2}


def weights(header: Header, seed: int) -> list[np.ndarray]:
    """Deterministic, plausible weights: damped sinusoids of the element index."""
    out = []
    for k, (name, shape) in enumerate(header.model.tensor_shapes()):
        i = np.arange(int(np.prod(shape)), dtype=np.float64)
        vals = _AMPLITUDE[name.split(".")[-1]] * np.sin(1.7 * i + 0.3 * k + seed)
        if name == "scale":
            vals = vals + 6.0
        out.append(vals.reshape(shape))
    return out


def build(name: str) -> bytes:
    header, seed = RECIPES[name]
    tensors = [quantize(w, b) for w, b in zip(weights(header, seed), header.bits_of(), strict=True)]
    return bitstream.write(header, tensors, version=int(name[1]))


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
