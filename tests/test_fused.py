"""The fused CPU engine (quinr.sim.fused): its forward against the torch engine's, and how an
engine is picked. Its gradients are checked against autograd in tests/test_adjoint.py."""

import math

import pytest
import torch

from quinr.circuit import CircuitSpec
from quinr.sim import engine as engine_mod
from quinr.sim import probabilities
from quinr.sim.fused import tile_for


@pytest.mark.parametrize("nq,m,r,e,entangler", [
    (2, 3, 1, 1, "all"), (3, 5, 2, 2, "ring"), (5, 9, 2, 1, "linear"),
    (6, 12, 2, 1, "all"), (7, 14, 1, 1, "all"), (9, 12, 1, 1, "ring"), (10, 20, 1, 1, "all"),
])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_forward_matches_the_torch_engine(nq, m, r, e, entangler, dtype):
    spec = CircuitSpec(nq, m, r, e, shuffle_seed=nq, entangler=entangler)
    g = torch.Generator().manual_seed(nq)
    batch = 3 * tile_for(nq) + 5  # several tiles, the last one padded
    h = (torch.rand(batch, m, generator=g, dtype=dtype) * 2 - 1) * 1.5
    theta = (torch.rand(spec.n_theta, generator=g, dtype=dtype) * 2 - 1) * math.pi
    tol = 1e-6 if dtype == torch.float32 else 1e-13
    for last in (None, min(3, spec.n_states)):
        ref = probabilities(spec, h, theta, last=last, backward="adjoint")
        got = probabilities(spec, h, theta, last=last, backward="fused")
        assert got.dtype == dtype and got.shape == ref.shape
        assert (got - ref).abs().max() <= tol
    assert torch.allclose(probabilities(spec, h, theta, backward="fused").sum(1), torch.ones(batch, dtype=dtype),
                          atol=10 * tol)


def test_a_decode_batch_is_evaluated_in_chunks(monkeypatch):
    monkeypatch.setattr(engine_mod, "FUSED_CHUNK", 200)
    spec = CircuitSpec(4, 8, 2, 1)
    h = torch.rand(650, 8, dtype=torch.float64) * 2 - 1
    theta = torch.rand(spec.n_theta, dtype=torch.float64) * 6
    got = probabilities(spec, h, theta, last=3, backward="fused")
    ref = probabilities(spec, h, theta, last=3, backward="adjoint")
    assert (got - ref).abs().max() < 1e-13


def test_auto_picks_the_fused_engine_on_cpu_unless_switched_off(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.delenv("QUINR_SIM", raising=False)
    assert engine_mod.engine_for("auto", cpu) == "fused"
    assert engine_mod.engine_for("auto", torch.device("meta")) == "adjoint"
    monkeypatch.setenv("QUINR_SIM", "torch")
    assert engine_mod.engine_for("auto", cpu) == "adjoint"
    assert engine_mod.engine_for("fused", cpu) == "fused"  # asked for by name, it is used
    with pytest.raises(ValueError, match="runs on CPU"):
        engine_mod.engine_for("fused", torch.device("meta"))
    with pytest.raises(ValueError, match="backward must be one of"):
        engine_mod.engine_for("numba", cpu)


def test_the_switch_reaches_the_model(monkeypatch):
    """QUINR_SIM=torch trains through the torch engine: both engines give the same step."""
    from quinr.model import ModelConfig, QuINR

    x = torch.rand(300, 2) * 2 - 1
    grads = {}
    for sim in ("fused", "torch"):
        monkeypatch.setenv("QUINR_SIM", sim)
        model = QuINR(ModelConfig(n_qubits=5, embed_dim=10, out_features=3), seed=2)
        model(x).square().mean().backward()
        grads[sim] = torch.cat([p.grad.flatten() for p in model.parameters()])
    assert grads["fused"].abs().max() > 1e-4
    assert torch.allclose(grads["fused"], grads["torch"], atol=1e-5)



def test_graphs_alive_at_once_keep_their_own_checkpoints():
    """Two forwards before either backward (and a third forward between the backwards, which may
    take a buffer the first backward handed back): each backward reads its own checkpoints."""
    spec = CircuitSpec(6, 12, 2, 1)
    g = torch.Generator().manual_seed(3)
    hs = [torch.rand(300, 12, generator=g) * 2 - 1 for _ in range(3)]
    theta = torch.rand(spec.n_theta, generator=g) * 6
    w = torch.rand(300, 3, generator=g)

    def grad(h, backward):
        h = h.clone().requires_grad_()
        (probabilities(spec, h, theta, last=3, backward=backward) * w).sum().backward()
        return h.grad

    ref = [grad(h, "autograd") for h in hs]
    leaves = [h.clone().requires_grad_() for h in hs]
    losses = [(probabilities(spec, x, theta, last=3, backward="fused") * w).sum() for x in leaves[:2]]
    losses[0].backward()
    losses.append((probabilities(spec, leaves[2], theta, last=3, backward="fused") * w).sum())
    losses[1].backward()
    losses[2].backward()
    for leaf, r in zip(leaves, ref, strict=True):
        assert r.abs().max() > 1e-3
        assert (leaf.grad - r).abs().max() < 2e-5


def test_kernel_threads_setting(monkeypatch):
    """QUINR_KERNEL_THREADS sets the kernels' threads apart from torch's; a bad value is refused in
    one line; the results do not depend on it (tiles are independent, summed in a fixed order)."""
    from quinr.errors import ConfigError
    from quinr.sim._launch import kernel_threads

    monkeypatch.delenv("QUINR_KERNEL_THREADS", raising=False)
    assert kernel_threads() == torch.get_num_threads()
    spec = CircuitSpec(5, 10, 2, 1)
    g = torch.Generator().manual_seed(4)
    h0 = torch.rand(700, 10, generator=g) * 2 - 1
    theta0 = torch.rand(spec.n_theta, generator=g) * 6
    results = []
    for threads in ("1", "3"):
        monkeypatch.setenv("QUINR_KERNEL_THREADS", threads)
        assert kernel_threads() == int(threads)
        h, theta = h0.clone().requires_grad_(), theta0.clone().requires_grad_()
        p = probabilities(spec, h, theta, last=3, backward="fused")
        p.square().sum().backward()
        results.append((p.detach(), h.grad, theta.grad))
    for a, b in zip(*results, strict=True):
        assert torch.equal(a, b)
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("QUINR_KERNEL_THREADS", bad)
        with pytest.raises(ConfigError, match="QUINR_KERNEL_THREADS must be a positive whole number"):
            kernel_threads()


def _explicit_stages(spec, h, theta):
    """The circuit's stages as the torch engine builds them, in the fused kernels' explicit form:
    quaternions (n, 4, L) from the matrices' first columns (a, b), and phase angles."""
    from quinr.sim.statevector import _stage_params

    out = []
    for kind, t, _ in _stage_params(spec, h, theta):
        if kind == "diag":
            out.append(("diag", t))
            continue
        ab = t if kind == "product" else t[..., :, 0]  # (L, n, 2) complex: (a, b)
        out.append(("local", torch.view_as_real(ab).reshape(*ab.shape[:2], 4).permute(1, 2, 0).contiguous()))
    return out


@pytest.mark.parametrize("width", [3, 32])
def test_a_final_stage_per_coordinate_matches_the_shared_one(width):
    """The paper's circuits end in a stage shared by the batch; the kernels' per-coordinate path
    for a final stage (dense, and sparse with few outputs) is checked here against it, with the
    same matrices given once per coordinate. Both are given explicitly (the torch engine's
    matrices) and checked against the engine's own composition too."""
    from quinr.sim.fused import probabilities_fused, tile_stages

    spec = CircuitSpec(5, 10, 2, 1)
    g = torch.Generator().manual_seed(6)
    bsz = 150
    h, theta = torch.rand(bsz, 10, generator=g) * 2 - 1, torch.rand(spec.n_theta, generator=g) * 6
    shared = [(k, t.detach().clone().requires_grad_()) for k, t in _explicit_stages(spec, h, theta)]
    kind, last = shared[-1]
    assert kind == "local" and last.shape[-1] == 1
    each = [(k, t.detach().clone().requires_grad_()) for k, t in shared[:-1]]
    each.append((kind, last.detach().expand(-1, -1, bsz).clone().requires_grad_()))
    w = torch.rand(bsz, width, generator=g)
    probs = []
    for stages in (shared, each):
        p = probabilities_fused(spec.n_qubits, width, tile_stages(spec.n_qubits, bsz, stages))
        (p * w).sum().backward()
        probs.append(p.detach())
    ref = probabilities(spec, h, theta, last=width, backward="fused")
    assert (probs[0] - ref).abs().max() < 1e-6
    assert (probs[0] - probs[1]).abs().max() < 1e-6
    assert shared[-1][1].grad.abs().max() > 1e-3
    assert (each[-1][1].grad.sum(-1, keepdim=True) - shared[-1][1].grad).abs().max() < 1e-4
    for (_, a), (_, b) in zip(shared[:-1], each[:-1], strict=True):
        assert (a.grad - b.grad).abs().max() < 1e-5


def test_the_command_line_shortens_openmp_spin_before_torch_loads():
    """``import quinr`` leaves torch unloaded, so the command line can set GNU OpenMP's spin
    (read when torch loads) for its process; a setting of the user's own, or torch loaded first,
    is left alone."""
    import os
    import subprocess
    import sys

    code = ("import sys, quinr; assert 'torch' not in sys.modules; {pre}import quinr.cli, os; "
            "print(os.environ.get('GOMP_SPINCOUNT'))")
    base = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    cases = [({}, "", "30000"), ({"GOMP_SPINCOUNT": "7"}, "", "7"), ({"OMP_WAIT_POLICY": "PASSIVE"}, "", "None"),
             ({}, "import torch; ", "None")]
    untouched = ("import os, quinr; assert not hasattr(quinr, 'cli'); quinr.sim; "
                 "print(os.environ.get('GOMP_SPINCOUNT'))")  # attribute access never imports the command line
    assert subprocess.run([sys.executable, "-c", untouched], env=base, capture_output=True, text=True,
                          check=True).stdout.strip() == "None"
    for extra, pre, expected in cases:
        out = subprocess.run([sys.executable, "-c", code.format(pre=pre)], env={**base, **extra}, capture_output=True,
                             text=True, check=True).stdout.strip()
        assert out == expected, (extra, pre, out)


def test_stale_kernel_caches_are_dropped_when_any_kernel_file_changes(tmp_path):
    """numba keys a kernel's cache on its own file, but kernels inline helpers from the other
    kernel files; so the caches of all of them go when any one changes, and stay otherwise."""
    from quinr.sim._launch import KERNEL_FILES, _drop_stale_kernel_caches

    for name in KERNEL_FILES:
        (tmp_path / name).write_text(f"# {name}\n")
    cache = tmp_path / "__pycache__"
    cache.mkdir()

    def fill() -> list:
        files = [cache / f"{name[:-3]}.kernel-12.py311.{ext}" for name in KERNEL_FILES for ext in ("nbi", "1.nbc")]
        for f in files:
            f.write_bytes(b"cached")
        return files

    other = cache / "fused.cpython-311.pyc"
    other.write_bytes(b"not numba's")
    files = fill()
    assert _drop_stale_kernel_caches(tmp_path)  # no stamp yet: whatever is cached may be stale
    assert not any(f.exists() for f in files) and other.exists()
    files = fill()
    assert not _drop_stale_kernel_caches(tmp_path)  # unchanged: the caches stay
    assert all(f.exists() for f in files)
    (tmp_path / "_kernels.py").write_text("# edited\n")
    assert _drop_stale_kernel_caches(tmp_path)
    assert not any(f.exists() for f in files) and other.exists()


def test_an_output_is_never_a_buffer_the_engine_reuses():
    """The engine reuses its tile-major buffers from call to call; with a single output the
    result's view of one is already contiguous, so it must still be copied out: a second call
    leaves the first result, and a gradient through it, as they were."""
    spec = CircuitSpec(4, 8, 2, 1)
    g = torch.Generator().manual_seed(3)
    h = (torch.rand(100, 8, generator=g) * 2 - 1).requires_grad_()
    theta = (torch.rand(spec.n_theta, generator=g) * 6).requires_grad_()
    w = torch.rand(100, 1, generator=g, requires_grad=True)
    first = probabilities(spec, h, theta, last=1, backward="fused")
    kept = first.detach().clone()
    loss = (w * first).sum()
    probabilities(spec, h.detach() * 0.5, theta.detach(), last=1, backward="fused")  # another call, same shape
    assert torch.equal(first.detach(), kept)
    loss.backward()
    assert torch.allclose(w.grad, kept)


def _reference_probabilities(n, width, stages, bsz):
    """The last ``width`` probabilities of explicit stages by plain complex torch ops (autograd
    through them is the reference): the product stage's columns (a, b), then each stage in turn."""
    def columns(t):
        return torch.complex(t[:, 0], t[:, 1]), torch.complex(t[:, 2], t[:, 3])  # (n, L) each

    a, b = columns(stages[0][1])
    psi = torch.ones(bsz, 1, dtype=a.dtype)
    for q in range(n):
        v = torch.stack([a[q], b[q]], -1).expand(bsz, 2)
        psi = (psi[:, :, None] * v[:, None, :]).reshape(bsz, -1)
    for kind, t in stages[1:]:
        if kind == "diag":
            psi = psi * torch.exp(1j * t.to(psi.dtype))
            continue
        a, b = columns(t)
        u = torch.stack([torch.stack([a, -b.conj()], -1), torch.stack([b, a.conj()], -1)], -2)  # (n, L, 2, 2)
        st = psi.reshape(bsz, *([2] * n))
        for q in range(n):
            st = torch.movedim(torch.einsum("b...j,bij->b...i", torch.movedim(st, q + 1, -1),
                                            u[q].expand(bsz, 2, 2)), -1, q + 1)
        psi = st.reshape(bsz, -1)
    return psi.abs().square()[:, -width:]


@pytest.mark.parametrize("kinds,width", [
    ("ODDODS", 3),   # two diagonal stages before the first local one; a shared final stage read by its rows
    ("ODDS", 2),     # that final stage is the first local stage after the product stage
    ("SDDODS", 3),   # a product stage shared by the batch
    ("ODDODDO", 3),  # a final stage per coordinate (its backward on the outputs' rows)
    ("ODDODS", 8),   # more outputs than qubits: the final stage applied, the whole final state kept
])
def test_stage_sequences_the_circuits_do_not_build_match_a_plain_reference(kinds, width):
    """The kernels take any sequence of stages (O: local per coordinate, S: local shared by the
    batch, D: diagonal); the model's circuits make only some. Others reach paths of the backward
    the circuit tests do not: several diagonal stages before the first local one, a shared
    product stage. Gradients of every stage tensor against autograd through plain torch ops."""
    from quinr.sim.fused import probabilities_fused, tile_stages

    n, bsz = 5, 300  # two tiles, the last one padded
    g = torch.Generator().manual_seed(len(kinds) * 10 + width)
    stages = []
    for k in kinds:
        if k == "D":
            stages.append(("diag", torch.rand(1 << n, generator=g, dtype=torch.float64) * 6))
        else:
            q = torch.randn(n, 4, 1 if k == "S" else bsz, generator=g, dtype=torch.float64)
            stages.append(("local", q / q.norm(dim=1, keepdim=True)))
    w = torch.rand(bsz, width, generator=g, dtype=torch.float64) - 0.3
    results = []
    for engine in ("fused", "reference"):
        leaves = [(k, t.clone().requires_grad_()) for k, t in stages]
        p = (probabilities_fused(n, width, tile_stages(n, bsz, leaves)) if engine == "fused"
             else _reference_probabilities(n, width, leaves, bsz))
        (p * w).sum().backward()
        results.append((p.detach(), [t.grad for _, t in leaves]))
    (p_fused, g_fused), (p_ref, g_ref) = results
    assert (p_fused - p_ref).abs().max() < 1e-12
    for a, b in zip(g_fused, g_ref, strict=True):
        assert b.abs().max() > 1e-3  # every stage gets a gradient that can be wrong
        assert (a - b).abs().max() < 1e-10 * max(1.0, float(b.abs().max()))


@pytest.mark.parametrize("last", [0, -1, 33, 2.0, True])
@pytest.mark.parametrize("engine", ["fused", "adjoint", "autograd"])
def test_a_number_of_outputs_the_circuit_does_not_have_is_refused(last, engine):
    """The kernels do not check their indices: more outputs than basis states once read past the
    state (the fused engine returned numbers for 300 of 256), none failed deep in torch."""
    from quinr.sim.fused import probabilities_fused, stage_params

    spec = CircuitSpec(5, 10, 2, 1)
    h, theta = torch.rand(8, 10) * 2 - 1, torch.rand(spec.n_theta) * 6
    with pytest.raises(ValueError, match="last must be a whole number from 1 to 32"):
        probabilities(spec, h, theta, last=last, backward=engine)
    if isinstance(last, int) and not isinstance(last, bool):
        with pytest.raises(ValueError, match="width must be from 1 to 32"):
            probabilities_fused(5, last, stage_params(spec, h, theta))
    assert probabilities(spec, h, theta, last=32, backward=engine).shape == (8, 32)
