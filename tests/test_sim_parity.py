"""The torch simulator against PennyLane default.qubit: probabilities and gradients."""

import math

import pennylane as qml
import pytest
import torch

from quinr.backends.pennylane import emit
from quinr.circuit import CircuitSpec, lower
from quinr.sim import amplitudes, probabilities, sample_probabilities


def _reference(spec: CircuitSpec, h: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    dev = qml.device("default.qubit", wires=spec.n_qubits)

    ops = lower(spec)  # the one lowering every executor runs

    @qml.qnode(dev, interface="torch", diff_method="backprop")
    def circuit(h, theta):
        emit(ops, h, theta)
        return qml.probs(wires=range(spec.n_qubits))

    return circuit(h, theta)


def _random(spec: CircuitSpec, batch: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    h = torch.rand(batch, spec.embed_dim, generator=g, dtype=torch.float64) * 2 - 1
    theta = (torch.rand(spec.n_theta, generator=g, dtype=torch.float64) * 2 - 1) * 2 * math.pi
    return h, theta


@pytest.mark.parametrize(
    "nq, m, r, e, scale",
    [(2, 3, 2, 1, 1.0), (3, 7, 2, 2, 1.0), (4, 12, 3, 1, math.pi), (5, 13, 2, 1, 1.0),
     (6, 18, 2, 2, 1.0), (7, 20, 3, 1, 2.0), (8, 24, 2, 1, 1.0), (9, 27, 2, 1, 1.0), (10, 25, 2, 1, 1.0)],
)
def test_probabilities_match_default_qubit(nq, m, r, e, scale):
    spec = CircuitSpec(nq, m, r, e, shuffle_seed=nq, angle_scale=scale)
    h, theta = _random(spec, batch=4, seed=nq)
    ref = _reference(spec, h, theta)
    ours = probabilities(spec, h.float(), theta.float())
    assert ours.shape == (4, 2**nq)
    assert torch.max(torch.abs(ours.double() - ref)) < 1e-5
    last = probabilities(spec, h.float(), theta.float(), last=3)
    assert torch.max(torch.abs(last.double() - ref[:, -3:])) < 1e-5


@pytest.mark.parametrize("backward", ["fused", "adjoint", "autograd"])
def test_one_qubit_matches_default_qubit(backward):
    """Nq = 1: one half of the index is empty (the torch engine once failed on its empty
    Kronecker product)."""
    spec = CircuitSpec(1, 3, 2, 2, shuffle_seed=1)
    h, theta = _random(spec, batch=5, seed=1)
    ref = _reference(spec, h, theta)
    ours = probabilities(spec, h, theta, backward=backward)
    assert torch.max(torch.abs(ours - ref)) < 1e-12
    assert torch.max(torch.abs(probabilities(spec, h, theta, last=1, backward=backward) - ref[:, -1:])) < 1e-12


@pytest.mark.parametrize("nq, m", [(2, 5), (4, 12), (6, 14), (8, 24)])
def test_gradients_match_default_qubit(nq, m):
    spec = CircuitSpec(nq, m, 2, 2, shuffle_seed=3)
    h, theta = _random(spec, batch=3, seed=10 + nq)
    w = torch.rand(3, 2**nq, generator=torch.Generator().manual_seed(1), dtype=torch.float64)

    h1, t1 = h.clone().float().requires_grad_(), theta.clone().float().requires_grad_()
    (probabilities(spec, h1, t1) * w.float()).sum().backward()
    h2, t2 = h.clone().requires_grad_(), theta.clone().requires_grad_()
    (_reference(spec, h2, t2) * w).sum().backward()

    assert torch.max(torch.abs(h1.grad.double() - h2.grad)) < 1e-5
    assert torch.max(torch.abs(t1.grad.double() - t2.grad)) < 1e-5
    assert t2.grad.abs().max() > 1e-3  # the comparison is not between zeros

    # the cheap "last k" path has the same gradients as slicing the full vector
    h3, t3 = h.clone().float().requires_grad_(), theta.clone().float().requires_grad_()
    probabilities(spec, h3, t3, last=2).sum().backward()
    h4, t4 = h.clone().float().requires_grad_(), theta.clone().float().requires_grad_()
    probabilities(spec, h4, t4)[:, -2:].sum().backward()
    assert torch.allclose(t3.grad, t4.grad, atol=1e-5)
    assert torch.allclose(h3.grad, h4.grad, atol=1e-5)


def test_chunking_does_not_change_results():
    spec = CircuitSpec(5, 11, 2, 1)
    h, theta = _random(spec, batch=37, seed=2)
    a = probabilities(spec, h.float(), theta.float(), chunk_amplitudes=1 << 20)
    b = probabilities(spec, h.float(), theta.float(), chunk_amplitudes=64)  # 2 samples per chunk
    assert torch.allclose(a, b, atol=1e-7)


def test_states_are_normalised_and_batch_of_one_works():
    spec = CircuitSpec(6, 9, 3, 1)
    h, theta = _random(spec, batch=1, seed=4)
    amp = amplitudes(spec, h.float(), theta.float())
    assert amp.shape == (1, 64) and amp.dtype == torch.complex64
    assert abs(float(amp.abs().square().sum()) - 1.0) < 1e-5
    assert probabilities(spec, h[:0].float(), theta.float()).shape == (0, 64)


def test_input_shapes_are_checked():
    spec = CircuitSpec(3, 4)
    with pytest.raises(ValueError, match="h must have shape"):
        probabilities(spec, torch.zeros(2, 5), torch.zeros(spec.n_theta))
    with pytest.raises(ValueError, match="theta must have shape"):
        probabilities(spec, torch.zeros(2, 4), torch.zeros(3))


def test_shot_sampling_is_unbiased_seeded_and_within_five_sigma():
    p = torch.tensor([[0.5, 0.25, 0.125, 0.125], [0.0, 1.0, 0.0, 0.0]])
    shots = 20000
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    f1 = sample_probabilities(p, shots, g1)
    f2 = sample_probabilities(p, shots, g2)
    assert torch.equal(f1, f2)
    assert torch.allclose(f1.sum(1), torch.ones(2))
    sigma = torch.sqrt(p * (1 - p) / shots)
    assert torch.all(torch.abs(f1 - p) <= 5 * sigma + 1e-9)
    assert torch.equal(f1[1], torch.tensor([0.0, 1.0, 0.0, 0.0]))
    with pytest.raises(ValueError):
        sample_probabilities(p, 0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_matches_cpu():
    spec = CircuitSpec(8, 24, 2, 1)
    h, theta = _random(spec, batch=64, seed=5)
    cpu = probabilities(spec, h.float(), theta.float())
    gpu = probabilities(spec, h.float().cuda(), theta.float().cuda()).cpu()
    assert torch.max(torch.abs(cpu - gpu)) < 1e-5
