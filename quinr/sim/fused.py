"""The fused CPU engine: the whole circuit, forward and adjoint backward, as compiled kernels.

Why: the torch simulator (:mod:`.statevector`, :mod:`.adjoint`) applies each local stage as a few
batched GEMMs with small Kronecker factors, and each is a pass over the whole chunk's state
through memory: at Nq = 8 it reaches 17-25 GFLOP/s of two cores' peak, and its backward costs 3-4
forwards. Here a tile of T coordinates keeps its state in cache (planar re/im, the coordinates
innermost) while every gate of the circuit is applied to it as vector operations across the
tile, each coordinate with its own 2x2 matrix (:mod:`._kernels`; a stage that reads theta alone
keeps its one matrix in registers).

The backward (:mod:`._backward`) is the adjoint method: G = dL/d conj(psi) is carried back gate by
gate, while psi comes from checkpoints the forward keeps (the state before each local stage after
the first past the product stage; before that one, psi is the product state times a few phases,
made on the fly from its halves), so psi is never un-applied. A local stage's gates commute, so each qubit's gradient is read off psi and G after
the stage: three sums over the state's pairs per qubit (plus one trace shared by all).

When only a few probabilities are asked for (the model's outputs) and the circuit ends in a
stage shared by the batch (the paper's: it reads theta alone), that stage is never applied: each
output is its row of the stage's matrix, a product state built once, dotted with the state
before it (a pass per output against one per qubit), and the backward is made of those rows
again plus the stage's gradient for the whole tile, read off ``width`` vectors
(:func:`._backward._rows_last_stage`). A final stage per coordinate is applied, and its backward
runs on the outputs' rows alone.

The product state (the first stage acting on |0...0>) is built in the kernels from that stage's
quaternions, and its gradients are taken there too, from G before the diagonal stages that
follow it without building psi there (:func:`._product._lead_back`). The fused runs of RX/RZ gates of every local
stage are composed into quaternions, and differentiated back to their angles, by two more kernels
(:mod:`._compose`): those of the stages that read h straight into the tiles, each gate reading its
angle's cosine and sine (from torch) in h's column or theta's entry, and adding its gradient back
there.

numba compiles the kernels on first use (``cache=True``: 18-28 s once for training's float32,
6 s more for float64 decoding, then half a second to load in a new process). It is already a
dependency of the Braket local simulator that quinr installs, so the engine adds no package; a
hand-written C++ extension would need a compiler at install.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from ..circuit import CircuitSpec
from ._launch import _checkpoints, _run
from .statevector import _constants, _Diag
from .su2 import Runs

Kinds = tuple[str, ...]


def tile_for(n: int) -> int:
    """Coordinates per tile: 256 up to Nq = 8, 128 above. Larger tiles spread each vector loop's
    set-up (its overlap checks, the matrix loads) over more coordinates, as long as a tile's state
    and its gradient stay near the L2 cache. Measured on one thread, batch 4096, three outputs
    (forward + backward): at Nq 8, 256 against 128 gave a backward kernel 8-10 % faster and a
    forward no slower, 512 a slower backward; at Nq 10, 128 against 64 gave 54.8 against
    64.1 ms (256: 54.5, with a slower forward); at Nq 9, 128 and 256 were even."""
    return 256 if n <= 8 else 128


def _untile(x: torch.Tensor, bsz: int) -> torch.Tensor:
    """(tiles, *rest, T) -> (B, *rest) (a view)."""
    return x.movedim(-1, 1).reshape(-1, *x.shape[1:-1])[:bsz]


def _tiles_last(x: torch.Tensor, tile: int) -> torch.Tensor:
    """(*rest, B) -> (tiles, *rest, T), zero beyond B: the kernels' layout, each tile's data
    contiguous with its coordinates innermost. From the batch-last layout runs of T coordinates
    stay contiguous in the copy (the quaternions through (B, *rest) were a transpose of 4-float
    rows: 1.9 ms a step at Nq 8, batch 4096)."""
    bsz = x.shape[-1]
    padded = -(-bsz // tile) * tile
    if padded != bsz:
        x = torch.cat((x, x.new_zeros(*x.shape[:-1], padded - bsz)), -1)
    return x.reshape(*x.shape[:-1], padded // tile, tile).movedim(-2, 0).contiguous()


@dataclass(frozen=True)
class Stages:
    """A circuit's stages in the kernels' form: ``kinds`` of every stage, the product stage first
    ("local" or "diag"); the local stages' quaternions (Re a, Im a, Re b, Im b), each either per
    coordinate in ``own`` (tile-major, (tiles, stages, n, 4, T), slot >= 0 its index) or shared by
    the batch in ``shared`` ((n, 4) each, slot < 0: ``shared[-1 - slot]``); the diagonal stages'
    phase angles ``phases`` ((2^n,) each), in circuit order; ``bsz`` coordinates."""

    kinds: tuple[str, ...]
    slots: tuple[int, ...]
    own: torch.Tensor
    shared: tuple[torch.Tensor, ...]
    phases: tuple[torch.Tensor, ...]
    bsz: int


def stage_params(spec: CircuitSpec, h: torch.Tensor, theta: torch.Tensor) -> Stages:
    """The circuit's stages for h (B, M) and theta: the fused runs of the stages that read h
    composed by :class:`_Compose` straight into the kernels' tiles, those of the others once."""
    const = _constants(spec, h.device, h.dtype)
    n, bsz, tile = spec.n_qubits, h.shape[0], tile_for(spec.n_qubits)
    slots: dict[int, int] = {}
    own = _no_own(h, n, bsz)
    shared: tuple[torch.Tensor, ...] = ()
    for indices, runs in const.groups:
        plan = _plan(runs, spec.embed_dim, spec.n_theta)
        if runs.batched:
            own = _Compose.apply(plan, _tiles_last((h * (0.5 * spec.angle_scale)).T, tile), 0.5 * theta)
            slots.update((i, k) for k, i in enumerate(indices))
        else:
            shared = tuple(_Compose.apply(plan, h.new_zeros(1, 0, 1), 0.5 * theta)[0, ..., 0].unbind(0))
            slots.update((i, -1 - k) for k, i in enumerate(indices))
    phases = tuple(const.diag_phase(theta[st.crz], theta[st.rz]) for st in const.stages if isinstance(st, _Diag))
    kinds = tuple("diag" if isinstance(st, _Diag) else "local" for st in const.stages)
    return Stages(kinds, tuple(slots[i] for i in sorted(slots)), own, shared, phases, bsz)


def tile_stages(n: int, bsz: int, stages: list[tuple[str, torch.Tensor]]) -> Stages:
    """:class:`Stages` from explicit stage tensors, the product stage first: ("diag", (2^n,) phase
    angles) or ("local", (n, 4, L) quaternions, L = bsz or 1 for a stage shared by the batch)."""
    slots: list[int] = []
    own: list[torch.Tensor] = []
    shared: list[torch.Tensor] = []
    for kind, t in stages:
        if kind == "local" and t.shape[-1] == 1 and bsz != 1:
            shared.append(t[..., 0])
            slots.append(-len(shared))
        elif kind == "local":
            own.append(t)
            slots.append(len(own) - 1)
    tiled = _tiles_last(torch.stack(own), tile_for(n)) if own else _no_own(stages[0][1], n, bsz)
    phases = tuple(t for kind, t in stages if kind == "diag")
    return Stages(tuple(k for k, _ in stages), tuple(slots), tiled, tuple(shared), phases, bsz)


def _no_own(like: torch.Tensor, n: int, bsz: int) -> torch.Tensor:
    """The per-coordinate quaternions of a circuit with none: (tiles, 0, n, 4, T)."""
    tile = tile_for(n)
    return like.new_zeros(-(-bsz // tile), 0, n, 4, tile)


@functools.lru_cache(maxsize=64)
def _plan(runs: Runs, embed_dim: int, n_theta: int) -> tuple[np.ndarray, np.ndarray, int]:
    """What :func:`._compose.compose` reads for a group's runs: each gate row's type (RX or not),
    each gate's source (rows, stages, n) (-1 none, below m h's column, else m + theta's entry) and
    m (embed_dim for the groups that read h, else 0)."""
    rx = np.array([name == "RX" for name in runs.names], dtype=np.bool_)
    shape = (len(runs.names), runs.n_stages, runs.n)
    h_index = runs.h_index.cpu().numpy().reshape(shape)
    t_index = runs.t_index.cpu().numpy().reshape(shape)
    m = embed_dim if runs.batched else 0
    src = np.where(h_index < embed_dim, h_index, np.where(t_index < n_theta, m + t_index, -1))
    return rx, np.ascontiguousarray(src, dtype=np.int64), m


class _Compose(torch.autograd.Function):
    """The fused runs' quaternions (tiles, stages, n, 4, T) of a group of local stages from the
    gates' half angles: x (tiles, m, T), the tiled h columns times half the angle scale, and
    theta / 2, composed by :func:`._compose.compose`, with the backward of
    :func:`._compose.compose_grad` (the arithmetic of :meth:`.su2.Runs.matrices`, without
    autograd's hundreds of small nodes, the gather of every gate's angle and its scatter back)."""

    @staticmethod
    def forward(ctx, plan: tuple[np.ndarray, np.ndarray, int], x: torch.Tensor,  # type: ignore[override]
                half_theta: torch.Tensor) -> torch.Tensor:
        rx, src, m = plan
        cx, sx = torch.cos(x.detach()), torch.sin(x.detach())
        ct, st = torch.cos(half_theta.detach()), torch.sin(half_theta.detach())
        out = x.new_empty(x.shape[0], src.shape[1], src.shape[2], 4, x.shape[2])
        _run("compose", x.shape[0], rx, src, m, cx.numpy(), sx.numpy(), ct.numpy(), st.numpy(), out.numpy())
        ctx.plan = plan
        ctx.save_for_backward(cx, sx, ct, st, out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        rx, src, m = ctx.plan
        cx, sx, ct, st, out = ctx.saved_tensors
        gx, gth = torch.empty_like(cx), cx.new_empty(cx.shape[0], ct.shape[0])
        _run("compose_grad", cx.shape[0], rx, src, m, cx.numpy(), sx.numpy(), ct.numpy(), st.numpy(), out.numpy(),
             grad.contiguous().numpy(), gx.numpy(), gth.numpy())
        return None, gx, gth.sum(0)


def _final_mode(n: int, width: int, kinds: Kinds, slots: tuple[int, ...]) -> int:
    """How the kernels evaluate the final stage (:data:`._kernels.DENSE`, ``SPARSE`` or ``ROWS``):
    by passes over the state, unless the circuit ends in a local stage (after the product stage)
    and only ``width < n`` probabilities are asked for; then by its outputs' rows when that stage
    is shared by the batch (the paper's circuits: the last stage reads theta alone), else with a
    backward on those rows."""
    from ._kernels import DENSE, ROWS, SPARSE

    if width >= n or len(kinds) < 2 or kinds[-1] != "local":
        return DENSE
    return ROWS if slots[-1] < 0 else SPARSE


@functools.lru_cache(maxsize=64)
def _checkpoint_rows(n: int, width: int, mode: int) -> np.ndarray:
    """The rows of the final state the backward reads: all of them (mode DENSE), the outputs' own
    (ROWS: their amplitudes), or those and their neighbours across each qubit (SPARSE, for
    :func:`._backward._sparse_last_stage`). The same rows every step of a training run: cached
    (the kernels only read them)."""
    from ._kernels import DENSE, ROWS

    if mode == DENSE:
        return np.arange(1 << n, dtype=np.int64)
    last = range((1 << n) - width, 1 << n)
    if mode == ROWS:
        return np.array(last, dtype=np.int64)
    return np.array(sorted({x ^ bit for x in last for bit in [0, *(1 << q for q in range(n))]}), dtype=np.int64)


class _Fused(torch.autograd.Function):
    """The last ``width`` probabilities of the circuit of :class:`Stages` (its fields, in order:
    the per-coordinate quaternions ``own``, then the shared ones and the phase angles as
    ``params``)."""

    @staticmethod
    def forward(ctx, n: int, width: int, kinds: Kinds, slots: tuple[int, ...], bsz: int,  # type: ignore[override]
                own: torch.Tensor, *params: torch.Tensor) -> torch.Tensor:
        if not kinds or kinds[0] != "local":
            raise ValueError("the fused engine's circuit starts with a local (product) stage")
        n_shared = sum(k < 0 for k in slots)
        shared, phis = params[:n_shared], params[n_shared:]
        tiles, tile, dtype = own.shape[0], own.shape[-1], own.dtype
        us = (torch.stack(shared).unsqueeze(-1).expand(-1, n, 4, tile).contiguous() if shared
              else own.new_zeros(0, n, 4, tile))
        phi = torch.stack(phis) if phis else own.new_zeros(0, 1 << n)
        code = np.array([0 if k == "diag" else 1 for k in kinds[1:]], dtype=np.int64)
        slot = np.array(slots, dtype=np.int64)
        cph, sph = torch.cos(phi), torch.sin(phi)
        probs = _checkpoints.take((tiles, width, tile), dtype)  # handed back below, once copied out
        keep = any(ctx.needs_input_grad[5:])
        mode = _final_mode(n, width, kinds, slots)
        rows = _checkpoint_rows(n, width, mode) if keep else np.zeros(0, dtype=np.int64)
        amp = _checkpoints.take((tiles, 2, rows.size, tile), dtype)
        saved = _checkpoints.take((tiles, max(len(slots) - 2, 0), 2, 1 << n, tile) if keep else (tiles, 0, 2, 0, 0),
                                  dtype)
        _run("forward", tiles, n, mode, code, slot, own.numpy(), us.numpy(), cph.numpy(), sph.numpy(), probs.numpy(),
             rows, amp.numpy(), saved.numpy())
        if keep:
            ctx.save_for_backward(own)
            ctx.state = (n, mode, code, slot, us, cph, sph, rows, amp, saved, n_shared)
        out = probs.new_empty(bsz, width)  # a copy always (with one output the view is contiguous)
        out.copy_(_untile(probs, bsz))
        _checkpoints.give(probs)
        return out

    @staticmethod
    def backward(ctx, grad_p: torch.Tensor):  # type: ignore[override]
        (own,) = ctx.saved_tensors
        n, mode, code, slot, us, cph, sph, rows, amp, saved, n_shared = ctx.state
        ctx.state = None
        tiles = own.shape[0]
        gp = _tiles_last(grad_p.T, own.shape[-1])
        gown = torch.empty_like(own)  # zero on the padding
        gus = own.new_empty(tiles, *us.shape[:-1])
        gphi = own.new_empty(tiles, cph.shape[0], cph.shape[1])
        _run("backward", tiles, n, mode, code, slot, own.numpy(), us.numpy(), cph.numpy(), sph.numpy(), rows, amp.numpy(),
             saved.numpy(), gp.numpy(), gown.numpy(), gus.numpy(), gphi.numpy())
        gshared = gus.sum(0).unbind(0) if n_shared else ()
        _checkpoints.give(amp, saved)
        return (None, None, None, None, None, gown, *gshared, *gphi.sum(0).unbind(0))


@torch.compiler.disable  # numba's kernels are opaque to torch.compile: compile the rest around them
def probabilities_fused(n: int, width: int, stages: Stages) -> torch.Tensor:
    """The last ``width`` basis-state probabilities (bsz, width) through the fused kernels;
    differentiable in every tensor of ``stages`` (see the module docstring). The kernels do not
    check their indices, so ``width`` is checked here."""
    if not 1 <= width <= 1 << n:
        raise ValueError(f"width must be from 1 to {1 << n} (the circuit's basis states), got {width}")
    return _Fused.apply(n, width, stages.kinds, stages.slots, stages.bsz, stages.own, *stages.shared,
                        *stages.phases)
