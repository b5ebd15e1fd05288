"""The backward kernels of :mod:`.fused`: the adjoint method on one tile of coordinates.

Same layout as :mod:`._kernels` (planar state, coordinates innermost, tile-major arrays). The
tile's psi and G = dL/d conj(psi) share one array (4, 2^Nq, T): rows 0-1 psi, rows 2-3 G, so the
loops that read both see two arrays, not three, and LLVM's overlap checks stay few enough for it
to vectorise them.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._kernels import _INLINE, _OPTS, _apply, _copy, _halves, _prefix, _rows_in, _stage
from ._product import _half_grad, _product_grad


@njit(**_OPTS)
def backward(n, kinds, slot, ub, us, cph, sph, rows, amp, saved, gp, gub, gus, gphi, first, stop):
    """The adjoint method on tiles first..stop-1 (arrays as for :func:`._kernels.forward`) from the
    final state's rows in amp, the checkpoints saved and dL/dp gp (tile, width, T) of the last
    ``width`` probabilities: the gradients of the quaternions, gub (like ub) and per tile gus
    (tile, shared stages, n, 4, T), and of the diagonal phases per tile gphi (tile, diagonal
    stages, 2^n).

    G is carried back stage by stage; psi is not un-applied through the local stages but taken from
    the checkpoints (or, before the first local stage, recomputed: the product state and a few
    phases), and each local stage's gradients are read off psi and G after it. When the circuit
    ends in a local stage and only a few probabilities are differentiated, G after it lives on
    those few basis states: that stage is done by :func:`_sparse_last_stage`, which the caller
    asks for by keeping only the final-state rows it reads (fewer than 2^n ``rows``). The
    product stage's gradients come from G before it, through its halves (:func:`_product_grad`)."""
    n_amp = 1 << n
    tile = gp.shape[2]
    n_local = slot.shape[0]
    n_diag = cph.shape[0]
    dtype = gp.dtype
    sg = np.empty((4, n_amp, tile), dtype)  # psi (re, im), then G (re, im)
    ua = np.empty((4, tile), dtype)
    acc = np.empty((9, tile), dtype)
    trace = np.empty(tile, dtype)  # Re <G, psi>: unchanged by the unitary stages
    width = gp.shape[1]
    sparse = rows.shape[0] < n_amp
    vec = np.empty((2, n_amp if sparse else 0, tile), dtype)
    g_out = np.empty((2, width, tile), dtype)
    va = np.empty((2, 1 << (n // 2), tile), dtype)
    vb = np.empty((2, 1 << (n - n // 2), tile), dtype)
    gva, gvb = np.empty_like(va), np.empty_like(vb)
    sfx, wts = np.empty((2, 2 << (n - n // 2), tile), dtype), np.empty((2, 1 << (n - n // 2), tile), dtype)
    for j in range(first, stop):
        u0, gu0 = _stage(ub, us, slot, j, 0), _stage(gub, gus[j], slot, j, 0)
        _halves(u0, n, va, vb, tile)
        _rows_in(amp[j], rows, sg)
        _seed(sg, gp[j], trace)
        li = n_local - 1
        di = n_diag - 1
        for s_idx in range(kinds.shape[0] - 1, -1, -1):
            if kinds[s_idx] == 0:
                for i in range(n_amp):
                    gphi[j, di, i] = -2.0 * _phase_back(sg, i, cph[di, i], sph[di, i], tile)
                di -= 1
                continue
            ul, gul, shared = _stage(ub, us, slot, j, li), _stage(gub, gus[j], slot, j, li), slot[li] < 0
            if s_idx == kinds.shape[0] - 1 and sparse:
                _sparse_last_stage(sg, ul, gul, n, width, trace, acc, vec, g_out, shared)
            else:
                _crosses(sg, gul, ul, n, trace, acc, tile)
                for q in range(n):
                    _apply(sg, 2, ul, q, n, tile, ua, shared, True)
            if li > 1:
                _copy(saved[j, li - 2], sg)
            else:
                _prefix(sg, va, vb, kinds, cph, sph, tile)
            li -= 1
        _product_grad(sg, va, vb, gva, gvb)
        _half_grad(gva, u0, gu0, 0, n // 2, sfx, wts)
        _half_grad(gvb, u0, gu0, n // 2, n, sfx, wts)


@njit(**_OPTS)
def _seed(sg, gp, trace):
    """G = dL/d conj(psi) = dL/dp psi on the last gp.shape[0] basis states (zero elsewhere), and
    Re <G, psi> of each coordinate into trace."""
    n_amp, width = sg.shape[1], gp.shape[0]
    first = n_amp - width
    for i in range(first):
        for t in range(sg.shape[2]):
            sg[2, i, t] = 0.0
            sg[3, i, t] = 0.0
    for w in range(width):
        for t in range(sg.shape[2]):
            sg[2, first + w, t] = gp[w, t] * sg[0, first + w, t]
            sg[3, first + w, t] = gp[w, t] * sg[1, first + w, t]
    for t in range(sg.shape[2]):
        trace[t] = 0.0
    for w in range(width):
        _trace_row(sg, first + w, trace)


@njit(**_INLINE)
def _trace_row(sg, i, trace):
    for t in range(sg.shape[2]):
        trace[t] += sg[2, i, t] * sg[0, i, t] + sg[3, i, t] * sg[1, i, t]


@njit(**_INLINE)
def _phase_back(sg, i, c, s, width):
    """One diagonal phase c + i s on amplitude i, backward in one pass: returns the tile's sum of
    Im(conj(G_i) psi_i) (the phase's gradient is -2 that) and un-applies the phase to psi and G.
    (The sum starts from a zero of the state's type: a Python 0.0 would make it float64 and
    convert every lane; so for every constant in these loops.)"""
    acc = sg.dtype.type(0)
    for t in range(width):
        pr, pi, gr, gi = sg[0, i, t], sg[1, i, t], sg[2, i, t], sg[3, i, t]
        acc += gr * pi - gi * pr
        sg[0, i, t] = c * pr + s * pi
        sg[1, i, t] = c * pi - s * pr
        sg[2, i, t] = c * gr + s * gi
        sg[3, i, t] = c * gi - s * gr
    return acc


@njit(**_OPTS)
def _crosses(sg, gul, ul, n, trace, acc, width):
    """Every qubit's gradient in a dense local stage, from psi and G after it (sg) and the three
    sums of :func:`_cross` per qubit: a pass over the state per qubit, but for the last three
    qubits (strides 4, 2, 1) block by block, so eight consecutive amplitudes of psi and G are read
    from L2 once and stay in L1 for the three qubits' sums, each summing four pairs per loop
    (measured 2.6x faster for those three qubits than a pass each; acc (9, T))."""
    n_amp = 1 << n
    passes = n - 3 if n >= 3 else n  # below three qubits, a pass for each
    for q in range(passes):
        acc[:3] = 0.0
        s = 1 << (n - 1 - q)
        for blk in range(0, n_amp, 2 * s):
            _cross(sg, acc, blk, s, width)
        _store_grad(gul[q], ul[q], trace, acc, width)
    if passes == n:
        return
    acc[:] = 0.0
    for i in range(0, n_amp, 8):
        _cross4(sg, acc, 0, i, i + 1, i + 2, i + 3, 4, width)
        _cross4(sg, acc, 3, i, i + 1, i + 4, i + 5, 2, width)
        _cross4(sg, acc, 6, i, i + 2, i + 4, i + 6, 1, width)
    for g in range(3):
        _store_grad(gul[n - 3 + g], ul[n - 3 + g], trace, acc[3 * g : 3 * g + 3], width)


@njit(**_INLINE)
def _cross4(sg, acc, r, j0, j1, j2, j3, s, width):
    """:func:`_cross_pair` for the four pairs (j, j + s), j = j0..j3, into acc rows r..r+2."""
    k0, k1, k2, k3 = j0 + s, j1 + s, j2 + s, j3 + s
    for t in range(width):
        x0, y0, z0 = _pair(sg, j0, k0, t)
        x1, y1, z1 = _pair(sg, j1, k1, t)
        x2, y2, z2 = _pair(sg, j2, k2, t)
        x3, y3, z3 = _pair(sg, j3, k3, t)
        acc[r, t] += (x0 + x1) + (x2 + x3)
        acc[r + 1, t] += (y0 + y1) + (y2 + y3)
        acc[r + 2, t] += (z0 + z1) + (z2 + z3)


@njit(**_INLINE)
def _pair(sg, j, k, t):
    """One pair's shares of the three sums of :func:`_cross_pair` at coordinate t."""
    pr, pi, rr, ri = sg[0, j, t], sg[1, j, t], sg[0, k, t], sg[1, k, t]
    gr, gi, hr, hi = sg[2, j, t], sg[3, j, t], sg[2, k, t], sg[3, k, t]
    return (pi * gr - pr * gi - ri * hr + rr * hi, pr * hr + pi * hi - rr * gr - ri * gi,
            pi * hr - pr * hi + ri * gr - rr * gi)


@njit(**_OPTS)
def _cross(sg, acc, blk, s, width):
    """Add a block's share of the three reals of K = Tr_(other qubits) |psi><G| (psi in rows 0-1, G
    in rows 2-3, pairs (j, j + s)) that a quaternion's gradient needs beside the trace:
    Im(K00 - K11), Re(K01 - K10), Im(K01 + K10), into acc (3, T)."""
    for j in range(blk, blk + s):
        _cross_pair(sg, acc, j, j + s, width)


@njit(**_INLINE)
def _cross_pair(sg, acc, j, k, width):
    for t in range(width):
        x, y, z = _pair(sg, j, k, t)
        acc[0, t] += x
        acc[1, t] += y
        acc[2, t] += z


@njit(**_OPTS)
def _store_grad(gq, uq, trace, acc, width):
    """The gradient gq (4, T) of one qubit's (Re a, Im a, Re b, Im b), uq (4, T), in a local
    stage.

    With psi and G = dL/d conj(psi) both taken after the stage, dL = 2 Re Tr(dU U^H K) for
    K = Tr_(other qubits) |psi><G| (the stage's gates commute, so each can be taken as the last).
    Only K's quaternion part [[alpha, -conj(beta)], [beta, conj(alpha)]] reaches the four reals:
    alpha = (Re Tr K + i Im(K00 - K11)) / 2, beta = (-Re(K01 - K10) + i Im(K01 + K10)) / 2, and
    Re Tr K = Re <G, psi> is the same for every qubit and stage (``trace``). The gradient is
    4 (Re x, -Im x, -Re y, -Im y) for the quaternion (x, y) = U^H (alpha, beta), written out in
    reals of the state's type (xr + i xi and yr + i yi below are 2x and 2y)."""
    for t in range(width):
        ar, ai, br, bi = uq[0, t], uq[1, t], uq[2, t], uq[3, t]
        tr, k0, k1, k2 = trace[t], acc[0, t], acc[1, t], acc[2, t]
        xr = ar * tr + ai * k0 - br * k1 + bi * k2
        xi = ar * k0 - ai * tr + br * k2 + bi * k1
        yr = -ar * k1 - ai * k2 - br * tr + bi * k0
        yi = ar * k2 - ai * k1 - br * k0 - bi * tr
        gq[0, t] = xr + xr
        gq[1, t] = -(xi + xi)
        gq[2, t] = -(yr + yr)
        gq[3, t] = -(yi + yi)


@njit(**_OPTS)
def _sparse_last_stage(sg, ul, gul, n, width, trace, acc, vec, g_out, shared):
    """The final local stage's backward when G after it is zero but on the last ``width`` rows:
    the cross sums need only the pairs that touch those rows, and G before the stage,
    U^H G = sum over those rows x of G[x] conj(U[x, :]), is a sum of ``width`` product states
    (each built qubit by qubit in about 2^n complex products, against n passes over the state;
    for a shared stage the product states are the same numbers for every coordinate, built once)."""
    n_amp = 1 << n
    first = n_amp - width
    tile = sg.shape[2]
    for q in range(n):
        acc[:3] = 0.0
        s = 1 << (n - 1 - q)
        for x in range(first, n_amp):
            if x & s == 0:
                _cross_pair(sg, acc, x, x + s, tile)
            elif x - s < first:
                _cross_pair(sg, acc, x - s, x, tile)
        _store_grad(gul[q], ul[q], trace, acc, tile)
    for w in range(width):
        for r in range(2):
            for t in range(tile):
                g_out[r, w, t] = sg[2 + r, first + w, t]
    if shared:  # conj(U[x, :]) is the same for every coordinate: built once, in column 0
        coef = np.empty((width, 2, n_amp, 1), sg.dtype)
        for w in range(width):
            coef[w, 0, 0, 0], coef[w, 1, 0, 0] = 1.0, 0.0
            _product_row(coef[w], ul, n, first + w, 1)
        for i in range(n_amp):  # each row of G written once, its terms summed in cache
            for w in range(width):
                _add_scaled(sg, i, g_out, w, coef[w, 0, i, 0], coef[w, 1, i, 0], tile, w > 0)
        return
    for w in range(width):
        for t in range(tile):
            vec[0, 0, t] = g_out[0, w, t]
            vec[1, 0, t] = g_out[1, w, t]
        _product_row(vec, ul, n, first + w, tile)
        for i in range(n_amp):
            _add_row(sg, vec, i, tile, w > 0)


@njit(**_OPTS)
def _product_row(vec, ul, n, x, width):
    """vec[:, 0] times conj(U[x, :]) of the local stage ul (n, 4, T), U = (x) U_q, built qubit by qubit (qubit 0
    the most significant bit) into vec (re/im, 2^n, width); vec[:, 0] holds the factor in front."""
    m = 1
    for q in range(n):
        for i in range(m - 1, -1, -1):
            _spread(vec, i, ul[q], (x >> (n - 1 - q)) & 1, width)
        m *= 2


@njit(**_INLINE)
def _add_scaled(sg, i, g_out, w, cr, ci, width, add):
    """G_i += (cr + i ci) g_out[w], or G_i = that when not add (G's rows are written, not zeroed
    first and added to)."""
    if add:
        for t in range(width):
            gr, gi = g_out[0, w, t], g_out[1, w, t]
            sg[2, i, t] += cr * gr - ci * gi
            sg[3, i, t] += cr * gi + ci * gr
    else:
        for t in range(width):
            gr, gi = g_out[0, w, t], g_out[1, w, t]
            sg[2, i, t] = cr * gr - ci * gi
            sg[3, i, t] = cr * gi + ci * gr


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


@njit(**_INLINE)
def _add_row(sg, vec, i, width, add):
    """G_i += vec[:, i], or G_i = vec[:, i] when not add."""
    if add:
        for t in range(width):
            sg[2, i, t] += vec[0, i, t]
            sg[3, i, t] += vec[1, i, t]
    else:
        for t in range(width):
            sg[2, i, t] = vec[0, i, t]
            sg[3, i, t] = vec[1, i, t]
