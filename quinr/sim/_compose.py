"""The numba kernels of :class:`.fused._Compose`: the fused single-qubit runs of the local stages
as quaternions, and their backward to the gates' angles.

The arithmetic is that of :meth:`.su2.Runs.matrices` (which the torch engine uses): per gate
of the common sequence, one elementwise update of (Re a, Im a, Re b, Im b) over all stages,
qubits and coordinates. Written as kernels, a training step's composition and its backward are
two calls instead of hundreds of small autograd nodes; the cosines and sines come from torch's
vectorised functions (numba's would be scalar library calls here).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._kernels import _OPTS


@njit(**_OPTS)
def compose(rx, c, s, out):
    """The fused runs' quaternions out (k, 4, L) from the cosines and sines of the half angles
    c, s (rows, k, L) of a common gate sequence (rx[r]: RX, else RZ), the first gate acting on the
    identity: RX: a' = c a - i s b, b' = c b - i s a; RZ: a' = e^(-i t/2) a, b' = e^(i t/2) b."""
    for kk in range(out.shape[0]):
        q = out[kk]
        for t in range(q.shape[1]):
            q[0, t], q[1, t], q[2, t], q[3, t] = 1.0, 0.0, 0.0, 0.0
        for r in range(rx.shape[0]):
            _rotate(rx[r], c[r, kk], s[r, kk], q)


@njit(**_OPTS)
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
def compose_grad(rx, c, s, out, gq, gangle):
    """The backward of :func:`compose`: from the quaternions out and their gradient gq (k, 4, L),
    each gate's angle gradient gangle (rows, k, L). The runs are walked back from the end, each
    gate un-applied (its 4x4 real form is a rotation, so the transpose undoes it), so no partial
    product is stored; each run is walked in scratch rows, so neither input is written."""
    q = np.empty(out.shape[1:], out.dtype)
    g = np.empty(out.shape[1:], out.dtype)
    for kk in range(out.shape[0]):
        q[:] = out[kk]
        g[:] = gq[kk]
        for r in range(rx.shape[0] - 1, -1, -1):
            _rotate_back(rx[r], c[r, kk], s[r, kk], q, g, gangle[r, kk])


@njit(**_OPTS)
def _rotate_back(rx, c, s, q, g, ga):
    """Un-apply one gate to q and to the gradient g: as a map of the four reals a gate is
    q' = (c I + s J) q with J antisymmetric and J^2 = -I, so q = (c I - s J) q' and the gradient
    before it is (c I - s J) g. dL/dt = (c dL/ds - s dL/dc) / 2 with dL/dc = g . q and
    dL/ds = g . J q (q before the gate)."""
    if rx:  # J (ar, ai, br, bi) = (bi, -br, ai, -ar)
        for t in range(q.shape[1]):
            ar, ai, br, bi = q[0, t], q[1, t], q[2, t], q[3, t]
            gr, gi, hr, hi = g[0, t], g[1, t], g[2, t], g[3, t]
            ct, st = c[t], s[t]
            pr, pi, qr, qi = ct * ar - st * bi, ct * ai + st * br, ct * br - st * ai, ct * bi + st * ar
            dc = gr * pr + gi * pi + hr * qr + hi * qi
            ds = gr * qi - gi * qr + hr * pi - hi * pr
            ga[t] = 0.5 * (ct * ds - st * dc)
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
            ga[t] = 0.5 * (ct * ds - st * dc)
            q[0, t], q[1, t], q[2, t], q[3, t] = pr, pi, qr, qi
            g[0, t], g[1, t] = ct * gr - st * gi, ct * gi + st * gr
            g[2, t], g[3, t] = ct * hr + st * hi, ct * hi - st * hr
