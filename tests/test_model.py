import math

import pytest
import torch

from quinr.errors import ConfigError
from quinr.model import ModelConfig, QuINR, qrelu


def test_qrelu_reflects_negative_inputs():
    x = torch.tensor([-1.0, -0.1, 0.0, 0.3, 2.0])
    assert torch.allclose(qrelu(x), torch.tensor([1.99, 0.199, 0.0, 0.3, 2.0]))


@pytest.mark.parametrize(
    "m, nq, r, e, out, expected",
    # (references: params = 3M + L*(4Nq + Nq(Nq-1)/2) + 2*N_out, L = R*E)
    [(12, 4, 2, 1, 3, 86), (12, 4, 2, 1, 1, 82), (24, 8, 4, 2, 3, 558), (48, 8, 8, 2, 1, 1106)],
)
def test_parameter_count_matches_the_paper_formula(m, nq, r, e, out, expected):
    cfg = ModelConfig(out_features=out, n_qubits=nq, embed_dim=m, reuploads=r, layers=e)
    assert cfg.n_params() == expected
    assert sum(p.numel() for p in QuINR(cfg).parameters()) == expected


@pytest.mark.parametrize("gain_init, scale", [("offset", 3.0), ("gain", 16.0)])
def test_forward_shape_range_and_a_uniform_state_maps_to_mid_grey(gain_init, scale):
    cfg = ModelConfig(out_features=3, n_qubits=5, embed_dim=10)
    net = QuINR(cfg, seed=1, gain_init=gain_init)
    x = torch.rand(50, 2) * 2 - 1
    y = net(x)
    assert y.shape == (50, 3)
    assert torch.all(y >= 0)
    assert torch.allclose(net.scale, torch.full((3,), scale))
    uniform = torch.full((3,), 2.0**-5)
    assert torch.allclose(net.scale * uniform + net.offset, torch.full((3,), 0.5))


def test_seeded_initialisation_is_reproducible():
    cfg = ModelConfig(n_qubits=4, embed_dim=8)
    a, b, c = QuINR(cfg, seed=3), QuINR(cfg, seed=3), QuINR(cfg, seed=4)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a.blocks[0].theta, c.blocks[0].theta)


def test_canonicalize_wraps_angles_without_changing_outputs():
    cfg = ModelConfig(out_features=2, n_qubits=4, embed_dim=8, reuploads=2, layers=1)
    net = QuINR(cfg, seed=2)
    x = torch.rand(64, 2) * 2 - 1
    with torch.no_grad():
        net.blocks[0].theta.add_(torch.randint(-3, 4, net.blocks[0].theta.shape) * 4 * math.pi)
        net.blocks[0].bias.add_(6 * math.pi)
    before = net(x)
    net.canonicalize_()
    after = net(x)
    assert torch.allclose(before, after, atol=2e-4)
    theta = net.blocks[0].theta
    assert theta.abs().max() <= 2 * math.pi + 1e-6
    assert net.blocks[0].bias.abs().max() <= math.pi + 1e-6
    # CRZ angles keep a 4*pi period: wrapping them by 2*pi would change the output
    crz = net.blocks[0].spec.layer_offsets(0)["crz"]
    with torch.no_grad():
        theta[crz.start] += 2 * math.pi
    assert not torch.allclose(before, net(x), atol=1e-3)


def test_stacked_blocks_run_and_train_end_to_end():
    cfg = ModelConfig(out_features=1, n_qubits=3, embed_dim=6, blocks=2)
    net = QuINR(cfg)
    assert [name for name, _ in cfg.tensor_shapes()][:4] == [
        "blocks.0.weight", "blocks.0.bias", "blocks.0.theta", "blocks.1.weight"
    ]
    assert net.blocks[1].weight.shape == (6, 3)  # block 1 embeds the 3 qubits' <Z>
    y = net(torch.rand(5, 2))
    y.sum().backward()
    assert net.blocks[0].theta.grad is not None and net.blocks[0].theta.grad.abs().sum() > 0


def test_predict_chunks_equal_one_pass():
    cfg = ModelConfig(out_features=3, n_qubits=4, embed_dim=8)
    net = QuINR(cfg)
    x = torch.rand(103, 2)
    assert torch.allclose(net.predict(x, chunk=10), net.predict(x), atol=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [{"out_features": 5, "n_qubits": 2}, {"out_features": 0}, {"blocks": 0}, {"w0": -1.0}, {"in_features": 9}],
)
def test_invalid_model_configs(kwargs):
    with pytest.raises(ConfigError):
        ModelConfig(**kwargs)


def test_invalid_init_options():
    with pytest.raises(ConfigError):
        QuINR(ModelConfig(), gain_init="bright")
    with pytest.raises(ConfigError):
        QuINR(ModelConfig(), init_freq=0.0)


def test_init_freq_per_axis():
    """One first-layer bound per coordinate axis bounds each axis's column on its own; equal
    bounds give the single bound's weights exactly; bad bounds are refused in one line."""
    cfg = ModelConfig(in_features=2, out_features=1, n_qubits=4, embed_dim=256)
    w = QuINR(cfg, seed=3, init_freq=(3.0, 12.0)).blocks[0].weight.detach() * cfg.w0
    assert w[:, 0].abs().max() <= 3.0 and w[:, 1].abs().max() <= 12.0
    assert w[:, 0].abs().max() > 2.5 and w[:, 1].abs().max() > 10.0  # 256 draws fill the range
    same = QuINR(cfg, seed=3, init_freq=(3.0, 3.0)).blocks[0].weight
    assert torch.equal(same, QuINR(cfg, seed=3, init_freq=3.0).blocks[0].weight)
    for bad in ((3.0,), (3.0, 12.0, 1.0), 0.0, (3.0, math.inf), (True, 3.0)):
        with pytest.raises(ConfigError, match="init_freq"):
            QuINR(cfg, init_freq=bad)


@pytest.mark.parametrize("cfg", [ModelConfig(n_qubits=4, embed_dim=6), ModelConfig(n_qubits=6, embed_dims=(26, 6), blocks=2)])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_weights_at_the_readers_bound_decode_to_finite_values(cfg, sign):
    """Why a billed decode too large for its exact reference needs no finite check before it
    pays: the reader refuses any weight beyond MAX_WEIGHT, and at that bound the decoder's
    float64 network still gives finite values everywhere."""
    from quinr.bitstream import MAX_WEIGHT
    from quinr.codec import DECODE_DTYPE

    net = QuINR(cfg).to(DECODE_DTYPE)
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(sign * MAX_WEIGHT)
    x = torch.rand(256, 2, dtype=DECODE_DTYPE, generator=torch.Generator().manual_seed(0)) * 2 - 1
    y = net.predict(x)
    assert torch.isfinite(y).all() and y.abs().max() > 1e6  # the bound is reached, and stays finite
