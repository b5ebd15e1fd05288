"""The backward kernels of :mod:`.fused`: the adjoint method on one tile of coordinates.

Same layout as :mod:`._kernels` (planar state, coordinates innermost, tile-major arrays). The
tile's psi and G = dL/d conj(psi) share one array (4, 2^Nq, T): rows 0-1 psi, rows 2-3 G, so the
loops that read both see two arrays, not three, and LLVM's overlap checks stay few enough for it
to vectorise them.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._kernels import (
    _INLINE,
    _OPTS,
    DENSE,
    ROWS,
    SPARSE,
    _apply,
    _copy,
    _halves,
    _local,
    _prefix,
    _product_row,
    _rows_in,
    _stage,
    output_rows,
)
from ._product import _half_grad, _lead_back, _product_grad, lead_phases


@njit(**_OPTS)
def backward(n, mode, kinds, slot, ub, us, cph, sph, rows, amp, saved, gp, gub, gus, gphi, first, stop):
    """The adjoint method on tiles first..stop-1 (arrays as for :func:`._kernels.forward`, with its
    ``mode``) from the final state's rows in amp, the checkpoints saved and dL/dp gp (tile, width,
    T) of the last ``width`` probabilities: the gradients of the quaternions, gub (like ub) and
    per tile summed over its coordinates gus (tile, shared stages, n, 4), and of the diagonal
    phases per tile gphi (tile, diagonal stages, 2^n).

    G is carried back stage by stage; psi is not un-applied through the local stages but taken from
    the checkpoints, and each local stage's gradients are read off psi and G after it. When only a few
    probabilities are differentiated, G after the final stage lives on those few basis states:
    that stage is done by :func:`_sparse_last_stage` (mode SPARSE, amp holding the rows it reads)
    or, shared by the batch, by :func:`_rows_last_stage` (mode ROWS, amp holding the outputs'
    amplitudes). From G before the first local stage after the product stage,
    :func:`._product._lead_back` goes through the diagonal stages ahead of it to the product
    stage's halves without building psi there; where that local stage is the ROWS final stage
    (or there is none), psi there is rebuilt (the product state and a few phases) and the product
    stage's gradients come from :func:`_product_grad`."""
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
    top = kinds.shape[0] - 1 if mode != DENSE else kinds.shape[0]
    vec = np.empty((2, n_amp if mode == SPARSE else 0, tile), dtype)
    g_out = np.empty((2, width, tile), dtype)
    coef = output_rows(us, slot, n, width, mode, dtype)
    mv = np.empty((2, n_amp if mode == ROWS else 0, width), dtype)
    va = np.empty((2, 1 << (n // 2), tile), dtype)
    vb = np.empty((2, 1 << (n - n // 2), tile), dtype)
    gva, gvb = np.empty_like(va), np.empty_like(vb)
    ph = np.empty((2, n_amp), dtype)
    n_lead = lead_phases(kinds, cph, sph, ph)
    lanes = np.empty((us.shape[0], n, 4, tile), dtype)  # the shared stages' gradients per coordinate
    sfx, wts = np.empty((2, 2 << (n - n // 2), tile), dtype), np.empty((2, 1 << (n - n // 2), tile), dtype)
    for j in range(first, stop):
        u0, gu0 = _stage(ub, us, slot, j, 0), _stage(gub, lanes, slot, j, 0)
        _halves(u0, n, va, vb, tile)
        _rows_in(amp[j], rows, sg)
        _seed(sg, gp[j], trace, mode != ROWS)
        li = n_local - 1
        di = n_diag - 1
        for s_idx in range(kinds.shape[0] - 1, -1, -1):
            if kinds[s_idx] == 0:
                for i in range(n_amp):
                    gphi[j, di, i] = -2.0 * _phase_back(sg, i, cph[di, i], sph[di, i], tile)
                di -= 1
                continue
            ul, gul = _stage(ub, us, slot, j, li), _stage(gub, lanes, slot, j, li)
            if s_idx == top and mode == ROWS:
                _outputs(sg, g_out)
                _before(sg, saved, j, li, va, vb, kinds, cph, sph, tile)
                _rows_last_stage(sg, coef, ul, gul, n, g_out, mv, ua)
                li -= 1
                continue
            if s_idx == top:
                _sparse_last_stage(sg, ul, gul, n, width, trace, acc, vec, g_out)
            else:
                _crosses(sg, gul, ul, n, trace, acc, tile)
                for q in range(n):
                    _apply(sg, 2, ul, q, n, tile, ua, slot[li] < 0, True)
            if li == 1:  # the first local stage after the product stage: on to the product state
                _lead_back(sg, va, vb, n_lead, ph, gphi[j], gva, gvb)
                break
            _before(sg, saved, j, li, va, vb, kinds, cph, sph, tile)
            li -= 1
        else:  # no local stage after the product stage, or it was the ROWS final stage
            _product_grad(sg, va, vb, gva, gvb)
        _half_grad(gva, u0, gu0, 0, n // 2, sfx, wts)
        _half_grad(gvb, u0, gu0, n // 2, n, sfx, wts)
        _lane_sums(lanes, gus[j])


@njit(**_OPTS)
def _lane_sums(lanes, out):
    """out (stages, n, 4) <- lanes (stages, n, 4, T) summed over the coordinates (in the kernel: as
    a torch reduction over the tile-major buffer's first and last axes it took 0.15 ms a step)."""
    for k in range(lanes.shape[0]):
        for q in range(lanes.shape[1]):
            for c in range(4):
                acc = lanes.dtype.type(0)
                for t in range(lanes.shape[3]):
                    acc += lanes[k, q, c, t]
                out[k, q, c] = acc


@njit(**_INLINE)
def _before(sg, saved, j, li, va, vb, kinds, cph, sph, tile):
    """psi (rows 0-1 of sg) <- the state before local stage li: its checkpoint, or before the
    first local stage after the product stage, the product state and the phases ahead of it."""
    if li > 1:
        _copy(saved[j, li - 2], sg)
    else:
        _prefix(sg, va, vb, kinds, cph, sph, tile)


@njit(**_OPTS)
def _outputs(sg, g_out):
    """g_out (2, width, T) <- G on the last ``width`` rows."""
    first = sg.shape[1] - g_out.shape[1]
    for w in range(g_out.shape[1]):
        for r in range(2):
            for t in range(sg.shape[2]):
                g_out[r, w, t] = sg[2 + r, first + w, t]


@njit(**_OPTS)
def _seed(sg, gp, trace, zero):
    """G = dL/d conj(psi) = dL/dp psi on the last gp.shape[0] basis states (zero elsewhere when
    ``zero``; not in mode ROWS, whose final stage reads G on those rows only and writes every row
    of G before it), and Re <G, psi> of each coordinate into trace."""
    n_amp, width = sg.shape[1], gp.shape[0]
    first = n_amp - width
    for i in range(first if zero else 0):
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
def _sparse_last_stage(sg, ul, gul, n, width, trace, acc, vec, g_out):
    """A per-coordinate final local stage's backward when G after it is zero but on the last
    ``width`` rows: the cross sums need only the pairs that touch those rows, and G before the
    stage, U^H G = sum over those rows x of G[x] conj(U[x, :]), is a sum of ``width`` product
    states (each built qubit by qubit in about 2^n complex products, against n passes over the
    state)."""
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
    _outputs(sg, g_out)
    for w in range(width):
        for t in range(tile):
            vec[0, 0, t] = g_out[0, w, t]
            vec[1, 0, t] = g_out[1, w, t]
        _product_row(vec, ul, n, first + w, tile)
        for i in range(n_amp):
            _add_row(sg, vec, i, tile, w > 0)


@njit(**_OPTS)
def _rows_last_stage(sg, coef, ul, gul, n, g_out, mv, ua):
    """The backward of a final local stage shared by the batch, evaluated as the outputs' rows of
    its matrix U (mode ROWS): from G after it on the outputs' rows x_w (g_out, (2, width, T)) and
    psi before it (rows 0-1 of sg), its quaternions' gradient summed over the tile into lane 0 of
    gul (the other lanes zero) and G before it into rows 2-3.

    The stage's K = sum over the tile of |psi_after><G| is U M X^H, M[:, w] = sum over coordinates
    of psi conj(G[x_w]) (one pass over psi, 2^n x width numbers) and X the outputs' basis states:
    so each qubit's 2x2 K_q is read off the width vectors U M[:, w] (those run through the stage
    once for the tile, in mv (2, 2^n, width)), on the rows x_w and x_w with qubit q's bit flipped.
    G before the stage is sum over w of G[x_w] conj(U[x_w, :]) (coef, built once)."""
    n_amp = 1 << n
    width, tile = g_out.shape[1], sg.shape[2]
    first = n_amp - width
    for i in range(n_amp):
        for w in range(width):
            mv[0, i, w], mv[1, i, w] = _dot_conj(sg, i, g_out, w, tile)
    _local(mv, ul, n, width, ua, True)
    tr = sg.dtype.type(0)
    for w in range(width):
        tr += mv[0, first + w, w]
    k = np.empty((3, 1), sg.dtype)
    total = np.full(1, tr, sg.dtype)
    for q in range(n):
        bit = 1 << (n - 1 - q)
        k[:] = 0.0
        for w in range(width):  # K_q(a, c) += U M[x_w with bit q = a, w] where c is x_w's bit
            x = first + w
            r0, i0, r1, i1 = mv[0, x & ~bit, w], mv[1, x & ~bit, w], mv[0, x | bit, w], mv[1, x | bit, w]
            if x & bit:  # column c = 1: K01 = (r0, i0), K11 = (r1, i1)
                k[0, 0] -= i1
                k[1, 0] += r0
                k[2, 0] += i0
            else:  # column c = 0: K00 = (r0, i0), K10 = (r1, i1)
                k[0, 0] += i0
                k[1, 0] -= r1
                k[2, 0] += i1
        _store_grad(gul[q], ul[q], total, k, 1)
        gul[q, :, 1:] = 0.0
    for i in range(n_amp):  # each row of G written once, its terms summed in cache
        for w in range(width):
            _add_scaled(sg, i, g_out, w, coef[w, 0, i, 0], coef[w, 1, i, 0], tile, w > 0)


@njit(**_INLINE)
def _dot_conj(sg, i, g_out, w, width):
    """sum over the tile of psi_i conj(g_out[w])."""
    re = sg.dtype.type(0)
    im = sg.dtype.type(0)
    for t in range(width):
        pr, pi, cr, ci = sg[0, i, t], sg[1, i, t], g_out[0, w, t], g_out[1, w, t]
        re += pr * cr + pi * ci
        im += pi * cr - pr * ci
    return re, im


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
