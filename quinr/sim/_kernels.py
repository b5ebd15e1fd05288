"""The forward kernels of :mod:`.fused`: one tile of coordinates through the whole circuit.

Layout: a tile's state is planar, (2, 2^Nq, T): real and imaginary parts, basis state, then the
T coordinates of the tile innermost, so each gate is a loop of vector operations across the
coordinates, each with its own 2x2 matrix. Every per-coordinate array is tile-major, (tiles, ...,
T), so a tile's data is contiguous and indexed from 0: indices like ``offset + t`` into a whole
batch made LLVM gather the lanes one by one (it cannot prove them non-negative). A local stage
comes as (stage, qubit, 4, T): the (Re a, Im a, Re b, Im b) of each matrix [[a, -conj(b)],
[b, conj(a)]], expanded by :func:`_load` into its four complex entries u00, u01, u10, u11;
diagonal stages come as the cosines and sines of their phases.

The innermost loops are small functions of their own: numba compiles them to loops LLVM
vectorises (with a run-time check that the state and the matrix tile do not overlap); written
inline in the loop over tiles they stayed scalar. A tile needs at least a few vector widths
of coordinates (T >= 64) for the vector loop to be taken at all.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_OPTS = {"fastmath": True, "error_model": "numpy", "cache": True, "nogil": True}


@njit(**_OPTS)
def _load(u, li, q, width, uu):
    """The tile's matrices [[a, -conj(b)], [b, conj(a)]] of qubit q in local stage li, from the
    (Re a, Im a, Re b, Im b) of the tile's u (stage, qubit, 4, T), into uu (entry, re/im, T)."""
    for t in range(width):
        ar, ai, br, bi = u[li, q, 0, t], u[li, q, 1, t], u[li, q, 2, t], u[li, q, 3, t]
        uu[0, 0, t], uu[0, 1, t], uu[1, 0, t], uu[1, 1, t] = ar, ai, -br, bi
        uu[2, 0, t], uu[2, 1, t], uu[3, 0, t], uu[3, 1, t] = br, bi, ar, -ai


@njit(**_OPTS)
def _gate(st, r0, uu, blk, s, width):
    """Apply the 2x2 matrices to the amplitude pairs (j, j + s), j in [blk, blk + s), of the state
    in rows r0 (real) and r0 + 1 (imaginary)."""
    r1 = r0 + 1
    for j in range(blk, blk + s):
        k = j + s
        for t in range(width):
            xr, xi, yr, yi = st[r0, j, t], st[r1, j, t], st[r0, k, t], st[r1, k, t]
            st[r0, j, t] = uu[0, 0, t] * xr - uu[0, 1, t] * xi + uu[1, 0, t] * yr - uu[1, 1, t] * yi
            st[r1, j, t] = uu[0, 0, t] * xi + uu[0, 1, t] * xr + uu[1, 0, t] * yi + uu[1, 1, t] * yr
            st[r0, k, t] = uu[2, 0, t] * xr - uu[2, 1, t] * xi + uu[3, 0, t] * yr - uu[3, 1, t] * yi
            st[r1, k, t] = uu[2, 0, t] * xi + uu[2, 1, t] * xr + uu[3, 0, t] * yi + uu[3, 1, t] * yr


@njit(**_OPTS)
def _gate_shared(st, r0, m, blk, s, width):
    """:func:`_gate` with one matrix m (entry, re/im) for every coordinate: its eight reals stay in
    registers, so a pass loads only the state (a stage that reads theta alone, as the last one
    of the paper's circuit does)."""
    r1 = r0 + 1
    m0r, m0i, m1r, m1i, m2r, m2i, m3r, m3i = m[0, 0], m[0, 1], m[1, 0], m[1, 1], m[2, 0], m[2, 1], m[3, 0], m[3, 1]
    for j in range(blk, blk + s):
        k = j + s
        for t in range(width):
            xr, xi, yr, yi = st[r0, j, t], st[r1, j, t], st[r0, k, t], st[r1, k, t]
            st[r0, j, t] = m0r * xr - m0i * xi + m1r * yr - m1i * yi
            st[r1, j, t] = m0r * xi + m0i * xr + m1r * yi + m1i * yr
            st[r0, k, t] = m2r * xr - m2i * xi + m3r * yr - m3i * yi
            st[r1, k, t] = m2r * xi + m2i * xr + m3r * yi + m3i * yr


@njit(**_OPTS)
def _apply(st, r0, u, li, q, n, width, uu, shared, adjoint):
    """One qubit's gates of local stage li (or their adjoints) on the state in rows r0, r0 + 1."""
    if shared:
        _load(u, li, q, 1, uu)
        if adjoint:
            _conjugate_transpose(uu)
        s = 1 << (n - 1 - q)
        for blk in range(0, 1 << n, 2 * s):
            _gate_shared(st, r0, uu[:, :, 0], blk, s, width)
        return
    if adjoint:
        _load_adjoint(u, li, q, width, uu)
    else:
        _load(u, li, q, width, uu)
    s = 1 << (n - 1 - q)
    for blk in range(0, 1 << n, 2 * s):
        _gate(st, r0, uu, blk, s, width)


@njit(**_OPTS)
def _conjugate_transpose(uu):
    """The first matrix of uu replaced by its adjoint."""
    u01r, u01i = uu[1, 0, 0], uu[1, 1, 0]
    uu[1, 0, 0], uu[1, 1, 0] = uu[2, 0, 0], -uu[2, 1, 0]
    uu[2, 0, 0], uu[2, 1, 0] = u01r, -u01i
    uu[0, 1, 0] = -uu[0, 1, 0]
    uu[3, 1, 0] = -uu[3, 1, 0]


@njit(**_OPTS)
def _load_adjoint(u, li, q, width, uu):
    """Like :func:`_load`, the adjoints [[conj(a), conj(b)], [-b, a]]."""
    for t in range(width):
        ar, ai, br, bi = u[li, q, 0, t], u[li, q, 1, t], u[li, q, 2, t], u[li, q, 3, t]
        uu[0, 0, t], uu[0, 1, t], uu[1, 0, t], uu[1, 1, t] = ar, -ai, br, -bi
        uu[2, 0, t], uu[2, 1, t], uu[3, 0, t], uu[3, 1, t] = -br, -bi, ar, ai


@njit(**_OPTS)
def _phase(st, r0, i, c, s, width):
    """Multiply amplitude i of every coordinate (real part in row r0, imaginary in r0 + 1) by
    c + i s."""
    for t in range(width):
        r, m = st[r0, i, t], st[r0 + 1, i, t]
        st[r0, i, t] = c * r - s * m
        st[r0 + 1, i, t] = c * m + s * r


@njit(**_OPTS)
def _product(st, va, vb, width):
    """The product state va (x) vb of the tile's coordinates (va, vb: (re/im, 2^k, T))."""
    d_b = vb.shape[1]
    for ia in range(va.shape[1]):
        for ib in range(d_b):
            i = ia * d_b + ib
            for t in range(width):
                ar, ai = va[0, ia, t], va[1, ia, t]
                br, bi = vb[0, ib, t], vb[1, ib, t]
                st[0, i, t] = ar * br - ai * bi
                st[1, i, t] = ar * bi + ai * br


@njit(**_OPTS)
def _local(st, u, li, n, width, uu, shared):
    """One local stage: each qubit's matrices, one pass over the tile's state per qubit. (Applying
    the last few qubits block by block, so that a block stays in L1 between their gates, measured
    no faster: the passes are bound by arithmetic and loads of the matrices, not by L2.)"""
    for q in range(n):
        _apply(st, 0, u, li, q, n, width, uu, shared, False)


@njit(**_OPTS)
def _prefix(st, va, vb, kinds, cph, sph, width):
    """The tile's state before the first local stage: the product state and the diagonal stages
    ahead of that local stage. Returns how many diagonal stages it applied."""
    _product(st, va, vb, width)
    di = 0
    for kind in kinds:
        if kind != 0:
            break
        for i in range(st.shape[1]):
            _phase(st, 0, i, cph[di, i], sph[di, i], width)
        di += 1
    return di


@njit(**_OPTS)
def forward(n, kinds, shared, va, vb, u, cph, sph, probs, amp, saved, first, stop):
    """Evolve tiles first..stop-1 and write their last probs.shape[1] probabilities (tile, width,
    T); when amp has room (tile, 2, 2^n, T), the final state too and, in saved (tile, local
    stages - 1, 2, 2^n, T), the state before each local stage after the first (the backward's
    checkpoints)."""
    n_amp = 1 << n
    tile = va.shape[3]
    keep = amp.shape[2] == n_amp
    st = np.empty((2, n_amp, tile), va.dtype)
    uu = np.empty((4, 2, tile), va.dtype)
    for j in range(first, stop):
        uj = u[j]
        di = _prefix(st, va[j], vb[j], kinds, cph, sph, tile)
        li = 0
        for s_idx in range(di, kinds.shape[0]):
            if kinds[s_idx] == 0:
                for i in range(n_amp):
                    _phase(st, 0, i, cph[di, i], sph[di, i], tile)
                di += 1
                continue
            if keep and li > 0:
                _copy(st, saved[j, li - 1])
            _local(st, uj, li, n, tile, uu, shared[li])
            li += 1
        _probabilities(st, probs[j])
        if keep:
            _copy(st, amp[j])


@njit(**_OPTS)
def _probabilities(st, out):
    """|amplitude|^2 of the last out.shape[0] basis states."""
    first = st.shape[1] - out.shape[0]
    for w in range(out.shape[0]):
        for t in range(out.shape[1]):
            out[w, t] = st[0, first + w, t] * st[0, first + w, t] + st[1, first + w, t] * st[1, first + w, t]


@njit(**_OPTS)
def _copy(src, dst):
    """dst[0:2] = src[0:2] (a state's real and imaginary rows)."""
    for r in range(2):
        for i in range(src.shape[1]):
            for t in range(src.shape[2]):
                dst[r, i, t] = src[r, i, t]
