"""The readout and the link between blocks, as model options stored in the file: ``readout="z"``
(output map 2: <Z> of the first N_out qubits) and ``link`` ``"residual"`` / ``"probs"`` (format
version 6): the configuration, the network's arithmetic, the bitstream, the reference decoder,
decodes on circuit backends, the shot-noise prediction, the command line and the rd sweep."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from quinr_testutils import smooth_rgb

from quinr import bitstream, reference
from quinr.cli import main
from quinr.codec import decode, encode, write_model
from quinr.config import LINKS, READOUTS, ModelConfig
from quinr.errors import ConfigError
from quinr.model import QuINR
from quinr.quant import quantize
from quinr.signal import Signal, SignalKind
from quinr.sim import probabilities
from quinr.train import TrainConfig


def _signal() -> Signal:
    return Signal(smooth_rgb(8, 9, seed=5), SignalKind.U8, 0, 255)


def _z(p: torch.Tensor, n: int) -> torch.Tensor:
    """Per-qubit <Z> of distributions (B, 2^n), wire 0 the most significant bit, computed apart."""
    out = torch.zeros(p.shape[0], n, dtype=p.dtype)
    for i in range(2**n):
        for q in range(n):
            out[:, q] += p[:, i] * (1 - 2 * ((i >> (n - 1 - q)) & 1))
    return out


def _by_hand(net: QuINR, x: torch.Tensor) -> torch.Tensor:
    """The network's output computed from the blocks' circuits and docs/bitstream.md section 6.2."""
    cfg, n = net.cfg, net.cfg.n_qubits
    feats, prev = x, None
    for k, block in enumerate(net.blocks):
        p = probabilities(block.spec, block.embed(feats), block.theta)
        z = _z(p, n)
        if k == len(net.blocks) - 1:
            v = z[:, : cfg.out_features] if cfg.readout == "z" else p[:, -cfg.out_features :]
            u = net.scale * v + net.offset
            return torch.where(u > 0, u, -1.99 * u)
        feats = {"z": z, "residual": z if prev is None else z + prev, "probs": 2**n * p - 1}[cfg.link]
        prev = z
    raise AssertionError


@pytest.mark.parametrize("readout", READOUTS)
@pytest.mark.parametrize("link", LINKS)
def test_the_network_computes_what_the_specification_says(readout, link):
    cfg = ModelConfig(n_qubits=3, embed_dim=4, blocks=3, out_features=2, readout=readout, link=link)
    net = QuINR(cfg, seed=1)
    with torch.no_grad():
        net.scale.copy_(torch.tensor([0.9, -1.3]))
        net.offset.copy_(torch.tensor([0.2, 0.4]))
    x = torch.rand(11, 2) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(net(x), _by_hand(net, x), atol=1e-5)
    net(x).sum().backward()  # every stored tensor gets a gradient through the option
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for _, t in net.named_tensors())


def test_options_change_the_output_and_the_block_inputs():
    base = dict(n_qubits=3, embed_dim=4, blocks=3, out_features=2)
    x = torch.rand(9, 2) * 2 - 1
    outs = {}
    for readout in READOUTS:
        for link in LINKS:
            torch.manual_seed(0)
            net = QuINR(ModelConfig(**base, readout=readout, link=link), seed=2)
            with torch.no_grad():  # the same tensors where the shapes agree, so only the option differs
                net.scale.fill_(1.0)
                net.offset.fill_(0.3)
            outs[readout, link] = net.predict(x)
    assert len({tuple(v.flatten().tolist()) for v in outs.values()}) == len(outs)
    probs = ModelConfig(**base, link="probs")
    assert dict(probs.tensor_shapes())["blocks.1.weight"] == (4, 8) and probs.block_in_features(2) == 8
    assert dict(ModelConfig(**base, link="residual").tensor_shapes())["blocks.1.weight"] == (4, 3)


def test_a_z_readout_starts_mid_grey_and_describes_itself():
    cfg = ModelConfig(n_qubits=3, embed_dim=4, out_features=3, readout="z", link="residual", blocks=3)
    net = QuINR(cfg)
    assert torch.equal(net.scale.detach(), torch.full((3,), 0.5)) and torch.equal(net.offset.detach(), net.scale.detach())
    assert cfg.describe().endswith(" readout=z link=residual")
    assert ModelConfig(**cfg.to_dict()) == cfg
    assert "readout" not in ModelConfig().to_dict() and "link" not in ModelConfig().to_dict()


@pytest.mark.parametrize("kwargs, message", [
    ({"readout": "marginal"}, "readout must be one of probs, z"),
    ({"link": "dense"}, "link must be one of z, residual, probs"),
    ({"link": 1}, "link must be one of"),
    ({"readout": "z", "out_features": 3, "n_qubits": 2}, "3 channels need at least 3 qubits"),
])
def test_unknown_options_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ModelConfig(**{"n_qubits": 3, **kwargs})


@pytest.mark.parametrize("readout, link, version", [
    ("z", "z", 3), ("probs", "residual", 6), ("z", "probs", 6), ("probs", "z", 3)])
def test_files_carry_the_options_and_the_reference_decoder_agrees(readout, link, version):
    cfg = ModelConfig(n_qubits=3, embed_dim=5, blocks=3, out_features=3, readout=readout, link=link)
    data = write_model(QuINR(cfg, seed=3), _signal(), 12)
    hdr = bitstream.read(data).header
    assert data[4] == version == hdr.version and hdr.model == cfg
    assert data[39] == 1 + READOUTS.index(readout)  # the output map
    got = decode(data).data.astype(int)
    assert np.abs(reference.decode(data).astype(int) - got).max() <= 1


def test_versions_before_6_cannot_hold_a_link():
    cfg = ModelConfig(n_qubits=3, blocks=3, embed_dim=4, out_features=1, link="residual")
    hdr = bitstream.Header(SignalKind.U8, 3, 3, 1, 0.0, 255.0, cfg, 8)
    tensors = [quantize(np.zeros(s), 8) for _, s in cfg.tensor_shapes()]
    with pytest.raises(ConfigError, match="link residual needs version 6"):
        bitstream.write(hdr, tensors, version=5)
    assert bitstream.read(bitstream.write(hdr, tensors)).header.model.link == "residual"


@pytest.mark.parametrize("backend", ["aer", "braket"])
def test_circuit_backends_decode_the_options_as_the_simulator_does(backend, tmp_path):
    """Every block's whole distribution reaches the network on a backend as in the simulator, so an
    exact backend's decode is the simulator's (to the sample level)."""
    q = tmp_path / "x.qinr"
    cfg = ModelConfig(n_qubits=3, embed_dim=5, blocks=3, out_features=3, readout="z", link="residual")
    q.write_bytes(write_model(QuINR(cfg, seed=4), _signal(), 12))
    assert main(["decode", str(q), "-o", str(tmp_path / "x.png"), "--backend", backend, "--quiet"]) == 0
    got = np.asarray(Image.open(tmp_path / "x.png")).astype(int)
    assert got.shape == (8, 9, 3) and np.abs(got - decode(q).data.astype(int)).max() <= 1


def test_the_shot_noise_prediction_of_a_z_readout_matches_sampled_decodes():
    """One block read out by <Z>: the budget's expected PSNR under shots (each channel's qubit
    frequency is binomial) agrees with seeded shot decodes, both against the exact decode."""
    import quinr
    from quinr.codec import read_bitstream
    from quinr.quality import exact_outputs, expected_mse, psnr_from_mse

    net = QuINR(ModelConfig(n_qubits=3, embed_dim=5, out_features=3, readout="z"), seed=6)
    data = write_model(net, _signal(), 12)
    out = exact_outputs(read_bitstream(data))
    exact = decode(data).data.astype(np.float64)
    assert np.array_equal(out.exact_values(), exact.ravel())
    for shots in (32, 1024):
        predicted = psnr_from_mse(expected_mse(out, shots), 255.0)
        mse = np.mean([np.mean((quinr.decode_on_backend(data, "torch", shots=shots, seed=s)[0].data - exact) ** 2)
                       for s in range(8)])
        assert abs(predicted - psnr_from_mse(float(mse), 255.0)) < 0.5, (shots, predicted)
    assert out.readout == "z"


def test_cli_encode_with_options_and_info(tmp_path, capsys):
    img = tmp_path / "img.png"
    Image.fromarray(smooth_rgb(8, 10, seed=1)).save(img)
    q = tmp_path / "x.qinr"
    assert main(["encode", str(img), "-o", str(q), "--qubits", "3", "--embed", "5", "--blocks", "3", "--readout", "z",
                 "--link", "residual", "--steps", "5", "--bits", "10", "--json", "--quiet"]) == 0
    enc = json.loads(capsys.readouterr().out)
    assert enc["network"]["readout"] == "z" and enc["network"]["link"] == "residual"
    assert main(["info", str(q)]) == 0
    out = capsys.readouterr().out
    assert "readout=z link=residual" in out and "format v6" in out
    with pytest.raises(SystemExit):  # argparse's usage error names the choices
        main(["encode", str(img), "-o", str(tmp_path / "z.qinr"), "--link", "dense"])
    assert "residual" in capsys.readouterr().err


def test_encode_trains_each_option():
    for readout, link in (("z", "z"), ("probs", "probs")):
        res = encode(_signal(), model=ModelConfig(n_qubits=3, embed_dim=5, blocks=2, readout=readout, link=link),
                     train=TrainConfig(steps=25, batch_size=72), bits=10)
        assert (res.model.readout, res.model.link) == (readout, link)
        assert np.isfinite(res.psnr) and res.train.losses[-1] < res.train.losses[0]


def test_rd_sweeps_carry_the_options_to_quinr_and_size_the_control_by_them(tmp_path):
    from quinr.rd import RDConfig, load_input, plan

    Image.fromarray(smooth_rgb(8, 9, seed=5)).save(tmp_path / "img.png")
    inp = load_input(tmp_path / "img.png")
    grid = ((3, 5, 1, 1, 2),)
    tasks = {t.codec: t.params for t in plan(inp, RDConfig(("quinr", "siren"), quinr_grid=grid, quinr_link="probs",
                                                           quinr_readout="z"))}
    assert tasks["quinr"]["link"] == "probs" and tasks["quinr"]["readout"] == "z"
    plain = {t.codec: t.params for t in plan(inp, RDConfig(("quinr", "siren"), quinr_grid=grid))}
    assert "link" not in plain["quinr"] and "readout" not in plain["quinr"]  # old sweeps' keys stay valid
    assert tasks["siren"]["width"] > plain["siren"]["width"]  # the wider input layer: a wider control


def test_search_tries_the_options_and_its_table_carries_them(tmp_path):
    """Each network is a candidate per readout and, with several blocks, per link; the options are
    in the key (the paper's network's key unchanged), the row and the rate-control table, whose
    presets rebuild the very network."""
    from quinr.rate import encode_to, load_table
    from quinr.search import candidates, search, write_table

    cands = candidates(((3, 3, 1), (3, 3, 1, 1, 2), (3, 3, 1, 1, 3)), steps=15, readouts=("probs", "z"),
                       links=("z", "residual"))
    keys = [c.key for c in cands]  # a residual link of one or two blocks is the paper's network: not twice
    assert keys == ["3:3:1:1:1@15", "3:3:1:1:1@15/readout=z", "3:3:1:1:2@15", "3:3:1:1:2@15/readout=z",
                    "3:3:1:1:3@15", "3:3:1:1:3@15/link=residual", "3:3:1:1:3@15/readout=z",
                    "3:3:1:1:3@15/readout=z/link=residual"]
    with pytest.raises(ConfigError, match="link must be one of"):
        candidates(((2, 3, 1, 1, 2),), links=("dense",))
    sig = Signal(smooth_rgb(6, 8, seed=2), SignalKind.U8, 0, 255)
    chosen = [c for c in cands if c.key.endswith("readout=z/link=residual")]
    res = search(sig, chosen, 600, ladder=(1.2,))
    (row,) = res.rows
    assert row["readout"] == "z" and row["link"] == "residual"
    path = tmp_path / "t.json"
    table = write_table(res, sig, path)
    assert table["presets"][0]["readout"] == "z" and table["presets"][0]["link"] == "residual"
    assert table["version"] == 2  # a reader of version 1 would build the paper's network instead
    (preset,) = load_table(path, sig)
    assert (preset.model(sig).readout, preset.model(sig).link) == ("z", "residual")
    assert preset.describe().endswith("readout z, link residual")
    r = encode_to(sig, max_bytes=10_000, presets=(preset,), train=TrainConfig(steps=5))
    assert bitstream.read(r.result.data).header.model.link == "residual"
    path.write_text(json.dumps({**table, "presets": [{**table["presets"][0], "link": "dense"}]}))
    with pytest.raises(ConfigError, match="a readout and link quinr knows"):
        load_table(path)


def test_cli_search_options(tmp_path, capsys):
    img = tmp_path / "img.png"
    Image.fromarray(smooth_rgb(6, 8, seed=1)).save(img)
    assert main(["search", str(img), "--minutes", "5", "--networks", "3:3:1:1:2", "--steps", "10", "--ladder", "0.9",
                 "--readout", "z", "--link", "z,probs", "--out", str(tmp_path / "r.jsonl"), "--json", "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {n["candidate"] for n in report["networks"]} == {"3:3:1:1:2@10/readout=z",
                                                            "3:3:1:1:2@10/readout=z/link=probs"}
    with pytest.raises(SystemExit):
        main(["search", str(img), "--link", "z,dense"])
    assert "give one or more of z, residual, probs" in capsys.readouterr().err


def test_a_z_readout_is_predicted_under_a_noise_model(tmp_path, capsys):
    """The noisy prediction's evaluator answers in float32 while the decoder computes in float64:
    the <Z> readout's marginal must take either (it once raised a dtype error here)."""
    q = tmp_path / "z.qinr"
    q.write_bytes(write_model(QuINR(ModelConfig(n_qubits=3, embed_dim=5, out_features=3, readout="z"), seed=2),
                              _signal(), 12))
    assert main(["budget", str(q), "--backend", "aer", "-O", "method=density_matrix", "-O",
                 "noise=depolarizing=0.01,readout=0.02", "--shots", "1000", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    noisy, shots_only = report["predicted_psnr_vs_exact"], report["predicted_psnr_shots_only"]
    assert np.isfinite(noisy) and noisy < shots_only


def test_a_link_that_changes_nothing_is_the_papers_network():
    """Any link of one block, and a residual one of two, compute what link "z" does: stored as
    "z", so the file stays a version 3 one that older decoders read."""
    for blocks, link in ((1, "residual"), (1, "probs"), (2, "residual")):
        cfg = ModelConfig(n_qubits=3, embed_dim=4, blocks=blocks, out_features=1, link=link)
        assert cfg.link == "z" and cfg == ModelConfig(n_qubits=3, embed_dim=4, blocks=blocks, out_features=1)
        assert write_model(QuINR(cfg), Signal(np.zeros((4, 4, 1), np.uint8), SignalKind.U8, 0, 255), 8)[4] == 3
    assert ModelConfig(n_qubits=3, blocks=2, link="probs").link == "probs"


def test_a_rate_target_applies_the_options_to_the_tables_network(tmp_path, capsys):
    img = tmp_path / "grey.png"
    Image.fromarray(smooth_rgb(8, 10, seed=1)[..., 0]).save(img)
    q = tmp_path / "x.qinr"
    assert main(["encode", str(img), "-o", str(q), "--max-bytes", "300", "--readout", "z", "--link", "residual",
                 "--steps", "5", "--json", "--quiet"]) == 0
    enc = json.loads(capsys.readouterr().out)
    assert "rate-control table" in enc["rate_control"]["network"] and "readout z" in enc["rate_control"]["network"]
    assert bitstream.read(q.read_bytes()).header.model.readout == "z"
    # a grey signal needs one qubit for a <Z> readout: two qubits are enough
    assert main(["encode", str(img), "-o", str(tmp_path / "y.qinr"), "--qubits", "2", "--embed", "3", "--readout",
                 "z", "--steps", "5", "--quiet"]) == 0
