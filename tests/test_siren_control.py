"""The equal-size classical control (quinr.baselines.siren): matched in weights, trained by the
same trainer, stored with the same quantization and entropy coding, its file read back safely."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from quinr_testutils import smooth_rgb

from quinr.baselines.siren import ControlSiren, decode, matched_width, n_params, write
from quinr.config import ModelConfig
from quinr.errors import BitstreamError
from quinr.rd import RDConfig, run_rd
from quinr.signal import Signal, SignalKind, coordinates


def test_width_matches_the_quinr_networks_weights():
    for nq, m, r, blocks in ((6, 12, 2, 1), (8, 24, 2, 1), (8, 16, 2, 2), (10, 40, 2, 1)):
        target = ModelConfig(n_qubits=nq, embed_dim=m, reuploads=r, blocks=blocks).n_params()
        for layers in (2, 3):
            w = matched_width(target, 2, 3, layers)
            best = min(abs(n_params(2, 3, layers, v) - target) for v in range(1, 200))
            assert abs(n_params(2, 3, layers, w) - target) == best
            assert abs(n_params(2, 3, layers, w) - target) <= 0.15 * target  # one width step at these sizes
    net = ControlSiren(2, 3, 2, 11)
    assert sum(p.numel() for p in net.parameters()) == n_params(2, 3, 2, 11) == 201  # the paper's 198 weights


def test_the_control_file_round_trips_and_refuses_damage():
    sig = Signal(smooth_rgb(10, 12, seed=3), SignalKind.U8, 0.0, 255.0)
    net = ControlSiren(2, 3, 2, 6, seed=1)
    bits = (12, 12, 8, 8, 10, 10)
    data = write(net, sig, bits)
    out = decode(data)
    assert out.shape == sig.shape and out.kind is SignalKind.U8
    with torch.no_grad():  # the decode is the network at its dequantized weights
        direct = net.predict(torch.from_numpy(coordinates(10, 12))).clamp(0, 1).numpy().reshape(10, 12, 3)
    assert np.abs(out.data.astype(float) / 255 - direct).max() < 0.02
    for cut in (0, 10, len(data) // 2, len(data) - 1):
        with pytest.raises(BitstreamError):
            decode(data[:cut])
    flipped = bytearray(data)
    flipped[-8] ^= 0x10
    with pytest.raises(BitstreamError):
        decode(bytes(flipped))
    huge = bytearray(data)
    huge[13:15] = (4000).to_bytes(2, "big")  # width 4000: refused from the header, nothing allocated
    with pytest.raises(BitstreamError, match="out of range"):
        decode(bytes(huge))


def test_unset_control_options_follow_quinr():
    cfg = RDConfig(quinr_grid=((3, 4, 1), (4, 6, 1, 1, 2)), quinr_steps=7, siren_batch=64)
    assert cfg.siren_grid == cfg.quinr_grid and cfg.siren_steps == 7 and cfg.siren_bits == cfg.quinr_bits
    assert cfg.siren_batch == 64 and cfg.quinr_batch == 4096  # what is set stays the control's own
    assert cfg.with_points(1).siren_grid == ((3, 4, 1),)


def test_a_sweep_puts_the_control_beside_quinr(tmp_path):
    from PIL import Image

    Image.fromarray(smooth_rgb(16, 20, seed=5)).save(tmp_path / "img.png")
    cfg = RDConfig(codecs=("quinr", "siren"), quinr_grid=((3, 4, 1), (3, 4, 1, 1, 2)), quinr_bits=(8, "auto"),
                   quinr_steps=6, quinr_batch=None)
    files = run_rd(tmp_path / "img.png", tmp_path / "rd", cfg)
    q = json.loads(files["quinr"].read_text())
    s = json.loads(files["siren"].read_text())
    assert "equal-size SIREN control" in s["description"]
    weights = {p["params"] for p in q["all_points"]}
    controls = {p["params"] for p in s["all_points"]}
    assert len(weights) == len(controls) == 2  # one control per quinr network (blocks included)
    for c in controls:
        assert min(abs(c - w) / w for w in weights) <= 0.15
    assert any(p["auto_bits"] for p in s["all_points"]) and {p["bits"] for p in s["all_points"]} >= {8}
