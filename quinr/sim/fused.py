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
the first; the first one's input is recomputed from the product state), so psi is never
un-applied. A local stage's gates commute, so each qubit's gradient is read off psi and G after
the stage: three sums over the state's pairs per qubit (plus one trace shared by all). When only
a few probabilities are differentiated (the model's outputs), G after the final stage lives on
those rows and that stage's backward is a handful of product states instead of n passes.

The product state (the first stage acting on |0...0>) is built in the kernels from that stage's
quaternions, and its gradients are taken there too. The fused runs of RX/RZ gates of every local
stage are composed into quaternions, and differentiated back to their angles, by two more kernels
(:mod:`._compose`), with the cosines and sines from torch.

numba compiles the kernels on first use (``cache=True``: about 16 s once for training's float32,
5 s more for float64 decoding, then half a second to load in a new process). It is already a
dependency of the Braket local simulator that quinr installs, so the engine adds no package; a
hand-written C++ extension would need a compiler at install.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from ..circuit import CircuitSpec
from ..errors import ConfigError
from .statevector import _constants, _Diag

Kinds = tuple[str, ...]


def tile_for(n: int) -> int:
    """Coordinates per tile: a state of 2^n amplitudes x T in L2 (256 KiB in float32 at Nq <= 8),
    and never under 64, below which the kernels' vector loops are not taken."""
    return max(64, min(128, 32768 >> n))


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


def stage_params(spec: CircuitSpec, h: torch.Tensor, theta: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """Every stage in the kernels' form, the product stage first: ("diag", (2^Nq,) phase angles)
    or ("local", (Nq, 4, L) quaternions, L = B or 1)."""
    const = _constants(spec, h.device, h.dtype)
    out: dict[int, tuple[str, torch.Tensor]] = {}
    for i, stage in enumerate(const.stages):
        if isinstance(stage, _Diag):
            out[i] = ("diag", const.diag_phase(theta[stage.crz], theta[stage.rz]))
    for indices, runs in const.groups:
        rx = np.array([name == "RX" for name in runs.names], dtype=np.bool_)
        quats = _Compose.apply(rx, runs.angles(h, theta, spec.angle_scale)).reshape(len(indices), spec.n_qubits, 4, -1)
        for i, q in zip(indices, quats.unbind(0), strict=True):
            out[i] = ("local", q)
    return [out[i] for i in range(len(const.stages))]


class _Compose(torch.autograd.Function):
    """The fused runs' quaternions (k, 4, L) from their gates' angles (rows, k, L), composed by
    :func:`._compose.compose`, with the backward of :func:`._compose.compose_grad` (the same
    arithmetic as :meth:`.su2.Runs.matrices`, without autograd's hundreds of small nodes)."""

    @staticmethod
    def forward(ctx, rx: np.ndarray, angles: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        from . import _compose

        half = 0.5 * angles.detach()
        c, s = torch.cos(half).contiguous(), torch.sin(half).contiguous()
        out = c.new_empty(c.shape[1], 4, c.shape[2])
        _compose.compose(rx, c.numpy(), s.numpy(), out.numpy())
        ctx.state = (rx, c, s, out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        from . import _compose

        rx, c, s, out = ctx.state
        ctx.state = None
        gangle = torch.empty_like(c)
        _compose.compose_grad(rx, c.numpy(), s.numpy(), out.numpy(), grad.contiguous().numpy(), gangle.numpy())
        return None, gangle


class _Buffers:
    """Checkpoint (and gradient) buffers handed back by a finished backward, for the next step to
    reuse.

    Why: a training step's checkpoints are megabytes (16 MiB at Nq 8, batch 4096), and freshly
    allocated they are fresh pages, each zeroed by the kernel on first touch: measured, that made
    a step's forward kernel 2x slower. A buffer is reused only after the backward that read it has
    returned it, so a graph that is kept (or dropped unused) never shares one."""

    def __init__(self, keep: int = 4) -> None:
        self._free: list[torch.Tensor] = []
        self._keep = keep
        self._lock = threading.Lock()

    def take(self, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        with self._lock:
            for i, buf in enumerate(self._free):
                if buf.shape == shape and buf.dtype == dtype:
                    return self._free.pop(i)
        return torch.empty(shape, dtype=dtype)

    def give(self, *bufs: torch.Tensor) -> None:
        with self._lock:
            self._free = [*(b for b in bufs if b.numel()), *self._free][: self._keep]


_checkpoints = _Buffers()


_POOL: tuple[int, int, ThreadPoolExecutor] | None = None


def _pool(threads: int) -> ThreadPoolExecutor:
    """This process's worker threads (a forked child makes its own: a parent's threads do not
    exist there)."""
    global _POOL
    if _POOL is None or _POOL[:2] != (os.getpid(), threads):
        _POOL = (os.getpid(), threads, ThreadPoolExecutor(threads - 1, thread_name_prefix="quinr-sim"))
    return _POOL[2]


def kernel_threads() -> int:
    """Threads the kernels run on: ``QUINR_KERNEL_THREADS`` when set, else as many as torch is told
    to use (``torch.set_num_threads``).

    Why a setting of its own: after each parallel op, torch's OpenMP workers keep spinning on the
    cores for a while, and the kernels' threads share those cores with them. On a small machine,
    torch on one thread (``OMP_NUM_THREADS=1``) with the kernels on all cores
    (``QUINR_KERNEL_THREADS=2`` on two) trains faster (docs/performance.md)."""
    text = os.environ.get("QUINR_KERNEL_THREADS", "").strip()
    if not text:
        return torch.get_num_threads()
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"QUINR_KERNEL_THREADS must be a positive whole number; got {text!r}")
    return int(text)


def _run(name: str, n_tiles: int, *args) -> None:
    """Run a kernel ("forward" or "backward") over the tiles on :func:`kernel_threads` threads,
    the calling thread included.

    Why not numba's own parallel loops: their OpenMP layer is not fork-safe with GNU OpenMP, and a
    process forked after it ran is stopped by numba's guard (the folder and ``rd`` tests, whose
    process pools fork after the engine ran, hung that way). The kernels release the GIL, so plain
    threads run them in parallel and survive a fork."""
    from . import _backward, _kernels

    kernel = _kernels.forward if name == "forward" else _backward.backward
    threads = max(1, min(kernel_threads(), n_tiles))
    if threads == 1:
        kernel(*args, 0, n_tiles)
        return
    # Tiles are handed out a few at a time, not split in halves up front: a thread that shares its
    # core with another process's work, or with torch's own OpenMP threads still spinning after
    # the ops before this call, then takes fewer of them instead of holding the others up.
    step = max(1, n_tiles // (4 * threads))
    starts = iter(range(0, n_tiles, step))  # shared: each next() is atomic under the GIL

    def work() -> None:
        for lo in starts:
            kernel(*args, lo, min(lo + step, n_tiles))

    futures = [_pool(threads).submit(work) for _ in range(threads - 1)]
    work()
    for f in futures:
        f.result()


def _checkpoint_rows(n: int, width: int, kinds: Kinds) -> np.ndarray:
    """The rows of the final state the backward reads: all of them, or, when it ends in a local
    stage (after the product stage) differentiated on its last ``width < n`` rows only
    (:func:`._backward._sparse_last_stage`), those rows and their neighbours across each qubit.
    Fewer than 2^n rows is what sends the backward down that path, so the rule lives here only
    (row 0 is never among them: for width < n no last row is a single bit)."""
    if width >= n or len(kinds) < 2 or kinds[-1] != "local":
        return np.arange(1 << n, dtype=np.int64)
    last = range((1 << n) - width, 1 << n)
    return np.array(sorted({x ^ bit for x in last for bit in [0, *(1 << q for q in range(n))]}), dtype=np.int64)


class _Fused(torch.autograd.Function):
    """The last ``width`` probabilities of the circuit whose stages are ``kinds`` with parameters
    ``params``: the product stage first (local quaternions (n, 4, L)), then diagonal phase
    angles (2^n,) and local quaternions, the final stage last."""

    @staticmethod
    def forward(ctx, n: int, width: int, kinds: Kinds, bsz: int,  # type: ignore[override]
                *params: torch.Tensor) -> torch.Tensor:
        if not kinds or kinds[0] != "local":
            raise ValueError("the fused engine's circuit starts with a local (product) stage")
        tile = tile_for(n)
        us = [p for k, p in zip(kinds, params, strict=True) if k == "local"]
        phis = [p for k, p in zip(kinds, params, strict=True) if k == "diag"]
        dtype = us[0].dtype
        phi = torch.stack(phis) if phis else us[0].new_zeros(0, 1 << n)
        code = np.array([0 if k == "diag" else 1 for k in kinds[1:]], dtype=np.int64)
        shared = np.array([q.shape[-1] == 1 for q in us], dtype=np.bool_)
        u = _tiles_last(torch.stack([q.expand(n, 4, bsz) for q in us]), tile)
        cph, sph = torch.cos(phi), torch.sin(phi)
        tiles = u.shape[0]
        probs = us[0].new_empty(tiles, width, tile)
        keep = any(ctx.needs_input_grad[4:])
        rows = _checkpoint_rows(n, width, kinds) if keep else np.zeros(0, dtype=np.int64)
        amp = _checkpoints.take((tiles, 2, rows.size, tile), dtype)
        saved = _checkpoints.take((tiles, max(len(us) - 2, 0), 2, 1 << n, tile) if keep else (tiles, 0, 2, 0, 0), dtype)
        _run("forward", tiles, n, code, shared, u.numpy(), cph.numpy(), sph.numpy(), probs.numpy(), rows,
             amp.numpy(), saved.numpy())
        if keep:
            ctx.save_for_backward(*params)
            ctx.state = (n, kinds, code, shared, u, cph, sph, rows, amp, saved, bsz)
        return _untile(probs, bsz).contiguous()

    @staticmethod
    def backward(ctx, grad_p: torch.Tensor):  # type: ignore[override]
        params = ctx.saved_tensors
        n, kinds, code, shared, u, cph, sph, rows, amp, saved, bsz = ctx.state
        ctx.state = None
        tiles = u.shape[0]
        gp = _tiles_last(grad_p.T, u.shape[-1])
        gu = _checkpoints.take(tuple(u.shape), u.dtype)
        gphi = u.new_empty(tiles, cph.shape[0], cph.shape[1])
        _run("backward", tiles, n, code, shared, u.numpy(), cph.numpy(), sph.numpy(), rows, amp.numpy(),
             saved.numpy(), gp.numpy(), gu.numpy(), gphi.numpy())
        gphi = gphi.sum(0)
        grads: list[torch.Tensor | None] = []
        li = di = 0
        for kind, p in zip(kinds, params, strict=True):
            if kind == "diag":
                grads.append(gphi[di].to(p.dtype) if p.requires_grad else None)
                di += 1
                continue
            g = gu[:, li]  # (tiles, n, 4, T); zero on the padding
            if p.shape[-1] == 1:  # shared by the batch: summed, straight from the tiles
                grads.append(g.sum((0, 3)).unsqueeze(-1))
            else:  # a copy in (n, 4, B): gu goes back to the buffers
                out = g.new_empty(n, 4, tiles, g.shape[-1])
                out.copy_(g.movedim(0, 2))
                grads.append(out.view(n, 4, -1)[..., :bsz])
            li += 1
        _checkpoints.give(amp, saved, gu)
        return (None, None, None, None, *grads)


@torch.compiler.disable  # numba's kernels are opaque to torch.compile: compile the rest around them
def probabilities_fused(n: int, width: int, stages: list[tuple[str, torch.Tensor]], bsz: int) -> torch.Tensor:
    """The last ``width`` basis-state probabilities (bsz, width) through the fused kernels, from
    the stages of :func:`stage_params` (a local stage's quaternions are (n, 4, bsz), or (n, 4, 1)
    when shared by the batch); differentiable in every stage tensor (see the module docstring)."""
    return _Fused.apply(n, width, tuple(k for k, _ in stages), bsz, *(t for _, t in stages))
