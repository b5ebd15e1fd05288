"""Build the conformance files of the .qinr format: small files that together exercise every
feature of every format version, each with its expected output and a one-line description
(``index.json``). Run from the repository root: ``python tests/conformance/make_conformance.py``.

The weights are closed-form (no random generator, no training), so the files are fully described
by this script. The expected outputs are quinr's decode (float64, docs/bitstream.md "Precision");
``quinr/reference.py``, written from the specification alone, must reproduce them within the
stated tolerance (tests/test_conformance.py). Every future format change adds files here; files
are never changed once published.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from quinr import bitstream
from quinr.bitstream import Header
from quinr.codec import decode
from quinr.model import ModelConfig
from quinr.quant import quantize
from quinr.signal import SignalKind

HERE = Path(__file__).parent
U8, U16, F32 = SignalKind.U8, SignalKind.U16, SignalKind.F32
_AMPLITUDE = {"weight": 0.25, "bias": 3.0, "theta": 3.0, "scale": 4.0, "offset": 0.2}


def weights(cfg: ModelConfig, seed: float, style: str) -> list[np.ndarray]:
    """Deterministic weights: damped sinusoids of the element index ("smooth"), their fourth
    powers ("peaked": most values near zero, a few far out, what entropy coding is for), or
    "wide" (large but valid ranges)."""
    out = []
    for k, (name, shape) in enumerate(cfg.tensor_shapes()):
        i = np.arange(int(np.prod(shape)), dtype=np.float64)
        s = np.sin(1.7 * i + 0.3 * k + seed)
        base = _AMPLITUDE[name.split(".")[-1]]
        if style == "peaked":
            vals = base * np.sign(s) * s**4 * (1 + 0.5 * np.cos(0.37 * i))
        elif style == "wide":
            vals = base * s * {"weight": 40.0, "bias": 300.0, "theta": 30.0, "scale": 1.0, "offset": 1.0}[name.split(".")[-1]]
        else:
            vals = base * s
        if name == "scale":
            vals = vals + 6.0
        if name == "offset" and style == "constant":
            vals = np.full(shape, 0.125)
        out.append(vals.reshape(shape))
    return out


def cfg(**kw) -> ModelConfig:
    return ModelConfig(**{"n_qubits": 3, "embed_dim": 5, **kw})


#: (file, version, header, bits per tensor or one depth, weight style, seed, description)
CASES = [
    ("c01_v1_grey8.qinr", 1, Header(U8, 9, 7, 1, 0.0, 255.0, cfg(out_features=1), 8), 8, "smooth", 0.1,
     "version 1: 8-bit grey 9x7, one bit depth for every tensor, raw weights"),
    ("c02_v1_float_blocks.qinr", 1, Header(F32, 6, 10, 2, -1.5, 40.0, cfg(out_features=2, blocks=2, reuploads=3), 12),
     12, "smooth", 0.2, "version 1: float32 signal of 2 channels, two stacked blocks, 12 bits"),
    ("c03_v2_rgb_mixed.qinr", 2, Header(U8, 12, 16, 3, 0.0, 255.0, cfg(out_features=3, n_qubits=4, embed_dim=8,
                                                                           shuffle_seed=11), 16),
     (7, 9, 12, 5, 3), "smooth", 0.3, "version 2: 8-bit RGB 12x16, mixed per-tensor bit depths, raw weights"),
    ("c04_v2_gaussian.qinr", 2, Header(U8, 5, 6, 1, 0.0, 255.0, cfg(out_features=1, embed_dim=300), 12), 12,
     "peaked", 0.4, "version 2: entropy model 1 (constriction's quantized Gaussian, range coded) on the two "
     "large peaked tensors; quinr decodes it, the numpy reference decoder does not (see the specification)"),
    ("c05_v3_rgb_bits2to16.qinr", 3, Header(U8, 8, 11, 3, 0.0, 255.0, cfg(out_features=3, n_qubits=4, embed_dim=7), 16),
     (2, 3, 16, 5, 13), "smooth", 0.5, "version 3: 8-bit RGB, bit depths 2, 3, 16, 5, 13 across the tensors"),
    ("c06_v3_grey16.qinr", 3, Header(U16, 7, 9, 1, 0.0, 65535.0, cfg(out_features=1), 14), 14, "smooth", 0.6,
     "version 3: 16-bit grey image"),
    ("c07_v3_rgb16.qinr", 3, Header(U16, 6, 5, 3, 0.0, 65535.0, cfg(out_features=3, n_qubits=4), 11), 11, "smooth",
     0.7, "version 3: 16-bit RGB image"),
    ("c08_v3_float_negative.qinr", 3, Header(F32, 10, 4, 1, -7.25, 3.5, cfg(out_features=1, angle_scale=0.5), 10),
     10, "smooth", 0.8, "version 3: float32 signal with a negative range, angle scale 0.5"),
    ("c09_v3_blocks3_R3_E2.qinr", 3, Header(U8, 5, 8, 3, 0.0, 255.0, cfg(out_features=3, n_qubits=4, embed_dim=9,
                                                                              reuploads=3, layers=2, blocks=3,
                                                                              angle_scale=math.pi, shuffle_seed=77),
                                                4), 9, "smooth", 0.9,
     "version 3: three stacked blocks, R = 3 re-uploads, E = 2 layers, angle scale pi, shuffle seed 77"),
    ("c10_v3_one_dimensional.qinr", 3, Header(F32, 1, 37, 2, -1.0, 1.0, cfg(in_features=1, out_features=2), 12), 12,
     "smooth", 1.0, "version 3: a one-dimensional signal of 37 samples and 2 channels (in_features 1, height 1)"),
    ("c11_v3_1xN.qinr", 3, Header(U8, 1, 23, 3, 0.0, 255.0, cfg(out_features=3, n_qubits=4), 10), 10, "smooth", 1.1,
     "version 3: a 1 x 23 RGB image (a single row: the row coordinate is 0)"),
    ("c12_v3_Nx1.qinr", 3, Header(U8, 19, 1, 1, 0.0, 255.0, cfg(out_features=1), 10), 10, "smooth", 1.2,
     "version 3: a 19 x 1 grey image (a single column)"),
    ("c13_v3_laplace.qinr", 3, Header(U8, 6, 7, 1, 0.0, 255.0, cfg(out_features=1, embed_dim=300), 15),
     (9, 4, 15, 12, 6), "peaked", 1.3, "version 3: entropy model 2 (integer Laplace, rANS) on the two large peaked "
     "tensors (9 and 4 bits); the small ones (15, 12, 6 bits) stay raw"),
    ("c14_v3_wide_32bit.qinr", 3, Header(F32, 4, 6, 1, -3.0e38, 3.0e38, cfg(out_features=1, n_qubits=5, embed_dim=6), 32),
     32, "wide", 1.4, "version 3: 32-bit weights over wide ranges (sine weights of +-10, biases of +-900), a float "
     "signal spanning almost all of float32"),
    ("c15_v3_16_channels.qinr", 3, Header(F32, 3, 4, 16, 0.0, 1.0, cfg(out_features=16, n_qubits=5, embed_dim=10), 8), 8,
     "smooth", 1.5, "version 3: 16 output channels (the most), Nq = 5"),
    ("c16_v3_constant.qinr", 3, Header(U8, 4, 4, 1, 0.0, 255.0, cfg(out_features=1, n_qubits=2, embed_dim=3), 6), 6,
     "constant", 1.6, "version 3: a tensor whose values are all equal (hi = lo), Nq = 2"),
    ("c17_v4_linear.qinr", 4, Header(U8, 7, 6, 3, 0.0, 255.0, cfg(out_features=3, n_qubits=5, embed_dim=8,
                                                                      entangler="linear"), 12), 12, "smooth", 1.7,
     "version 4: a linear entangler (pairs (0,1) .. (3,4)), no target"),
    ("c18_v4_ring_blocks.qinr", 4, Header(F32, 5, 5, 1, -2.0, 2.0, cfg(out_features=1, n_qubits=4, blocks=2, layers=2,
                                                                        entangler="ring"), 11), 11, "smooth", 1.8,
     "version 4: a ring entangler (the line closed by (0,3)), two blocks, E = 2"),
    ("c19_v4_listed_target.qinr", 4, Header(U8, 6, 6, 1, 0.0, 255.0, cfg(
        out_features=1, n_qubits=6, embed_dim=9, entangler="listed", couplings=((0, 1), (1, 2), (1, 4), (2, 3), (4, 5)),
        target="ibm.torino", layout=(81, 80, 79, 78, 82, 83)), 10), 10, "smooth", 1.9,
     "version 4: a listed entangler of 5 pairs (a device's coupling map), with a target and a layout of physical "
     "qubits above 255"),
    ("c20_v4_all_target.qinr", 4, Header(U8, 4, 5, 1, 0.0, 255.0, cfg(out_features=1, target="aer.fake_fez"), 9), 9,
     "peaked", 2.0, "version 4: the paper's all-pairs entangler with a target and no layout"),
    ("c21_v5_per_block_m.qinr", 5, Header(U8, 5, 6, 3, 0.0, 255.0, cfg(out_features=3, n_qubits=3, blocks=3,
                                                                      embed_dims=(40, 2, 5)), 12), 12, "peaked", 2.1,
     "version 5: three blocks of M = 40, 2 and 5 (one re-upload shuffle per block's M), entropy-coded weights"),
    ("c22_v3_z_readout.qinr", 3, Header(U8, 6, 5, 3, 0.0, 255.0, cfg(out_features=3, n_qubits=4, embed_dim=6,
                                                                     readout="z"), 12), 12, "smooth", 2.2,
     "version 3: output map 2 (<Z> of the first 3 qubits -> affine -> QReLU), one block"),
    ("c23_v6_residual_z.qinr", 6, Header(U16, 5, 4, 2, 0.0, 65535.0, cfg(out_features=2, n_qubits=3, blocks=3,
                                                                         link="residual", readout="z"), 14), 14,
     "smooth", 2.3, "version 6: link 1 (block k reads the sum of the <Z> of blocks k-1 and k-2), three blocks of "
     "one M, output map 2"),
    ("c24_v6_probs_link.qinr", 6, Header(F32, 4, 6, 1, -1.0, 3.0, cfg(out_features=1, n_qubits=3, blocks=2,
                                                                      embed_dims=(40, 2), link="probs"), 12), 12,
     "peaked", 2.4, "version 6: link 2 (block 1 reads the 8 probabilities of block 0 as 8 p - 1), blocks of M 40 "
     "and 2, entropy-coded weights"),
]


def build(case) -> bytes:
    name, version, header, bits, style, seed, _ = case
    per = (bits,) * len(header.model.tensor_shapes()) if isinstance(bits, int) else bits
    header = Header(header.kind, header.height, header.width, header.channels, header.vmin, header.vmax,
                    header.model, max(per), () if version == 1 else per)
    tensors = [quantize(w, b) for w, b in zip(weights(header.model, seed, style), per, strict=True)]
    if version == 1:
        return _write_v1(header, tensors)
    return bitstream.write(header, tensors, version=version)


def _write_v1(header: Header, tensors) -> bytes:
    """Version 1: the fixed header, f32 lo/hi per tensor, one bit depth, MSB-first packing, CRC."""
    import struct
    import zlib

    from quinr.header import pack

    body = b"QINR" + bytes([1]) + pack(header)
    body += b"".join(struct.pack(">ff", t.lo, t.hi) for t in tensors)
    body += bitstream._pack_mixed([(t.values, header.bits) for t in tensors])
    return body + struct.pack(">I", zlib.crc32(body))


def main() -> None:
    index = []
    for case in CASES:
        data = build(case)
        (HERE / case[0]).write_bytes(data)
        sig = decode(data)
        np.save(HERE / case[0].replace(".qinr", ".npy"), sig.data)
        hdr = bitstream.read(data).header
        index.append({"file": case[0], "expected": case[0].replace(".qinr", ".npy"), "version": hdr.version,
                      "description": case[6], "reference": case[0] != "c04_v2_gaussian.qinr"})
        print(f"{case[0]}: {len(data)} bytes, v{hdr.version}, bits {hdr.bits_of()}, {sig.shape} {sig.kind.name}")
    (HERE / "index.json").write_text(json.dumps(index, indent=2) + "\n")


if __name__ == "__main__":
    main()
