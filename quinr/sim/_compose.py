"""The numba kernels of :class:`.fused._Compose`: the fused single-qubit runs of the local stages
as quaternions, written straight into the kernels' tile-major layout, and their backward to the
gates' angles.

The arithmetic is that of :meth:`.su2.Runs.matrices` (which the torch engine uses): per gate of
the common sequence, one update of (Re a, Im a, Re b, Im b). Each gate reads its angle's cosine
and sine where they are: a row of h's column (per coordinate) or one theta entry (a scalar for
the tile), so no (gates, stages, qubits, B) tensor of angles is gathered, and the gaps of the
common sequence are skipped instead of applied as identities. The backward adds each gate's
angle gradient into h's column and theta's entry itself (the scatter autograd would otherwise do
over that gathered tensor). The cosines and sines come from torch's vectorised functions
(numba's would be scalar library calls here).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._kernels import _INLINE, _OPTS


@njit(**_OPTS)
def compose(rx, src, m, cx, sx, ct, st, out, first, stop):
    """Tiles first..stop-1 of out (tile, stage, qubit, 4, T): the fused run of each stage and
    qubit, the first gate acting on the identity. Gate r of the common sequence (rx[r]: RX, else
    RZ) reads src[r, stage, qubit]: below 0 no gate, below m h's column (cosines and sines of the
    half angles cx, sx (tile, m, T)), else theta's entry src - m (those of theta's half angles,
    ct, st (n_theta,)).
    RX: a' = c a - i s b, b' = c b - i s a; RZ: a' = e^(-i t/2) a, b' = e^(i t/2) b."""
    tile = out.shape[4]
    cb, sb = np.empty(tile, out.dtype), np.empty(tile, out.dtype)
    for j in range(first, stop):
        for s in range(src.shape[1]):
            for q in range(src.shape[2]):
                u = out[j, s, q]
                for t in range(tile):
                    u[0, t], u[1, t], u[2, t], u[3, t] = 1.0, 0.0, 0.0, 0.0
                for r in range(src.shape[0]):
                    v = src[r, s, q]
                    if v < 0:
                        continue
                    if v < m:
                        _rotate(rx[r], cx[j, v], sx[j, v], u)
                    else:
                        cb[:], sb[:] = ct[v - m], st[v - m]
                        _rotate(rx[r], cb, sb, u)


@njit(**_INLINE)
def _rotate(rx, c, s, q):
    if rx:
        for t in range(q.shape[1]):
            ar, ai, br, bi = q[0, t], q[1, t], q[2, t], q[3, t]
            q[0, t], q[1, t] = c[t] * ar + s[t] * bi, c[t] * ai - s[t] * br
            q[2, t], q[3, t] = c[t] * br + s[t] * ai, c[t] * bi - s[t] * ar
    else:
        for t in range(q.shape[1]):
            ar, ai, br, bi = q[0, t], q[1, t], q[2, t], q[3, t]
            q[0, t], q[1, t] = c[t] * ar + s[t] * ai, c[t] * ai - s[t] * ar
            q[2, t], q[3, t] = c[t] * br - s[t] * bi, c[t] * bi + s[t] * br


@njit(**_OPTS)
def compose_grad(rx, src, m, cx, sx, ct, st, out, gout, gx, gth, first, stop):
    """The backward of :func:`compose` on tiles first..stop-1: from the quaternions out and their
    gradient gout (tile, stage, qubit, 4, T), the gradient of each gate's half angle added into
    h's column, gx (tile, m, T), or theta's entry, gth (tile, n_theta) (both zeroed here). Each run is
    walked back from its end, its gates un-applied in scratch rows (a gate's 4x4 real form is a
    rotation, so its transpose undoes it), so no partial product is stored and no input written."""
    tile = out.shape[4]
    q, g = np.empty((4, tile), out.dtype), np.empty((4, tile), out.dtype)
    cb, sb, ga = np.empty(tile, out.dtype), np.empty(tile, out.dtype), np.empty(tile, out.dtype)
    for j in range(first, stop):
        gx[j] = 0.0
        gth[j] = 0.0
        for s in range(src.shape[1]):
            for qb in range(src.shape[2]):
                q[:] = out[j, s, qb]
                g[:] = gout[j, s, qb]
                for r in range(src.shape[0] - 1, -1, -1):
                    v = src[r, s, qb]
                    if v < 0:
                        continue
                    if v < m:
                        _rotate_back(rx[r], cx[j, v], sx[j, v], q, g, ga)
                        _add(gx[j, v], ga)
                    else:
                        cb[:], sb[:] = ct[v - m], st[v - m]
                        _rotate_back(rx[r], cb, sb, q, g, ga)
                        gth[j, v - m] += ga.sum()


@njit(**_INLINE)
def _add(dst, src):
    for t in range(dst.shape[0]):
        dst[t] += src[t]


@njit(**_INLINE)
def _rotate_back(rx, c, s, q, g, ga):
    """Un-apply one gate to q and to the gradient g, and write the gradient of its half angle x
    into ga: as a map of the four reals a gate is q' = (c I + s J) q (c, s = cos x, sin x) with J
    antisymmetric and J^2 = -I, so q = (c I - s J) q' and the gradient before it is (c I - s J) g.
    dL/dx = c dL/ds - s dL/dc with dL/dc = g . q and dL/ds = g . J q (q before the gate)."""
    if rx:  # J (ar, ai, br, bi) = (bi, -br, ai, -ar)
        for t in range(q.shape[1]):
            ar, ai, br, bi = q[0, t], q[1, t], q[2, t], q[3, t]
            gr, gi, hr, hi = g[0, t], g[1, t], g[2, t], g[3, t]
            ct, st = c[t], s[t]
            pr, pi, qr, qi = ct * ar - st * bi, ct * ai + st * br, ct * br - st * ai, ct * bi + st * ar
            dc = gr * pr + gi * pi + hr * qr + hi * qi
            ds = gr * qi - gi * qr + hr * pi - hi * pr
            ga[t] = ct * ds - st * dc
            q[0, t], q[1, t], q[2, t], q[3, t] = pr, pi, qr, qi
            g[0, t], g[1, t] = ct * gr - st * hi, ct * gi + st * hr
            g[2, t], g[3, t] = ct * hr - st * gi, ct * hi + st * gr
    else:  # J (ar, ai, br, bi) = (ai, -ar, -bi, br)
        for t in range(q.shape[1]):
            ar, ai, br, bi = q[0, t], q[1, t], q[2, t], q[3, t]
            gr, gi, hr, hi = g[0, t], g[1, t], g[2, t], g[3, t]
            ct, st = c[t], s[t]
            pr, pi, qr, qi = ct * ar - st * ai, ct * ai + st * ar, ct * br + st * bi, ct * bi - st * br
            dc = gr * pr + gi * pi + hr * qr + hi * qi
            ds = gr * pi - gi * pr - hr * qi + hi * qr
            ga[t] = ct * ds - st * dc
            q[0, t], q[1, t], q[2, t], q[3, t] = pr, pi, qr, qi
            g[0, t], g[1, t] = ct * gr - st * gi, ct * gi + st * gr
            g[2, t], g[3, t] = ct * hr + st * hi, ct * hi - st * hr
