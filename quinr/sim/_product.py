"""The product state's gradients for :mod:`._backward`: from G at the product state (the first
stage acting on |0...0>, built from two halves) to the first stage's quaternions.

Same layout as :mod:`._kernels` (planar, coordinates innermost). G reaches the product state as
a 2^n vector; the halves' gradients are G contracted with the other half's conjugate, and each
qubit's gradient is its half's gradient contracted with the other qubits' conjugate factors.
"""

from __future__ import annotations

from numba import njit

from ._kernels import _INLINE, _OPTS


@njit(**_OPTS)
def lead_phases(kinds, cph, sph, ph):
    """The number of diagonal stages ahead of the first local stage after the product stage, and
    the conjugate of their total phase per basis state into ph (2, 2^n): the same for every tile
    (taken once a kernel call, for :func:`_lead_back`)."""
    n_lead = 0
    while n_lead < kinds.shape[0] and kinds[n_lead] == 0:
        n_lead += 1
    for i in range(ph.shape[1]):
        c, s = ph.dtype.type(1), ph.dtype.type(0)
        for d in range(n_lead):
            c, s = c * cph[d, i] - s * sph[d, i], c * sph[d, i] + s * cph[d, i]
        ph[0, i], ph[1, i] = c, -s
    return n_lead


@njit(**_OPTS)
def _lead_back(sg, va, vb, n_lead, ph, gphi, gva, gvb):
    """The backward from G before the first local stage after the product stage (rows 2-3 of sg)
    to the product state: through the diagonal stages between them and into the halves'
    gradients gva, gvb (as :func:`_product_grad`), without building psi there.

    Why: psi there is the product state times those stages' phases, so it is made on the fly from
    the halves, and since conj(G) psi is the same on either side of a diagonal stage, each of
    those stages' phase gradient (-2 the tile's sum of Im(conj(G_i) psi_i), into gphi (stages,
    2^n)) is one and the same, read off G with the phases taken out and the product state. That
    replaces building psi, a pass that un-applies each stage's phases from psi and G, and a
    separate pass of the product-state gradient (n_lead stages, ph the conjugate of their total
    phase: :func:`lead_phases`)."""
    d_b = vb.shape[1]
    gva[:] = 0.0
    gvb[:] = 0.0
    for ia in range(va.shape[1]):
        for ib in range(d_b):
            i = ia * d_b + ib
            im = _unphase(sg, i, ph[0, i], ph[1, i], va, ia, vb, ib, gva)
            for d in range(n_lead):
                gphi[d, i] = -2.0 * im
    for ib in range(d_b):
        for ia in range(va.shape[1]):
            _accumulate(gvb, ib, sg, ia * d_b + ib, va, ia)


@njit(**_INLINE)
def _unphase(sg, i, c, s, va, ia, vb, ib, gva):
    """G_i <- (c + i s) G_i in place; gva[ia] += G_i conj(vb[ib]); returns the tile's sum of
    Im(conj(G_i) va[ia] vb[ib])."""
    acc = sg.dtype.type(0)
    for t in range(sg.shape[2]):
        gr, gi = sg[2, i, t], sg[3, i, t]
        xr, xi = c * gr - s * gi, c * gi + s * gr
        sg[2, i, t], sg[3, i, t] = xr, xi
        ar, ai, br, bi = va[0, ia, t], va[1, ia, t], vb[0, ib, t], vb[1, ib, t]
        pr, pi = ar * br - ai * bi, ar * bi + ai * br
        acc += xr * pi - xi * pr
        gva[0, ia, t] += xr * br + xi * bi
        gva[1, ia, t] += xi * br - xr * bi
    return acc


@njit(**_OPTS)
def _product_grad(sg, va, vb, gva, gvb):
    """From G at the product state: dL/d conj(va[a]) = sum_b G[a, b] conj(vb[b]), and so for vb
    (:func:`_half_grad` doubles them, PyTorch's convention). Each sum runs with its output row
    fixed (one loop nest per half: measured 2x faster than both updated in one)."""
    d_b = vb.shape[1]
    gva[:] = 0.0
    gvb[:] = 0.0
    for ia in range(va.shape[1]):
        for ib in range(d_b):
            _accumulate(gva, ia, sg, ia * d_b + ib, vb, ib)
    for ib in range(d_b):
        for ia in range(va.shape[1]):
            _accumulate(gvb, ib, sg, ia * d_b + ib, va, ia)


@njit(**_INLINE)
def _accumulate(out, o, sg, i, v, iv):
    """out[:, o] += G_i conj(v[:, iv])."""
    for t in range(v.shape[2]):
        gr, gi, vr, vi = sg[2, i, t], sg[3, i, t], v[0, iv, t], v[1, iv, t]
        out[0, o, t] += gr * vr + gi * vi
        out[1, o, t] += gi * vr - gr * vi


@njit(**_OPTS)
def _half_grad(gv, u0, gu0, q0, q1, sfx, wts):
    """The product stage's quaternion gradients of qubits q0..q1-1 (k of them) from their half's
    gradient gv (2^k entries, dL/d conj each, doubled here: PyTorch's convention). Qubit q's
    (a, b) gets, for c = 0, 1, the sum over the entries e whose bit of q is c of gv[e] times the
    conjugates of the other qubits' factors of e; (Re a, Im a) and (Re b, Im b) are real pairs, so
    their gradients are its real and imaginary parts.

    Leave-one-out by prefix and suffix: sfx holds gv with its last qubits contracted, level by
    level (level j, 2^j entries over the first j qubits, from offset 2^j - 1); qubit q's sums are
    level q + 1 contracted with the products of the earlier qubits' factors, wts, built one qubit
    at a time. About 3 2^k complex products for the whole half, against k^2 2^k entry by entry."""
    k = q1 - q0
    width = gv.shape[2]
    top = (1 << k) - 1
    for e in range(1 << k):
        for t in range(width):
            sfx[0, top + e, t] = gv[0, e, t] + gv[0, e, t]
            sfx[1, top + e, t] = gv[1, e, t] + gv[1, e, t]
    for j in range(k - 1, -1, -1):  # contract qubit q0 + j, the last of level j + 1
        for e in range(1 << j):
            _contract(sfx, (1 << j) - 1 + e, (2 << j) - 1 + 2 * e, u0[q0 + j], width)
    for t in range(width):
        wts[0, 0, t], wts[1, 0, t] = 1.0, 0.0
    for i in range(k):
        lvl = (2 << i) - 1  # level i + 1: qubits q0..q0+i, q0+i the last
        for c in range(2):
            for t in range(width):
                gu0[q0 + i, 2 * c, t] = 0.0
                gu0[q0 + i, 2 * c + 1, t] = 0.0
            for h in range(1 << i):
                _weighted(gu0[q0 + i], 2 * c, sfx, lvl + 2 * h + c, wts, h, width)
        for h in range((1 << i) - 1, -1, -1):  # the weights of the first i + 1 qubits, in place
            _double_conj(wts, h, u0[q0 + i], width)


@njit(**_INLINE)
def _contract(v, o, i, uq, width):
    """v[o] = v[i] conj(a) + v[i + 1] conj(b) of the quaternion uq (4, T)."""
    for t in range(width):
        xr, xi, yr, yi = v[0, i, t], v[1, i, t], v[0, i + 1, t], v[1, i + 1, t]
        ar, ai, br, bi = uq[0, t], uq[1, t], uq[2, t], uq[3, t]
        v[0, o, t] = xr * ar + xi * ai + yr * br + yi * bi
        v[1, o, t] = xi * ar - xr * ai + yi * br - yr * bi


@njit(**_INLINE)
def _weighted(g, c0, v, i, wts, h, width):
    """(g[c0], g[c0 + 1]) += v[i] wts[h] as complex numbers."""
    for t in range(width):
        xr, xi, wr, wi = v[0, i, t], v[1, i, t], wts[0, h, t], wts[1, h, t]
        g[c0, t] += xr * wr - xi * wi
        g[c0 + 1, t] += xr * wi + xi * wr


@njit(**_INLINE)
def _double_conj(v, i, uq, width):
    """v[2i] = v[i] conj(a), v[2i + 1] = v[i] conj(b) (i descending, in place)."""
    for t in range(width):
        vr, vi, ar, ai, br, bi = v[0, i, t], v[1, i, t], uq[0, t], uq[1, t], uq[2, t], uq[3, t]
        v[0, 2 * i + 1, t], v[1, 2 * i + 1, t] = vr * br + vi * bi, vi * br - vr * bi
        v[0, 2 * i, t], v[1, 2 * i, t] = vr * ar + vi * ai, vi * ar - vr * ai
