"""Hand-written backward pass of the statevector simulator (the adjoint method).

Why: autograd through :mod:`quinr.sim.statevector` records every small complex op (Kronecker
factors, batched GEMMs, layout swaps) and replays each with its own broadcasting reductions and
copies. The circuit is a product of unitaries, so every stage's gradient follows from the state
and the back-propagated ``G = dL/d conj(psi)`` on either side of it. For U = u_q (x) R,

    dL = 2 Re <G_out, dU psi_in> = 2 Re <G_in, (u_q^dag du_q (x) I) psi_in>
                                 = 2 Re <G_out, (du_q u_q^dag (x) I) psi_out>,   G_in = U^dag G_out,

so one 2x2 cross matrix per qubit, C_q[a, b] = sum_rest conj(G[a, rest]) psi[b, rest], taken on
either side, gives all of du_q. A local stage acts as four Kronecker factors on the index quarters
X1 X2 | Y1 Y2; X1 leads and Y2 trails the index on the input side, Y1 leads and X2 trails it on the
output side, so each cross matrix is one batched GEMM on a plain view of the state (no copies, no
partial traces of large matrices). A diagonal stage exp(i phi) gives dL/dphi = -2 Im sum_batch
conj(G) psi. The backward runs each local stage's adjoint once on G (the forward's fused GEMMs),
four small cross GEMMs and a few elementwise passes, and keeps only the input state of each local
stage (the forward's own working set); the states in between are recovered by un-applying the
diagonal phases.

Only the state-sized work lives here; the small maps from (h, theta) to the per-stage SU(2)
matrices, phases, product vectors and the final stage's rows stay with autograd (O(B * Nq)).

Gradients follow PyTorch's convention for complex inputs: the gradient of a complex z is
2 dL/d conj(z).
"""

from __future__ import annotations

import torch

from .statevector import _apply_local, _apply_rows, _groups, _swap_halves, outer, phase_pair

Kinds = tuple[tuple[str, bool], ...]


_PROJECTORS: dict[tuple[int, torch.dtype, str], torch.Tensor] = {}


def _traces(c: torch.Tensor, k: int) -> torch.Tensor:
    """Per-qubit partial traces of a group's cross matrices: (L, 2^k, 2^k) -> (L, k, 2, 2), as one
    small GEMM with a constant 0/1 projector (a chain of diagonal-and-sum reductions over such tiny
    axes costs several times more)."""
    key = (k, c.dtype, str(c.device))
    if key not in _PROJECTORS:
        d = 1 << k
        rows = torch.arange(d * d)
        i, j = rows // d, rows % d
        proj = torch.zeros(d * d, k, 2, 2)
        for q in range(k):
            shift = k - 1 - q
            same = ((i ^ j) & ~(1 << shift)) == 0  # every bit but q's agrees: on the trace
            proj[rows[same], q, (i[same] >> shift) & 1, (j[same] >> shift) & 1] = 1.0
        _PROJECTORS[key] = proj.reshape(d * d, 4 * k).to(device=c.device, dtype=c.dtype)
    return torch.matmul(c.reshape(c.shape[0], -1), _PROJECTORS[key]).reshape(c.shape[0], k, 2, 2)


def _edge_cross(g: torch.Tensor, psi: torch.Tensor, n: int, swapped: bool, shared: bool) -> dict[int, torch.Tensor]:
    """Cross matrices (L, 2, 2) of the qubits of the index's leading and trailing quarter in a
    layout, from G and psi in that layout (L = 1, summed over the batch, when ``shared``)."""
    a1, a2, b1, b2 = _groups(n)
    lead, trail = (b1, a2) if swapped else (a1, b2)
    bsz = g.shape[0]
    gc = torch.conj_physical(g)  # matmul is several times slower on lazily conjugated operands
    out: dict[int, torch.Tensor] = {}
    for (lo, hi), leading in ((lead, True), (trail, False)):
        if hi == lo:
            continue
        d = 1 << (hi - lo)
        if leading:
            c = torch.matmul(gc.reshape(bsz, d, -1), psi.reshape(bsz, d, -1).mT)
        else:
            c = torch.matmul(gc.reshape(bsz, -1, d).mT, psi.reshape(bsz, -1, d))
        if shared:
            c = c.sum(0, keepdim=True)
        out.update(zip(range(lo, hi), _traces(c, hi - lo).unbind(1), strict=True))
    return out


def _local_backward(g_out, psi_out, psi_in, u, n, s_out, shared):
    """Through one local stage: G at its input, the gradient of u (PyTorch's convention) and the
    input layout. Output-side qubits: 2 conj(C) u; input-side qubits: 2 u conj(C)."""
    c_out = _edge_cross(g_out, psi_out, n, s_out, shared)
    g_in, s_in = _apply_local(g_out, torch.conj_physical(u).transpose(-1, -2), n, s_out)
    c_in = _edge_cross(g_in, psi_in, n, s_in, shared)
    grad = torch.empty_like(u)
    out_q, in_q = sorted(c_out), sorted(c_in)
    if out_q:
        grad[:, out_q] = torch.matmul(torch.stack([c_out[q] for q in out_q], 1).conj(), u[:, out_q])
    if in_q:
        grad[:, in_q] = torch.matmul(u[:, in_q], torch.stack([c_in[q] for q in in_q], 1).conj())
    return g_in, 2 * grad, s_in


class _Circuit(torch.autograd.Function):
    """|amplitudes|^2 of the circuit (the last ``k`` of them in the rows form), from the
    product-state halves, the middle stages' tensors (diagonal phase angles, local SU(2)
    matrices) and the final stage: its matrices, or the rows (row_a, rows_b) of its last k
    amplitudes."""

    @staticmethod
    def forward(ctx, n: int, last: int | None, step: int, kinds: Kinds, rows: bool,  # type: ignore[override]
                va: torch.Tensor, vb: torch.Tensor, *params: torch.Tensor) -> torch.Tensor:
        mid, final = (params[:-2], params[-2:]) if rows else (params[:-1], params[-1:])
        phases = [phase_pair(t, n) if kind == "diag" else None for (kind, _), t in zip(kinds, mid, strict=True)]
        bsz = va.shape[0]
        width = (rows and final[1].shape[1]) or (1 << n if last is None else last)
        probs = torch.empty(bsz, width, dtype=va.real.dtype, device=va.device)
        ctx.chunks = []
        for start in range(0, bsz, step):
            sl = slice(start, start + step)
            states, amp = _forward_chunk(n, kinds, mid, final, rows, phases, va[sl], vb[sl], sl)
            probs[sl] = (amp[:, -width:] * amp[:, -width:].conj()).real
            ctx.chunks.append((states, amp))
        ctx.n, ctx.step, ctx.kinds, ctx.rows, ctx.phases, ctx.width = n, step, kinds, rows, phases, width
        ctx.save_for_backward(va, vb, *params)
        return probs

    @staticmethod
    def backward(ctx, grad_p: torch.Tensor):  # type: ignore[override]
        va, vb, *params = ctx.saved_tensors
        rows = ctx.rows
        mid, final = (params[:-2], params[-2:]) if rows else (params[:-1], params[-1:])
        grads: list[torch.Tensor | None] = [None] * len(params)
        gva, gvb = torch.empty_like(va), torch.empty_like(vb)
        for j, start in enumerate(range(0, va.shape[0], ctx.step)):
            sl = slice(start, start + ctx.step)
            states, amp = ctx.chunks[j]
            g_amp = torch.zeros_like(amp)
            g_amp[:, -ctx.width:] = grad_p[sl].to(amp.dtype) * amp[:, -ctx.width:]  # dL/d conj(amp)
            ga, gb, gp = _backward_chunk(ctx.n, ctx.kinds, mid, final, rows, ctx.phases, va[sl], vb[sl], sl,
                                         states, amp, g_amp)
            gva[sl], gvb[sl] = ga, gb
            for i, (g, t) in enumerate(zip(gp, params, strict=True)):
                if g is None:
                    continue
                if _batched(t):  # the rows of this chunk
                    if grads[i] is None:
                        grads[i] = torch.zeros_like(t)
                    grads[i][sl] = g  # type: ignore[index]
                else:
                    grads[i] = g if grads[i] is None else grads[i] + g
        ctx.chunks = ctx.phases = None
        return (None, None, None, None, None, gva, gvb, *grads)


def _batched(t: torch.Tensor) -> bool:
    """Whether a stage tensor has a row per coordinate (L = B), not one shared by all (L = 1)."""
    return t.ndim > 1 and t.shape[0] > 1


def _pick(t: torch.Tensor, sl: slice) -> torch.Tensor:
    """A stage tensor's rows for a chunk: batched tensors are sliced, shared ones kept."""
    return t[sl] if _batched(t) else t


def _forward_chunk(n, kinds, mid, final, rows, phases, va, vb, sl):
    """Run one chunk; keep the input state of every local stage (and of the final stage)."""
    psi = outer(va, vb)
    swapped = False
    states = []
    for i, (kind, _) in enumerate(kinds):
        if kind == "diag":
            psi = psi * phases[i][int(swapped)]
            continue
        states.append(psi)
        psi, swapped = _apply_local(psi, _pick(mid[i], sl), n, swapped)
    states.append(psi)
    if rows:
        return states, _apply_rows(psi, _pick(final[0], sl), _pick(final[1], sl), swapped)
    out, swapped = _apply_local(psi, _pick(final[0], sl), n, swapped)
    return states, (_swap_halves(out, 1 << (n - n // 2)) if swapped else out)


def _backward_chunk(n, kinds, mid, final, rows, phases, va, vb, sl, states, amp, g_amp):
    bsz = va.shape[0]
    s = sum(1 for k, _ in kinds if k == "local") % 2 == 1  # layout at the final stage's input
    psi = states[-1]
    grads: list[torch.Tensor | None] = [None] * (len(mid) + len(final))
    if rows:
        g, grads[-2], grads[-1] = _rows_backward(psi, _pick(final[0], sl), _pick(final[1], sl), s, g_amp)
    else:  # the whole final stage; the forward returned its output in the normal order
        def layout(x):  # normal order -> the stage's output layout
            return x if s else _swap_halves(x, 1 << (n // 2))

        u = _pick(final[0], sl)
        g, grads[-1], s = _local_backward(layout(g_amp), layout(amp), psi, u, n, not s, u.shape[0] == 1 and bsz > 1)
    k = len(states) - 1
    for i in range(len(kinds) - 1, -1, -1):
        kind, _ = kinds[i]
        if kind == "diag":
            if mid[i].requires_grad:  # psi is the diagonal stage's output
                ph = -2 * (g.conj() * psi).sum(0).imag
                grads[i] = _swap_halves(ph[None], 1 << (n - n // 2))[0] if s else ph
            conj_phase = phases[i][int(s)].conj()
            g, psi = g * conj_phase, psi * conj_phase
            continue
        k -= 1
        u = _pick(mid[i], sl)
        g, grads[i], s = _local_backward(g, psi, states[k], u, n, s, u.shape[0] == 1 and bsz > 1)
        psi = states[k]
    assert not s, "the product state is built in the normal layout"
    gm = g.reshape(bsz, va.shape[1], vb.shape[1])
    gva = 2 * torch.matmul(gm, vb.conj()[:, :, None])[:, :, 0]
    gvb = 2 * torch.matmul(gm.mT, va.conj()[:, :, None])[:, :, 0]
    return gva, gvb, grads


def _rows_backward(psi, row_a, rows_b, swapped, g_amp):
    """Backward of amp_j = (row_a (x) rows_b[j]) . psi: G at psi and the rows' gradients."""
    bsz = psi.shape[0]
    d_a, d_b = row_a.shape[-1], rows_b.shape[-1]
    shared = row_a.shape[0] == 1 and bsz > 1
    gb = torch.matmul(g_amp[:, None, :], rows_b.conj())  # (B, 1, dB): sum_j G_j conj(rows_b[j])
    if swapped:  # psi index (B, A)
        pm = psi.reshape(bsz, d_b, d_a)
        g = gb.mT * row_a.conj()  # (B, dB, dA)
        t = torch.matmul(rows_b, pm)  # (B, k, dA): rows_b[j] . psi
        s = torch.matmul(pm, row_a.mT)  # (B, dB, 1): psi . row_a
        grad_a = 2 * torch.matmul(g_amp[:, None, :], t.conj())
        grad_b = 2 * g_amp[:, :, None] * s.conj().mT
    else:
        pm = psi.reshape(bsz, d_a, d_b)
        g = row_a.conj().mT * gb  # (B, dA, dB)
        t = torch.matmul(pm, rows_b.mT)  # (B, dA, k)
        s = torch.matmul(row_a, pm)  # (B, 1, dB)
        grad_a = 2 * torch.matmul(g_amp[:, None, :], t.conj().mT)
        grad_b = 2 * g_amp[:, :, None] * s.conj()
    if shared:
        grad_a, grad_b = grad_a.sum(0, keepdim=True), grad_b.sum(0, keepdim=True)
    return g.reshape(bsz, -1), grad_a, grad_b


def probabilities_adjoint(n: int, last: int | None, step: int, kinds: Kinds, rows: bool,
                          va: torch.Tensor, vb: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
    """Probabilities with the hand-written backward (see the module docstring)."""
    return _Circuit.apply(n, last, step, kinds, rows, va, vb, *params)
