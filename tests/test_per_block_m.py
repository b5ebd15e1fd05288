"""Blocks of different embedding sizes M (format version 5): the configuration, the model, the
bitstream, decodes on the circuit backends, the ``A+B`` syntax of the command line, search
results and rate-control tables."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image
from quinr_testutils import smooth_rgb

from quinr import bitstream, networks
from quinr.cli import main
from quinr.codec import decode, encode, write_model
from quinr.config import ModelConfig
from quinr.errors import ConfigError
from quinr.model import QuINR
from quinr.quant import quantize
from quinr.rate import load_table
from quinr.search import candidates
from quinr.signal import Signal, SignalKind
from quinr.train import TrainConfig


def test_each_block_has_its_own_m_and_circuit():
    cfg = ModelConfig(n_qubits=4, blocks=3, embed_dims=(9, 2, 5), out_features=3)
    assert [cfg.block_embed_dim(k) for k in range(3)] == [9, 2, 5] and cfg.embed_dim == 9
    assert [cfg.block_spec(k).embed_dim for k in range(3)] == [9, 2, 5]
    assert {cfg.block_spec(k).n_theta for k in range(3)} == {cfg.spec.n_theta}  # M never changes the angles
    shapes = dict(cfg.tensor_shapes())
    assert shapes["blocks.0.weight"] == (9, 2) and shapes["blocks.1.weight"] == (2, 4) and shapes["blocks.2.bias"] == (5,)
    assert cfg.n_params() == 9 * 3 + 2 * 5 + 5 * 5 + 3 * cfg.spec.n_theta + 6
    assert "M=9+2+5 folds=3+1+2 " in cfg.describe()
    assert ModelConfig(**cfg.to_dict()) == cfg
    net = QuINR(cfg)
    assert [b.spec.embed_dim for b in net.blocks] == [9, 2, 5]
    assert net(torch.rand(7, 2)).shape == (7, 3)


def test_equal_ms_are_the_plain_network():
    """Per-block Ms that agree are normalised away, so the file, the key and the record stay those
    of the plain network (and version 3 files stay version 3)."""
    cfg = ModelConfig(n_qubits=4, embed_dim=6, blocks=2, embed_dims=(6, 6))
    plain = ModelConfig(n_qubits=4, embed_dim=6, blocks=2)
    assert cfg == plain and cfg.embed_dims == () and "embed_dims" not in cfg.to_dict()
    assert dataclasses.replace(plain, blocks=3).blocks == 3


@pytest.mark.parametrize("kwargs, message", [
    ({"blocks": 2, "embed_dims": (4,)}, "one integer M per block"),
    ({"blocks": 2, "embed_dims": (4, 0)}, "embed_dim must be"),
    ({"blocks": 2, "embed_dims": (4, 5000)}, "embed_dim must be"),
    ({"blocks": 2, "embed_dims": (4, 2.5)}, "one integer M per block"),
    ({"blocks": 2, "embed_dims": 7}, "one M per block"),
])
def test_bad_per_block_ms_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ModelConfig(n_qubits=3, **kwargs)


def test_a_spec_that_disagrees_with_block_0_is_refused():
    spec = ModelConfig(n_qubits=3, embed_dim=4).spec
    with pytest.raises(ConfigError, match="spec's M is 4"):
        ModelConfig(spec=spec, blocks=2, embed_dims=(5, 2))


def _signal() -> Signal:
    return Signal(smooth_rgb(10, 12, seed=3), SignalKind.U8, 0, 255)


def test_a_file_of_per_block_ms_is_version_5_and_decodes_to_the_network():
    sig = _signal()
    cfg = ModelConfig(n_qubits=4, blocks=2, embed_dims=(11, 3), out_features=3)
    net = QuINR(cfg, seed=2)
    data = write_model(net, sig, 12)
    hdr = bitstream.read(data).header
    assert data[4] == 5 and hdr.version == 5 and hdr.model == cfg
    # the numpy reference decoder, written from the specification, decodes it to the same samples
    from quinr import reference

    assert np.abs(reference.decode(data).astype(int) - decode(data).data.astype(int)).max() <= 1
    # a plain network's file is unchanged: version 3
    assert write_model(QuINR(ModelConfig(n_qubits=4, embed_dim=11, blocks=2)), sig, 12)[4] == 3


def test_version_4_cannot_hold_per_block_ms():
    cfg = ModelConfig(n_qubits=3, blocks=2, embed_dims=(4, 2), out_features=1)
    hdr = bitstream.Header(SignalKind.U8, 3, 3, 1, 0.0, 255.0, cfg, 8)
    tensors = [quantize(np.zeros(s), 8) for _, s in cfg.tensor_shapes()]
    with pytest.raises(ConfigError, match="need version 5"):
        bitstream.write(hdr, tensors, version=4)
    assert bitstream.read(bitstream.write(hdr, tensors)).header.model.embed_dims == (4, 2)


@pytest.mark.parametrize("backend", ["aer", "braket"])
def test_circuit_backends_decode_a_version_5_file_as_the_simulator_does(backend, tmp_path, capsys):
    """Each block reaches the backend with its own circuit: an exact backend's decode is the
    simulator's (to the sample level: float32 against float64 rounding may differ by one)."""
    q = tmp_path / "x.qinr"
    q.write_bytes(write_model(QuINR(ModelConfig(n_qubits=3, blocks=2, embed_dims=(7, 2), out_features=3), seed=4),
                              _signal(), 12))
    assert main(["decode", str(q), "-o", str(tmp_path / "x.png"), "--backend", backend, "--quiet"]) == 0
    got = np.asarray(Image.open(tmp_path / "x.png")).astype(int)
    assert got.shape == (10, 12, 3) and np.abs(got - decode(q).data.astype(int)).max() <= 1


def test_network_items_with_per_block_ms():
    item = networks.parse_network("6:26+6:2")
    assert item == (6, (26, 6), 2) and networks.full(item) == (6, (26, 6), 2, 1, 2)
    assert networks.text(networks.full(item)) == "6:26+6:2:1:2"
    assert networks.keywords(item)["embed_dims"] == (26, 6) and networks.keywords(item)["blocks"] == 2
    assert networks.from_json(json.loads(json.dumps([6, [26, 6], 2, 1, 2]))) == (6, (26, 6), 2, 1, 2)
    assert networks.full((8, 24, 2)) == (8, 24, 2, 1, 1)
    for bad in ("6:26+x:2", "6:12", "6:12:2:1:2:9"):
        with pytest.raises(ValueError):
            networks.parse_network(bad)
    with pytest.raises(ValueError):
        networks.from_json([6, [26], 2, 1, 2])


def test_search_keys_and_tables_carry_per_block_ms(tmp_path):
    (cand,) = candidates(((3, (7, 2), 1),), steps=10)
    assert cand.network == (3, (7, 2), 1, 1, 2) and cand.key == "3:7+2:1:1:2@10"
    with pytest.raises(ConfigError):
        candidates(((3, (7, 2), 1, 1, 3),))  # three blocks, two Ms
    sig = _signal()
    assert cand.model(sig).embed_dims == (7, 2)
    table = {"format": "quinr-rate-table", "version": 1, "kind": "image",
             "presets": [{"network": [3, [7, 2], 1, 1, 2], "curve": [[1.0, 20.0], [1.5, 21.0]]}]}
    path = tmp_path / "t.json"
    path.write_text(json.dumps(table))
    (preset,) = load_table(path, sig)
    assert preset.network == (3, (7, 2), 1, 1, 2) and preset.model(sig).embed_dims == (7, 2)


def test_cli_embed_per_block(tmp_path, capsys):
    img = tmp_path / "img.png"
    Image.fromarray(smooth_rgb(8, 10, seed=1)).save(img)
    q = tmp_path / "x.qinr"
    assert main(["encode", str(img), "-o", str(q), "--qubits", "3", "--embed", "7+2", "--steps", "5", "--bits", "10",
                 "--json", "--quiet"]) == 0
    enc = json.loads(capsys.readouterr().out)
    assert enc["network"]["embed_dims"] == [7, 2] and enc["network"]["blocks"] == 2 and "M=7+2" in enc["circuit"]
    assert main(["info", str(q)]) == 0
    out = capsys.readouterr().out
    assert "M=7+2" in out and "format v5" in out
    assert main(["encode", str(img), "-o", str(tmp_path / "y.qinr"), "--qubits", "3", "--embed", "7+2",
                 "--blocks", "3", "--steps", "5"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "one integer M per block (3 blocks)" in err
    with pytest.raises(SystemExit):  # argparse's usage error
        main(["encode", str(img), "-o", str(tmp_path / "z.qinr"), "--embed", "7+x"])
    assert "one per block" in capsys.readouterr().err


def test_encode_trains_per_block_ms():
    res = encode(_signal(), model=ModelConfig(n_qubits=3, blocks=2, embed_dims=(6, 2), out_features=3),
                 train=TrainConfig(steps=15, batch_size=64), bits=10)
    assert res.model.embed_dims == (6, 2) and bitstream.read(res.data).header.version == 5
    assert np.isfinite(res.psnr) and res.train.losses[-1] < res.train.losses[0]
