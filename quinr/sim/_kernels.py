"""The forward kernels of :mod:`.fused`: one tile of coordinates through the whole circuit.

Layout: a tile's state is planar, (2, 2^Nq, T): real and imaginary parts, basis state, then the
T coordinates of the tile innermost, so each gate is a loop of vector operations across the
coordinates, each with its own 2x2 matrix. Every per-coordinate array is tile-major, (tiles, ...,
T), so a tile's data is contiguous and indexed from 0: indices like ``offset + t`` into a whole
batch made LLVM gather the lanes one by one (it cannot prove them non-negative). A local stage
comes as (qubit, 4, T): the (Re a, Im a, Re b, Im b) of each matrix [[a, -conj(b)],
[b, conj(a)]], which the gates read as they are; diagonal stages come as the cosines and sines of
their phases.

The innermost loops are small functions of their own: numba compiles them to loops LLVM
vectorises (with a run-time check that the state and the matrix tile do not overlap); written
inline in the loop over tiles they stayed scalar. A tile needs at least a few vector widths
of coordinates (T >= 64) for the vector loop to be taken at all.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_OPTS = {"fastmath": True, "error_model": "numpy", "cache": True, "nogil": True}
#: for the small loops called once per row or block: inlined into their callers by numba itself
#: (left to LLVM, a call per row pair cost a fifth of the gradient sums' time)
_INLINE = {**_OPTS, "inline": "always"}


@njit(**_INLINE)
def _gate(st, r0, u, blk, s, width):
    """Apply the matrices [[a, -conj(b)], [b, conj(a)]] of u (4, T) = (Re a, Im a, Re b, Im b) per
    coordinate to the amplitude pairs (j, j + s), j in [blk, blk + s), of the state in rows r0
    (real) and r0 + 1 (imaginary). Reading the four reals, not the matrix's eight, halves the
    loads of the matrices, which bound these passes: it measured 2x faster."""
    for j in range(blk, blk + s):
        for t in range(width):
            _mix(st, r0, j, j + s, t, u[0, t], u[1, t], u[2, t], u[3, t])


@njit(**_INLINE)
def _gate_shared(st, r0, ar, ai, br, bi, blk, s, width):
    """:func:`_gate` with one matrix for every coordinate: its four reals stay in registers, so a
    pass loads only the state (a stage that reads theta alone, as the last one of the paper's
    circuit does)."""
    for j in range(blk, blk + s):
        for t in range(width):
            _mix(st, r0, j, j + s, t, ar, ai, br, bi)


@njit(**_INLINE)
def _mix(st, r0, j, k, t, ar, ai, br, bi):
    """(x, y) <- (a x - conj(b) y, b x + conj(a) y) for the amplitudes j, k of coordinate t."""
    r1 = r0 + 1
    xr, xi, yr, yi = st[r0, j, t], st[r1, j, t], st[r0, k, t], st[r1, k, t]
    st[r0, j, t] = ar * xr - ai * xi - br * yr - bi * yi
    st[r1, j, t] = ar * xi + ai * xr - br * yi + bi * yr
    st[r0, k, t] = br * xr - bi * xi + ar * yr + ai * yi
    st[r1, k, t] = br * xi + bi * xr + ar * yi - ai * yr


@njit(**_OPTS)
def _apply(st, r0, ul, q, n, width, ua, shared, adjoint):
    """One qubit's gates of a local stage ul (n, 4, T) (or their adjoints) on the state in rows
    r0, r0 + 1; ua (4, T) is scratch for the adjoints' quaternions (conj(a), -b)."""
    m = ul[q]
    if adjoint:
        for t in range(1 if shared else width):
            ua[0, t], ua[1, t], ua[2, t], ua[3, t] = m[0, t], -m[1, t], -m[2, t], -m[3, t]
        m = ua
    s = 1 << (n - 1 - q)
    if shared:
        for blk in range(0, 1 << n, 2 * s):
            _gate_shared(st, r0, m[0, 0], m[1, 0], m[2, 0], m[3, 0], blk, s, width)
    else:
        for blk in range(0, 1 << n, 2 * s):
            _gate(st, r0, m, blk, s, width)


@njit(**_INLINE)
def _phase(st, i, c, s, width):
    """Multiply amplitude i of every coordinate by c + i s."""
    for t in range(width):
        r, m = st[0, i, t], st[1, i, t]
        st[0, i, t] = c * r - s * m
        st[1, i, t] = c * m + s * r


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
def _local(st, ul, n, width, ua, shared):
    """One local stage: each qubit's matrices, one pass over the tile's state per qubit. (Applying
    the last few qubits block by block, so that a block stays in L1 between their gates, measured
    no faster: the passes are bound by arithmetic and loads of the matrices, not by L2.)"""
    for q in range(n):
        _apply(st, 0, ul, q, n, width, ua, shared, False)


@njit(**_OPTS)
def _halves(u0, n, va, vb, width):
    """The product stage's halves from its quaternions u0 (n, 4, T) (the stage acts on |0>, so
    qubit q is in (a, b), column 0 of its matrix): va = (x) of qubits 0..n//2-1, vb of the rest, each (re/im,
    2^k, T), qubit 0 the most significant bit."""
    _half(u0, 0, n // 2, va, width)
    _half(u0, n // 2, n, vb, width)


@njit(**_OPTS)
def _half(u0, q0, q1, v, width):
    for t in range(width):
        v[0, 0, t], v[1, 0, t] = 1.0, 0.0
    m = 1
    for q in range(q0, q1):
        for i in range(m - 1, -1, -1):
            _double(v, i, u0[q], width)
        m *= 2


@njit(**_INLINE)
def _double(v, i, uq, width):
    """v[2i] = v[i] a, v[2i + 1] = v[i] b (i descending, in place)."""
    for t in range(width):
        vr, vi, ar, ai, br, bi = v[0, i, t], v[1, i, t], uq[0, t], uq[1, t], uq[2, t], uq[3, t]
        v[0, 2 * i + 1, t], v[1, 2 * i + 1, t] = vr * br - vi * bi, vr * bi + vi * br
        v[0, 2 * i, t], v[1, 2 * i, t] = vr * ar - vi * ai, vr * ai + vi * ar


@njit(**_OPTS)
def _diagonal(st, c, s, width):
    """One diagonal stage: amplitude i of every coordinate times c[i] + i s[i]."""
    for i in range(st.shape[1]):
        _phase(st, i, c[i], s[i], width)


@njit(**_OPTS)
def _prefix(st, va, vb, kinds, cph, sph, width):
    """The tile's state before its first local stage after the product stage: the product state of
    the halves va, vb (:func:`_halves`) and the diagonal stages ahead of that local stage. Returns
    how many diagonal stages it applied."""
    _product(st, va, vb, width)
    di = 0
    for kind in kinds:
        if kind != 0:
            break
        _diagonal(st, cph[di], sph[di], width)
        di += 1
    return di


@njit(**_INLINE)
def _stage(ub, us, slot, j, li):
    """Local stage li's quaternions (n, 4, T) in tile j: its own per coordinate (slot >= 0, in ub)
    or those shared by the batch (slot < 0, in us)."""
    k = slot[li]
    return ub[j, k] if k >= 0 else us[-1 - k]


#: How the final stage is evaluated (``mode`` of :func:`forward` and :func:`._backward.backward`):
#: a pass per qubit over the state (DENSE); for few outputs of a per-coordinate final stage, the
#: same forward but a backward on those rows (SPARSE); for few outputs of a final stage shared by
#: the batch, as the outputs' rows of that stage's matrix, the same for every coordinate (ROWS).
DENSE, SPARSE, ROWS = 0, 1, 2


@njit(**_OPTS)
def forward(n, mode, kinds, slot, ub, us, cph, sph, probs, rows, amp, saved, first, stop):
    """Evolve tiles first..stop-1 and write their last probs.shape[1] probabilities (tile, width,
    T). The local stages' quaternions, the product stage first, are ub[tile, slot] (tile, stages
    per coordinate, n, 4, T) or, for slot < 0, us[-1 - slot] (stages shared by the batch, n, 4, T);
    kinds (0 diagonal, 1 local) are the stages after the product stage. When rows is not empty,
    also the backward's checkpoints: the final state's rows ``rows`` in amp (tile, 2, rows, T), and
    in saved (tile, local stages - 2, 2, 2^n, T) the state before each local stage after the first
    one that follows the product stage.

    In ``mode`` ROWS the final stage (shared, the last of kinds) is not applied: each output's
    amplitude is its row of that stage's matrix U (a product state, built once) dotted with the
    state before it, a pass over the state per output instead of one per qubit."""
    n_amp = 1 << n
    width, tile = probs.shape[1], probs.shape[2]
    keep = rows.shape[0] > 0
    dtype = probs.dtype
    st = np.empty((2, n_amp, tile), dtype)
    ua = np.empty((4, tile), dtype)
    va = np.empty((2, 1 << (n // 2), tile), dtype)
    vb = np.empty((2, 1 << (n - n // 2), tile), dtype)
    dot = np.empty((2, tile), dtype)
    last = kinds.shape[0] - 1 if mode == ROWS else kinds.shape[0]
    coef = output_rows(us, slot, n, width, mode, dtype)
    for j in range(first, stop):
        _halves(_stage(ub, us, slot, j, 0), n, va, vb, tile)
        di = _prefix(st, va, vb, kinds, cph, sph, tile)
        li = 1
        for s_idx in range(di, kinds.shape[0]):
            if kinds[s_idx] == 0:
                _diagonal(st, cph[di], sph[di], tile)
                di += 1
                continue
            if keep and li > 1:
                _copy(st, saved[j, li - 2])
            if s_idx == last:
                _row_products(st, coef, dot, probs[j], amp[j], keep)
                break
            _local(st, _stage(ub, us, slot, j, li), n, tile, ua, slot[li] < 0)
            li += 1
        if mode != ROWS:
            _probabilities(st, probs[j])
            if keep:
                _rows_out(st, rows, amp[j])


@njit(**_OPTS)
def output_rows(us, slot, n, width, mode, dtype):
    """In mode ROWS, conj(U[x, :]) of the last ``width`` rows x of the shared final stage's U
    ((width, 2, 2^n, 1): what both the forward's outputs and the backward's G before that stage
    are made of); else an empty array."""
    if mode != ROWS:
        return np.empty((0, 2, 0, 1), dtype)
    n_amp = 1 << n
    ul = us[-1 - slot[slot.shape[0] - 1]]
    coef = np.empty((width, 2, n_amp, 1), dtype)
    for w in range(width):
        coef[w, 0, 0, 0], coef[w, 1, 0, 0] = 1.0, 0.0
        _product_row(coef[w], ul, n, n_amp - width + w, 1)
    return coef


@njit(**_OPTS)
def _row_products(st, coef, dot, probs, amp, keep):
    """Each output's amplitude U[x, :] psi (coef[w] = conj(U[x, :])), summed in dot (2, T), and
    its probability; the amplitudes into amp (2, width, T) when keep."""
    tile = st.shape[2]
    for w in range(coef.shape[0]):
        dot[:] = 0.0
        for i in range(st.shape[1]):
            _dot_row(st, i, coef[w, 0, i, 0], coef[w, 1, i, 0], dot, tile)
        for t in range(tile):
            probs[w, t] = dot[0, t] * dot[0, t] + dot[1, t] * dot[1, t]
        if keep:
            for t in range(tile):
                amp[0, w, t] = dot[0, t]
                amp[1, w, t] = dot[1, t]


@njit(**_INLINE)
def _dot_row(st, i, cr, ci, dot, width):
    """dot += (cr - i ci) psi_i."""
    for t in range(width):
        pr, pi = st[0, i, t], st[1, i, t]
        dot[0, t] += cr * pr + ci * pi
        dot[1, t] += cr * pi - ci * pr


@njit(**_OPTS)
def _product_row(vec, ul, n, x, width):
    """vec[:, 0] times conj(U[x, :]) of the local stage ul (n, 4, T), U = (x) U_q, built qubit by
    qubit (qubit 0 the most significant bit) into vec (re/im, 2^n, width); vec[:, 0] holds the
    factor in front."""
    m = 1
    for q in range(n):
        for i in range(m - 1, -1, -1):
            _spread(vec, i, ul[q], (x >> (n - 1 - q)) & 1, width)
        m *= 2


@njit(**_INLINE)
def _spread(vec, i, uq, bit, width):
    """vec[2i + c] = vec[i] conj(U_q[bit, c]) for c = 0, 1 (i descending, in place), from the
    quaternion uq (4, T) of U_q = [[a, -conj(b)], [b, conj(a)]]: row 0 conjugated is
    (conj(a), -b), row 1 (conj(b), a)."""
    for t in range(width):
        vr, vi = vec[0, i, t], vec[1, i, t]
        ar, ai, br, bi = uq[0, t], uq[1, t], uq[2, t], uq[3, t]
        if bit:
            e0r, e0i, e1r, e1i = br, -bi, ar, ai
        else:
            e0r, e0i, e1r, e1i = ar, -ai, -br, -bi
        vec[0, 2 * i + 1, t], vec[1, 2 * i + 1, t] = vr * e1r - vi * e1i, vr * e1i + vi * e1r
        vec[0, 2 * i, t], vec[1, 2 * i, t] = vr * e0r - vi * e0i, vr * e0i + vi * e0r


@njit(**_OPTS)
def _probabilities(st, out):
    """|amplitude|^2 of the last out.shape[0] basis states."""
    first = st.shape[1] - out.shape[0]
    for w in range(out.shape[0]):
        for t in range(out.shape[1]):
            out[w, t] = st[0, first + w, t] * st[0, first + w, t] + st[1, first + w, t] * st[1, first + w, t]


@njit(**_OPTS)
def _rows_out(st, rows, dst):
    """dst[:, k] = st[:, rows[k]] (the real and imaginary rows)."""
    for r in range(2):
        for k in range(rows.shape[0]):
            i = rows[k]
            for t in range(st.shape[2]):
                dst[r, k, t] = st[r, i, t]


@njit(**_OPTS)
def _rows_in(src, rows, sg):
    """sg[:, rows[k]] = src[:, k] (the real and imaginary rows); the other rows are untouched."""
    for r in range(2):
        for k in range(rows.shape[0]):
            i = rows[k]
            for t in range(sg.shape[2]):
                sg[r, i, t] = src[r, k, t]


@njit(**_OPTS)
def _copy(src, dst):
    """dst[0:2] = src[0:2] (a state's real and imaginary rows)."""
    for r in range(2):
        for i in range(src.shape[1]):
            for t in range(src.shape[2]):
                dst[r, i, t] = src[r, i, t]
