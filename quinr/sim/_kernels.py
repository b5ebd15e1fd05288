"""The numba kernels of :mod:`.fused`: one tile of coordinates through the whole circuit.

Layout: a tile's state is planar, (2, 2^Nq, T): real and imaginary parts, basis state, then the
T coordinates of the tile innermost, so each gate is a loop of vector operations across the
coordinates, each with its own 2x2 matrix. A local stage comes as (stage, qubit, 4, batch): the
(Re a, Im a, Re b, Im b) of each matrix [[a, -conj(b)], [b, conj(a)]], expanded per tile by
:func:`_load` into its four complex entries u00, u01, u10, u11; diagonal stages come as the
cosines and sines of their phases.

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
def _load(u, li, q, b0, width, uu):
    """The tile's matrices [[a, -conj(b)], [b, conj(a)]] of qubit q in local stage li, from the
    (Re a, Im a, Re b, Im b) of u, into uu (entry, re/im, T)."""
    for t in range(width):
        ar, ai, br, bi = u[li, q, 0, b0 + t], u[li, q, 1, b0 + t], u[li, q, 2, b0 + t], u[li, q, 3, b0 + t]
        uu[0, 0, t], uu[0, 1, t], uu[1, 0, t], uu[1, 1, t] = ar, ai, -br, bi
        uu[2, 0, t], uu[2, 1, t], uu[3, 0, t], uu[3, 1, t] = br, bi, ar, -ai


@njit(**_OPTS)
def _gate(st, uu, blk, s, width):
    """Apply the 2x2 matrices to the amplitude pairs (j, j + s), j in [blk, blk + s)."""
    for j in range(blk, blk + s):
        k = j + s
        for t in range(width):
            xr, xi, yr, yi = st[0, j, t], st[1, j, t], st[0, k, t], st[1, k, t]
            st[0, j, t] = uu[0, 0, t] * xr - uu[0, 1, t] * xi + uu[1, 0, t] * yr - uu[1, 1, t] * yi
            st[1, j, t] = uu[0, 0, t] * xi + uu[0, 1, t] * xr + uu[1, 0, t] * yi + uu[1, 1, t] * yr
            st[0, k, t] = uu[2, 0, t] * xr - uu[2, 1, t] * xi + uu[3, 0, t] * yr - uu[3, 1, t] * yi
            st[1, k, t] = uu[2, 0, t] * xi + uu[2, 1, t] * xr + uu[3, 0, t] * yi + uu[3, 1, t] * yr


@njit(**_OPTS)
def _gate_back(sg, uu, blk, s, width):
    """On the pairs of a block, un-apply the matrices to the state sg[0:2] and apply their adjoint
    to G sg[2:4] (state and G share one array: fewer arrays, fewer run-time overlap checks, and
    the loop is vectorised)."""
    for j in range(blk, blk + s):
        k = j + s
        for t in range(width):
            u0r, u0i, u1r, u1i = uu[0, 0, t], uu[0, 1, t], uu[1, 0, t], uu[1, 1, t]
            u2r, u2i, u3r, u3i = uu[2, 0, t], uu[2, 1, t], uu[3, 0, t], uu[3, 1, t]
            xr, xi, yr, yi = sg[0, j, t], sg[1, j, t], sg[0, k, t], sg[1, k, t]
            gr, gi, hr, hi = sg[2, j, t], sg[3, j, t], sg[2, k, t], sg[3, k, t]
            sg[0, j, t] = u0r * xr + u0i * xi + u2r * yr + u2i * yi
            sg[1, j, t] = u0r * xi - u0i * xr + u2r * yi - u2i * yr
            sg[0, k, t] = u1r * xr + u1i * xi + u3r * yr + u3i * yi
            sg[1, k, t] = u1r * xi - u1i * xr + u3r * yi - u3i * yr
            sg[2, j, t] = u0r * gr + u0i * gi + u2r * hr + u2i * hi
            sg[3, j, t] = u0r * gi - u0i * gr + u2r * hi - u2i * hr
            sg[2, k, t] = u1r * gr + u1i * gi + u3r * hr + u3i * hi
            sg[3, k, t] = u1r * gi - u1i * gr + u3r * hi - u3i * hr


@njit(**_OPTS)
def _cross(sg, acc, blk, s, width):
    """Add the block's cross matrix C[a, c] = sum_pairs G_in[a] conj(psi_in[c]) of each coordinate
    to acc (4, 2, T). (Summed in the same loop as the update, it kept the loop scalar.)"""
    for j in range(blk, blk + s):
        k = j + s
        for t in range(width):
            pr, pi, qr, qi = sg[0, j, t], sg[1, j, t], sg[0, k, t], sg[1, k, t]
            gr, gi, hr, hi = sg[2, j, t], sg[3, j, t], sg[2, k, t], sg[3, k, t]
            acc[0, 0, t] += gr * pr + gi * pi
            acc[0, 1, t] += gi * pr - gr * pi
            acc[1, 0, t] += gr * qr + gi * qi
            acc[1, 1, t] += gi * qr - gr * qi
            acc[2, 0, t] += hr * pr + hi * pi
            acc[2, 1, t] += hi * pr - hr * pi
            acc[3, 0, t] += hr * qr + hi * qi
            acc[3, 1, t] += hi * qr - hr * qi


@njit(**_OPTS)
def _store_grad(gu, li, q, b0, uu, acc, width):
    """The gradient of (Re a, Im a, Re b, Im b) from that of the matrix, dL/du = 2 u C (G_out =
    u G_in): a enters u00 and conj(a) u11, b enters u10 and -conj(b) u01."""
    for t in range(width):
        u00, u01 = complex(uu[0, 0, t], uu[0, 1, t]), complex(uu[1, 0, t], uu[1, 1, t])
        u10, u11 = complex(uu[2, 0, t], uu[2, 1, t]), complex(uu[3, 0, t], uu[3, 1, t])
        c00, c01 = complex(acc[0, 0, t], acc[0, 1, t]), complex(acc[1, 0, t], acc[1, 1, t])
        c10, c11 = complex(acc[2, 0, t], acc[2, 1, t]), complex(acc[3, 0, t], acc[3, 1, t])
        g00, g01 = 2 * (u00 * c00 + u01 * c10), 2 * (u00 * c01 + u01 * c11)
        g10, g11 = 2 * (u10 * c00 + u11 * c10), 2 * (u10 * c01 + u11 * c11)
        gu[li, q, 0, b0 + t] = g00.real + g11.real
        gu[li, q, 1, b0 + t] = g00.imag - g11.imag
        gu[li, q, 2, b0 + t] = g10.real - g01.real
        gu[li, q, 3, b0 + t] = g10.imag + g01.imag


@njit(**_OPTS)
def _phase(st, r0, i, c, s, width):
    """Multiply amplitude i of every coordinate (real part in row r0, imaginary in r0 + 1) by
    c + i s."""
    for t in range(width):
        r, m = st[r0, i, t], st[r0 + 1, i, t]
        st[r0, i, t] = c * r - s * m
        st[r0 + 1, i, t] = c * m + s * r


@njit(**_OPTS)
def _phase_grad(sg, i, width):
    """sum over the tile of Im(conj(G_i) psi_i)."""
    acc = 0.0
    for t in range(width):
        acc += sg[2, i, t] * sg[1, i, t] - sg[3, i, t] * sg[0, i, t]
    return acc


@njit(**_OPTS)
def _product(st, va, vb, b0, width):
    """The product state va (x) vb of the tile's coordinates."""
    d_b = vb.shape[1]
    for ia in range(va.shape[1]):
        for ib in range(d_b):
            i = ia * d_b + ib
            for t in range(width):
                ar, ai = va[0, ia, b0 + t], va[1, ia, b0 + t]
                br, bi = vb[0, ib, b0 + t], vb[1, ib, b0 + t]
                st[0, i, t] = ar * br - ai * bi
                st[1, i, t] = ar * bi + ai * br


@njit(**_OPTS)
def _local(st, u, li, n, b0, width, uu):
    """One local stage: each qubit's matrices, one pass over the tile's state per qubit. (Applying
    the last few qubits block by block, so that a block stays in L1 between their gates, measured
    no faster: the passes are bound by arithmetic and loads of the matrices, not by L2.)"""
    for q in range(n):
        _load(u, li, q, b0, width, uu)
        s = 1 << (n - 1 - q)
        for blk in range(0, 1 << n, 2 * s):
            _gate(st, uu, blk, s, width)


@njit(**_OPTS)
def forward(n, kinds, va, vb, u, cph, sph, tile, probs, amp, first, stop):
    """Evolve tiles first..stop-1; write the last probs.shape[0] probabilities (width, B) and,
    when amp has room (2, 2^n, B), the final state."""
    n_amp = 1 << n
    width = probs.shape[0]
    for j in range(first, stop):
        b0 = j * tile
        st = np.empty((2, n_amp, tile), va.dtype)
        uu = np.empty((4, 2, tile), va.dtype)
        _product(st, va, vb, b0, tile)
        li = 0
        di = 0
        for kind in kinds:
            if kind == 0:
                for i in range(n_amp):
                    _phase(st, 0, i, cph[di, i], sph[di, i], tile)
                di += 1
            else:
                _local(st, u, li, n, b0, tile, uu)
                li += 1
        for w in range(width):
            i = n_amp - width + w
            for t in range(tile):
                probs[w, b0 + t] = st[0, i, t] * st[0, i, t] + st[1, i, t] * st[1, i, t]
        if amp.shape[1] == n_amp:
            for r in range(2):
                for i in range(n_amp):
                    for t in range(tile):
                        amp[r, i, b0 + t] = st[r, i, t]


@njit(**_OPTS)
def backward(n, kinds, va, vb, u, cph, sph, tile, amp, gp, gu, gphi, gva, gvb, first, stop):
    """The adjoint method on tiles first..stop-1 from the final state amp and dL/dp gp (width, B):
    the gradients of the quaternions gu (like u), of the diagonal phases per tile gphi (tiles,
    diagonal stages, 2^n) and of the product-state halves gva, gvb (like va, vb), in PyTorch's
    convention for complex values (2 dL/d conj)."""
    n_amp = 1 << n
    width = gp.shape[0]
    n_local = u.shape[0]
    n_diag = cph.shape[0]
    d_b = vb.shape[1]
    for j in range(first, stop):
        b0 = j * tile
        sg = np.zeros((4, n_amp, tile), va.dtype)  # psi (re, im), then G (re, im)
        uu = np.empty((4, 2, tile), va.dtype)
        acc = np.empty((4, 2, tile), va.dtype)
        for r in range(2):
            for i in range(n_amp):
                for t in range(tile):
                    sg[r, i, t] = amp[r, i, b0 + t]
        for w in range(width):  # G = dL/d conj(amp) = dL/dp amp
            i = n_amp - width + w
            for t in range(tile):
                sg[2, i, t] = gp[w, b0 + t] * sg[0, i, t]
                sg[3, i, t] = gp[w, b0 + t] * sg[1, i, t]
        li = n_local - 1
        di = n_diag - 1
        for s_idx in range(kinds.shape[0] - 1, -1, -1):
            if kinds[s_idx] == 0:
                for i in range(n_amp):
                    gphi[j, di, i] = -2.0 * _phase_grad(sg, i, tile)
                    _phase(sg, 0, i, cph[di, i], -sph[di, i], tile)
                    _phase(sg, 2, i, cph[di, i], -sph[di, i], tile)
                di -= 1
                continue
            for q in range(n - 1, -1, -1):
                _load(u, li, q, b0, tile, uu)
                acc[:] = 0.0
                s = 1 << (n - 1 - q)
                for blk in range(0, n_amp, 2 * s):
                    _gate_back(sg, uu, blk, s, tile)
                    _cross(sg, acc, blk, s, tile)
                _store_grad(gu, li, q, b0, uu, acc, tile)
            li -= 1
        # the product state: dL/d conj(va[a]) = sum_b G[a, b] conj(vb[b]), and so for vb
        for ia in range(va.shape[1]):
            for t in range(tile):
                gva[0, ia, b0 + t] = 0.0
                gva[1, ia, b0 + t] = 0.0
        for ib in range(d_b):
            for t in range(tile):
                gvb[0, ib, b0 + t] = 0.0
                gvb[1, ib, b0 + t] = 0.0
        for ia in range(va.shape[1]):
            for ib in range(d_b):
                i = ia * d_b + ib
                for t in range(tile):
                    gr, gi = sg[2, i, t], sg[3, i, t]
                    ar, ai = va[0, ia, b0 + t], va[1, ia, b0 + t]
                    br, bi = vb[0, ib, b0 + t], vb[1, ib, b0 + t]
                    gva[0, ia, b0 + t] += 2.0 * (gr * br + gi * bi)
                    gva[1, ia, b0 + t] += 2.0 * (gi * br - gr * bi)
                    gvb[0, ib, b0 + t] += 2.0 * (gr * ar + gi * ai)
                    gvb[1, ib, b0 + t] += 2.0 * (gi * ar - gr * ai)

