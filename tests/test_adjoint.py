"""The hand-written adjoint backwards (the torch engine's and the fused kernels') against autograd
through the simulator's forward."""

import math

import pytest
import torch

from quinr.circuit import CircuitSpec
from quinr.sim import probabilities

CASES = [
    # (Nq, M, R, E, last, batch, chunk amplitudes, entangler)
    (2, 3, 1, 1, None, 5, 1 << 18, "all"),
    (3, 4, 2, 1, 1, 7, 1 << 18, "all"),
    (4, 8, 2, 1, 3, 9, 64, "all"),  # several chunks, the last one partial
    (4, 8, 1, 2, 5, 6, 1 << 18, "all"),  # more outputs than the rows form covers: the whole final stage
    (5, 7, 1, 2, None, 6, 1 << 18, "ring"),  # E = 2: a theta-only (shared) local stage in the middle
    (6, 12, 2, 1, 3, 33, 256, "linear"),
    (7, 9, 3, 1, 2, 10, 1 << 18, "all"),
    (8, 24, 2, 1, 3, 64, 1 << 12, "all"),
    (8, 24, 2, 1, None, 16, 1 << 18, "linear"),
    (9, 10, 1, 1, 3, 4, 1 << 18, "all"),
    (10, 20, 2, 1, 3, 4, 1 << 18, "all"),
    (4, 8, 2, 1, 3, 1, 1 << 18, "all"),  # a batch of one
    (5, 10, 2, 1, 3, 300, 1 << 18, "all"),  # two of the fused engine's tiles of 256, the last one padded
    (9, 9, 2, 2, None, 150, 1 << 18, "ring"),  # two tiles of 128 (the last padded), a shared stage in the middle
]


def _grads(spec, h, theta, last, chunk, backward, wants=("h", "theta")):
    h = h.clone().requires_grad_("h" in wants)
    theta = theta.clone().requires_grad_("theta" in wants)
    p = probabilities(spec, h, theta, last=last, chunk_amplitudes=chunk, backward=backward)
    g = torch.Generator().manual_seed(7)
    weights = (torch.rand(p.shape, generator=g, dtype=p.dtype) - 0.3).to(p.device)
    (p * weights).sum().backward()
    return p.detach(), h.grad, theta.grad


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"nq{c[0]}-r{c[2]}e{c[3]}-last{c[4]}-b{c[5]}-{c[7]}")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("engine", ["adjoint", "fused"])
def test_adjoint_gradients_match_autograd(case, dtype, engine):
    nq, m, r, e, last, batch, chunk, entangler = case
    spec = CircuitSpec(nq, m, r, e, shuffle_seed=nq, entangler=entangler)
    g = torch.Generator().manual_seed(nq * 100 + batch)
    h = (torch.rand(batch, m, generator=g, dtype=dtype) * 2 - 1) * 1.5
    theta = (torch.rand(spec.n_theta, generator=g, dtype=dtype) * 2 - 1) * math.pi
    ref = _grads(spec, h, theta, last, chunk, "autograd")
    got = _grads(spec, h, theta, last, chunk, engine)
    tol = 2e-5 if dtype == torch.float32 else 1e-12
    for a, b in zip(ref, got, strict=True):
        assert a.shape == b.shape
        scale = a.abs().max()
        assert scale > 1e-4  # the comparison is not between zeros
        assert (a - b).abs().max() <= tol * max(1.0, float(scale))


@pytest.mark.parametrize("wants", [("h",), ("theta",)])
@pytest.mark.parametrize("engine", ["adjoint", "fused"])
def test_adjoint_with_one_input_requiring_gradients(wants, engine):
    spec = CircuitSpec(6, 12, 2, 1)
    g = torch.Generator().manual_seed(3)
    h = torch.rand(20, 12, generator=g) * 2 - 1
    theta = torch.rand(spec.n_theta, generator=g) * 6
    ref = _grads(spec, h, theta, 3, 1 << 18, "autograd", wants)
    got = _grads(spec, h, theta, 3, 1 << 18, engine, wants)
    for a, b in zip(ref, got, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            assert torch.allclose(a, b, atol=2e-5)


def test_adjoint_result_is_the_forward_and_unknown_backward_is_refused():
    spec = CircuitSpec(5, 10, 2, 1)
    h = (torch.rand(8, 10) * 2 - 1).requires_grad_()
    theta = (torch.rand(spec.n_theta) * 6).requires_grad_()
    with torch.no_grad():
        plain = probabilities(spec, h, theta, last=2)
    assert torch.allclose(probabilities(spec, h, theta, last=2), plain, atol=1e-7)
    with pytest.raises(ValueError, match="backward must be"):
        probabilities(spec, h, theta, backward="finite-differences")


def test_training_step_through_the_model_uses_the_adjoint_and_learns():
    """A few optimizer steps through QINR (default path) lower the loss as autograd's do."""
    from quinr.model import ModelConfig, QuINR

    torch.manual_seed(0)
    x = torch.rand(64, 2) * 2 - 1
    y = torch.rand(64, 3)
    losses = {}
    for backward in ("adjoint", "fused", "autograd"):
        torch.manual_seed(1)
        model = QuINR(ModelConfig(n_qubits=4, embed_dim=8, out_features=3), seed=1)

        def evaluator(spec, h, theta, last, backward=backward):
            return probabilities(spec, h, theta, last=last, backward=backward)

        opt = torch.optim.Adam(model.parameters(), lr=0.02)
        trace = []
        for _ in range(15):
            opt.zero_grad()
            loss = (model(x, evaluator) - y).square().mean()
            loss.backward()
            opt.step()
            trace.append(loss.item())
        losses[backward] = trace
    assert losses["adjoint"][-1] < losses["adjoint"][0]
    for engine in ("adjoint", "fused"):
        assert max(abs(a - b) for a, b in zip(losses[engine], losses["autograd"], strict=True)) < 1e-4


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_adjoint_on_cuda_matches_autograd_on_cpu():
    spec = CircuitSpec(8, 24, 2, 1)
    g = torch.Generator().manual_seed(11)
    h = torch.rand(300, 24, generator=g) * 2 - 1
    theta = torch.rand(spec.n_theta, generator=g) * 6
    ref = _grads(spec, h, theta, 3, 1 << 14, "autograd")
    got = _grads(spec, h.cuda(), theta.cuda(), 3, 1 << 14, "adjoint")
    for a, b in zip(ref, got, strict=True):
        assert (a - b.cpu()).abs().max() <= 2e-5 * max(1.0, float(a.abs().max()))
