"""The signal seam: one-dimensional signals (a 1-D .npy, such as audio) encode and decode end to
end, through the same codec, bitstream, windows, budgets and backends as images."""

from __future__ import annotations

import json

import numpy as np
import pytest

from quinr import decode, encode, info
from quinr.cli import main
from quinr.hardware import decode_on_backend
from quinr.model import ModelConfig
from quinr.signal import load_signal, psnr
from quinr.train import TrainConfig


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    d = tmp_path_factory.mktemp("oned")
    t = np.linspace(0, 1, 300, dtype=np.float32)
    wave = 0.6 * np.sin(2 * np.pi * 1.5 * t) + 0.2 * np.sin(2 * np.pi * 3 * t + 1) + 0.1  # two tones
    np.save(d / "tones.npy", wave.astype(np.float32))
    return d


def test_a_one_dimensional_signal_encodes_and_decodes_end_to_end(tones, capsys):
    src, q, out = tones / "tones.npy", tones / "tones.qinr", tones / "back.npy"
    assert main(["encode", str(src), "-o", str(q), "--qubits", "4", "--embed", "8", "--steps", "150",
                 "--batch-size", "128", "--lr", "0.05", "--quiet"]) == 0
    assert "300x1 f32 (1-D)" in capsys.readouterr().out
    hdr = info(q)
    assert hdr.grid == (300,) and hdr.model.in_features == 1 and hdr.height == 1 and hdr.width == 300
    assert main(["info", str(q)]) == 0 and "300x1 f32 (1-D)" in capsys.readouterr().out
    assert main(["decode", str(q), "-o", str(out)]) == 0
    back = np.load(out)
    original = load_signal(src)
    assert back.shape == (300,) and original.grid == (300,)
    assert psnr(original, load_signal(out)) > 20  # 300 samples from a 139-weight network
    window = decode(q, crop=(100, 50))
    assert window.shape == (50, 1)
    assert np.allclose(window.data[:, 0], back[100:150], atol=1e-5)
    assert decode(q, scale=0.5).shape == (150, 1)
    with pytest.raises(Exception, match="X,W"):
        decode(q, crop=(0, 0, 10, 1))
    capsys.readouterr()
    assert main(["decode", str(q), "-o", str(tones / "x.png")]) == 1  # a 1-D signal is an array, not an image
    assert "must end in .npy" in capsys.readouterr().err and not (tones / "x.png").exists()


def test_one_dimensional_decodes_on_a_backend_with_budget_and_record(tones, tmp_path, capsys):
    q = tones / "small.qinr"
    encode(str(tones / "tones.npy"), q, model=ModelConfig(n_qubits=3, embed_dim=5), train=TrainConfig(steps=5))
    sig, report = decode_on_backend(str(q), "torch", shots=200, seed=1, crop=(10, 40), run_dir=tmp_path / "run")
    assert sig.shape == (40, 1) and report.circuits == 40
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["outputs"]["decoded"] == "decoded.npy" and manifest["crop"] == [10, 40]
    assert main(["replay", str(tmp_path / "run")]) == 0 and "identical" in capsys.readouterr().out
    assert main(["budget", str(q), "--backend", "braket.iqm_garnet", "--shots", "100", "--max-cost", "1", "--json"]) == 1
    est = json.loads(capsys.readouterr().out)
    assert est["circuits"] == 300 and not est["within_budget"] and "--crop 0," in est["fits"]
