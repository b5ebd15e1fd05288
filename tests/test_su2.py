"""The fused gate runs and the adjoint's partial traces against plain definitions."""

import itertools
import random

import torch

from quinr.circuit import CircuitSpec
from quinr.sim.adjoint import _traces
from quinr.sim.su2 import common_sequence


def _is_subsequence(short: list[str], long: list[str]) -> bool:
    it = iter(long)
    return all(any(x == y for y in it) for x in short)


def test_common_sequence_holds_every_stage_in_order():
    rng = random.Random(3)
    for _ in range(200):
        seqs = [[rng.choice("XZ") for _ in range(rng.randint(1, 7))] for _ in range(rng.randint(1, 4))]
        out = common_sequence(seqs)
        assert all(_is_subsequence(s, out) for s in seqs)
        assert len(out) <= sum(len(s) for s in seqs)
    # the paper's stages at M = 24, Nq = 8: no padding beyond one extra gate
    assert common_sequence([list("XZXZX"), list("XXZXZX"), list("X")]) == list("XXZXZX")


def test_partial_traces_match_the_definition():
    g = torch.Generator().manual_seed(0)
    for k in (1, 2, 3):
        d = 1 << k
        c = torch.complex(torch.randn(5, d, d, generator=g), torch.randn(5, d, d, generator=g))
        got = _traces(c, k)
        t = c.reshape(5, *([2] * k), *([2] * k))
        for q in range(k):
            want = torch.zeros(5, 2, 2, dtype=c.dtype)
            for a, b in itertools.product((0, 1), repeat=2):
                for rest in itertools.product((0, 1), repeat=k - 1):
                    i = list(rest[:q]) + [a] + list(rest[q:])
                    j = list(rest[:q]) + [b] + list(rest[q:])
                    want[:, a, b] += t[(slice(None), *i, *j)]
            assert torch.allclose(got[:, q], want, atol=1e-5)


def test_fused_runs_match_the_gates_applied_one_by_one():
    """The fused matrices reproduce a stage applied gate by gate as 2x2 products."""
    from quinr.sim.statevector import _constants, _stage_params

    spec = CircuitSpec(6, 14, 2, 2)
    g = torch.Generator().manual_seed(1)
    h, theta = torch.rand(4, 14, generator=g), torch.rand(spec.n_theta, generator=g) * 6
    stages = _stage_params(spec, h, theta)
    const = _constants(spec, h.device, h.dtype)

    def gate(name, t):
        c, s = torch.cos(t / 2), torch.sin(t / 2)
        if name == "RX":
            return torch.stack((torch.stack((c + 0j, -1j * s), -1), torch.stack((-1j * s, c + 0j), -1)), -2)
        return torch.stack((torch.stack((torch.exp(-0.5j * t), 0 * c + 0j), -1),
                            torch.stack((0 * c + 0j, torch.exp(0.5j * t)), -1)), -2)

    checked = 0
    for (kind, u, _), stage in zip(stages, const.stages, strict=True):
        if kind == "diag":
            continue
        want = torch.eye(2, dtype=torch.complex64).expand(4, spec.n_qubits, 2, 2)
        for row in stage.rows:
            angle = h[:, row.index] * spec.angle_scale if row.source == "h" else theta[row.index].expand(4, -1)
            if row.mask is not None:
                angle = angle * row.mask
            want = gate(row.name, angle).to(torch.complex64) @ want
        if kind == "product":
            want = want[..., 0]
        assert torch.allclose(u.expand_as(want), want, atol=1e-5)
        checked += 1
    assert checked == 2 * 2 + 1


def test_a_large_batch_without_gradients_is_composed_in_chunks_with_the_same_result():
    from quinr.sim import probabilities
    from quinr.sim.su2 import CHUNK

    spec = CircuitSpec(4, 8, 2, 1)
    g = torch.Generator().manual_seed(2)
    h = torch.rand(2 * CHUNK + 5, 8, generator=g) * 2 - 1
    theta = torch.rand(spec.n_theta, generator=g) * 6
    with torch.no_grad():
        chunked = probabilities(spec, h, theta, last=3)
    whole = probabilities(spec, h, theta.requires_grad_(), last=3)  # gradients wanted: one piece
    assert torch.allclose(chunked, whole.detach(), atol=1e-6)
