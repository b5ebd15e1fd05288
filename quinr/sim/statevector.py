"""Exact, batched, differentiable statevector simulation of a :class:`CircuitSpec`.

Why this is fast (it is the training engine and the reference decoder):

* The circuit alternates between *local* stages (runs of RX/RZ on single qubits: the folded
  embedding and the RZ/RX halves of the entangling layers) and *diagonal* stages (all CRZ of a
  layer plus the RZ that follows them, which commute and form one phase per basis state).
* A local stage is fused into one SU(2) matrix per qubit (per coordinate where it depends on
  data), tracked as four real numbers. The index bits are split into halves A | B and quarters
  A1 A2 | B1 B2. For a per-coordinate stage, with the state viewed as a (batch, 2^a1, rest)
  matrix, K_A1 (the Kronecker product of A1's matrices) is one batched GEMM from the left and
  K_B2 one from the right; swapping the halves (one transpose) brings B1 and A2 to the outside
  for two more. Quarter-size factors are cheap to build and need the fewest flops (2^Nq * 4 per
  quarter and coordinate). A stage shared by the batch (theta only) uses whole-half factors, which
  cost nothing to build, as two GEMMs over the flattened batch. The layout flips with each swap
  and is undone once at the end.
* A diagonal stage is one elementwise phase ``exp(i * phi)`` shared by the whole batch, with
  ``phi`` computed from the angles in O(2^Nq * Nq).
* The first stage acts on |0...0>, so its result is a product state built by outer products.
* When only the last k probabilities are wanted (the model's outputs), the final local stage is
  reduced to the k rows of the Kronecker product it needs.
* The batch is processed in chunks of at most ``chunk_amplitudes`` amplitudes, which bounds memory
  and keeps the working set in cache.

Everything is plain torch on complex64 (complex128 when h is float64: the decoder's precision), so
autograd gives exact gradients for h and theta, and it runs wherever the input tensors live (CPU
or CUDA).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..circuit import CircuitSpec, basis_bits
from .su2 import GateRow, Runs

#: Default bound on amplitudes per chunk (batch x 2^Nq): 2^18 complex64 = 2 MiB per state buffer.
DEFAULT_CHUNK_AMPLITUDES = 1 << 18


@dataclass(frozen=True)
class _Local:
    rows: tuple[GateRow, ...]


@dataclass(frozen=True)
class _Diag:
    crz: torch.Tensor  # (C,) long indices into theta
    rz: torch.Tensor  # (Nq,) long indices into theta


def _compile(spec: CircuitSpec) -> list[_Local | _Diag]:
    """Turn the spec into alternating local and diagonal stages (see module docstring)."""
    n, m = spec.n_qubits, spec.embed_dim
    stages: list[_Local | _Diag] = []
    pending: list[GateRow] = []

    def theta_row(name: str, sl: slice) -> GateRow:
        return GateRow(name, "theta", torch.arange(sl.start, sl.stop), None)

    for r in range(spec.reuploads):
        perm = spec.permutation(r)
        for fold in range(spec.folds):
            slots = [fold * n + q for q in range(n)]
            idx = torch.tensor([perm[s] if s < m else 0 for s in slots])
            valid = [s < m for s in slots]
            mask = None if all(valid) else torch.tensor(valid, dtype=torch.float32)
            pending.append(GateRow("RX" if fold % 2 == 0 else "RZ", "h", idx, mask))
        for e in range(spec.layers):
            off = spec.layer_offsets(r * spec.layers + e)
            pending += [theta_row("RZ", off["rz_a"]), theta_row("RX", off["rx_a"])]
            stages.append(_Local(tuple(pending)))
            stages.append(
                _Diag(torch.arange(off["crz"].start, off["crz"].stop), torch.arange(off["rz_b"].start, off["rz_b"].stop))
            )
            pending = [theta_row("RX", off["rx_b"])]
    stages.append(_Local(tuple(pending)))
    return stages


class _Constants:
    """Per (spec, device) tensors: compiled stages and the diagonal generator matrices."""

    def __init__(self, spec: CircuitSpec, device: torch.device, dtype: torch.dtype = torch.float32) -> None:
        n = spec.n_qubits
        self.stages = [_to_device(s, device, dtype) for s in _compile(spec)]
        bits = torch.from_numpy(basis_bits(n)).to(device, dtype)
        self.bits = bits
        self.z_gen = bits - 0.5  # RZ(t) on qubit q: phase t * (bit_q - 1/2)
        self.ctrl = torch.tensor([p[0] for p in spec.pairs], dtype=torch.long, device=device)
        self.targ = torch.tensor([p[1] for p in spec.pairs], dtype=torch.long, device=device)
        local = [(i, st.rows) for i, st in enumerate(self.stages) if isinstance(st, _Local)]
        self.groups = []  # (stage indices, their fused runs): the stages that read h, and the rest
        for batched in (True, False):
            part = [(i, rows) for i, rows in local if any(r.source == "h" for r in rows) == batched]
            if part:
                runs = Runs([rows for _, rows in part], n, spec.embed_dim, spec.n_theta, batched, device)
                self.groups.append(([i for i, _ in part], runs))

    def diag_phase(self, crz: torch.Tensor, rz: torch.Tensor) -> torch.Tensor:
        """Phase per basis state of all CRZ(crz) of a layer followed by RZ(rz) on every qubit.

        CRZ(t) on (c, j) contributes t * bit_c * (bit_j - 1/2). With T[c, j] = t this sums to
        sum_c bit_c * ((bits - 1/2) @ T^T)[c]; memory stays O(2^Nq * Nq) for any Nq.
        """
        n = self.bits.shape[1]
        phase = self.z_gen @ rz
        if crz.numel():
            t = torch.zeros(n, n, dtype=crz.dtype, device=crz.device).index_put((self.ctrl, self.targ), crz)
            phase = phase + (self.bits * (self.z_gen @ t.T)).sum(1)
        return phase


def _to_device(stage: _Local | _Diag, device: torch.device, dtype: torch.dtype) -> _Local | _Diag:
    if isinstance(stage, _Diag):
        return _Diag(stage.crz.to(device), stage.rz.to(device))
    return _Local(
        tuple(
            GateRow(r.name, r.source, r.index.to(device), None if r.mask is None else r.mask.to(device, dtype))
            for r in stage.rows
        )
    )


_CACHE: dict[tuple[CircuitSpec, str, torch.dtype], _Constants] = {}


def _constants(spec: CircuitSpec, device: torch.device, dtype: torch.dtype) -> _Constants:
    key = (spec, str(device), dtype)
    if key not in _CACHE:
        if len(_CACHE) > 32:
            _CACHE.clear()
        _CACHE[key] = _Constants(spec, device, dtype)
    return _CACHE[key]


# --------------------------------------------------------------------------------- local stages
def _kron(mats: torch.Tensor) -> torch.Tensor:
    """Batched Kronecker product over axis -3: (..., k, r, c) -> (..., r^k, c^k), factor 0 most
    significant, as a balanced tree of pairwise products (few large intermediate tensors).
    Leading dimensions are batch dimensions, so several groups can be built in one call."""
    if mats.shape[-3] == 0:  # an empty group (a half of a one-qubit circuit): the 1x1 identity
        return mats.new_ones(*mats.shape[:-3], 1, 1)
    factors = [mats[..., q, :, :] for q in range(mats.shape[-3])]
    while len(factors) > 1:
        nxt = [_kron2(factors[i], factors[i + 1]) for i in range(0, len(factors) - 1, 2)]
        if len(factors) % 2:
            nxt.append(factors[-1])
        factors = nxt
    return factors[0]


def _kron2(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Kronecker product of two batches of matrices (..., r1, c1) and (..., r2, c2)."""
    r1, c1 = x.shape[-2:]
    r2, c2 = y.shape[-2:]
    out = x[..., :, None, :, None] * y[..., None, :, None, :]
    return out.reshape(*out.shape[:-4], r1 * r2, c1 * c2)


def _groups(n: int) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]]:
    """Qubit ranges of the four groups A1 A2 | B1 B2 (A = the high half of the index bits)."""
    a = n // 2
    a1 = (a + 1) // 2
    b1 = (n - a) // 2
    return (0, a1), (a1, a), (a, a + b1), (a + b1, n)


def _left(psi: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Apply K (L, d, d) to the leading index of psi (B, d * rest)."""
    bsz, d = psi.shape[0], k.shape[-1]
    out = torch.matmul(k, psi.reshape(bsz, d, -1))
    return out.reshape(bsz, -1)


def _right(psi: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Apply K (L, d, d) to the trailing index of psi (B, rest * d)."""
    bsz, d = psi.shape[0], k.shape[-1]
    kt = k[0].transpose(0, 1) if k.shape[0] == 1 else k.transpose(1, 2)
    return torch.matmul(psi.reshape(bsz, -1, d), kt).reshape(bsz, -1)


def _swap_halves(psi: torch.Tensor, d_first: int) -> torch.Tensor:
    """(B, d_first * d_second) -> the same amplitudes with the two index halves swapped."""
    bsz = psi.shape[0]
    return psi.reshape(bsz, d_first, -1).transpose(1, 2).reshape(bsz, -1)


def _apply_local(psi: torch.Tensor, u: torch.Tensor, n: int, swapped: bool) -> tuple[torch.Tensor, bool]:
    """Apply the per-qubit matrices u (L, n, 2, 2) to psi, whose index is (A, B), or (B, A)
    when ``swapped``; returns the new state and its layout.

    With the index written as (X | Y), the stage is K_X psi K_Y^T where K_X, K_Y are the
    Kronecker products of each half's single-qubit matrices.
    """
    a1, a2, b1, b2 = _groups(n)
    x1, x2, y1, y2 = (b1, b2, a1, a2) if swapped else (a1, a2, b1, b2)
    d_x = 1 << (x1[1] - x1[0] + x2[1] - x2[0])
    if u.shape[0] == 1:
        # Shared by the whole batch: whole-half Kronecker products cost nothing to build, and a
        # right multiplication by a shared matrix is one GEMM over the flattened batch, so apply
        # K_Y, swap the halves, apply K_X.
        psi = _right(psi, _kron(u[:, y1[0] : y2[1]]))
        return _right(_swap_halves(psi, d_x), _kron(u[:, x1[0] : x2[1]])), not swapped
    # Per coordinate: K_X1 from the left and K_Y2 from the right are batched GEMMs with small
    # Kronecker factors; after swapping the halves, (Y1 Y2 | X1 X2), so are K_Y1 and K_X2.
    if n % 4 == 0:  # four equal groups: build all four factors in one pass
        kr = _kron(u.reshape(u.shape[0], 4, n // 4, 2, 2))
        k = {g: kr[:, i] for i, g in enumerate((a1, a2, b1, b2))}
    else:
        k = {g: _kron(u[:, g[0] : g[1]]) for g in (a1, a2, b1, b2) if g[1] > g[0]}
    for grp, side in ((x1, _left), (y2, _right)):
        if grp in k:
            psi = side(psi, k[grp])
    psi = _swap_halves(psi, d_x)
    for grp, side in ((y1, _left), (x2, _right)):
        if grp in k:
            psi = side(psi, k[grp])
    return psi, not swapped


def _last_rows(u: torch.Tensor, n: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows of a local stage's Kronecker product that give its last k amplitudes (normal
    order): the all-ones row of K_A (L, 1, dA) and the last k rows of K_B (L, k, dB)."""
    a1, a2, b1, b2 = _groups(n)
    row_a = _kron(u[:, : a2[1], 1:2, :])
    d_b2 = 1 << (b2[1] - b2[0])
    if k <= d_b2:  # the last k indices share B1 = all ones: kron(row of K_B1, last rows of K_B2)
        rows_b = _kron(u[:, b2[0] :])[:, -k:, :]
        if b1[1] > b1[0]:
            rows_b = _kron2(_kron(u[:, b1[0] : b1[1], 1:2, :]), rows_b)
    else:
        rows_b = _kron(u[:, a2[1] :])[:, -k:, :]
    return row_a, rows_b


def _apply_rows(psi: torch.Tensor, row_a: torch.Tensor, rows_b: torch.Tensor, swapped: bool) -> torch.Tensor:
    """The k amplitudes row_a (x) rows_b[j] . psi of the state psi, whose index is (A, B) or (B, A)."""
    bsz, k = psi.shape[0], rows_b.shape[1]
    d_a, d_b = row_a.shape[-1], rows_b.shape[-1]
    if swapped:  # psi index (B, A): rows_b @ psi @ row_a^T
        mat = torch.matmul(rows_b, psi.reshape(bsz, d_b, d_a))
        return torch.matmul(mat, row_a.transpose(1, 2)).reshape(bsz, k)
    mat = torch.matmul(row_a, psi.reshape(bsz, d_a, d_b))
    return torch.matmul(mat, rows_b.transpose(1, 2)).reshape(bsz, k)


def _apply_local_last(psi: torch.Tensor, u: torch.Tensor, n: int, swapped: bool, k: int) -> torch.Tensor:
    """Only the last k amplitudes (normal order) of the local stage: one row of K_A, k rows of K_B."""
    return _apply_rows(psi, *_last_rows(u, n, k), swapped)


def product_halves(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, n, 2) single-qubit states -> the product states of the high and the low half of the
    qubits, (B, 2^(n//2)) and (B, 2^(n - n//2)), qubit 0 most significant."""
    bsz, n = v.shape[0], v.shape[1]
    a = n // 2
    if n % 2 == 0 and n > 0:  # both halves in one pass
        halves = _kron(v.reshape(bsz, 2, a, 2, 1))  # (B, 2, 2^a, 1)
        return halves[:, 0, :, 0], halves[:, 1, :, 0]
    vb = _kron(v[:, a:, :, None])[..., 0]
    va = _kron(v[:, :a, :, None])[..., 0] if a else torch.ones(bsz, 1, dtype=v.dtype, device=v.device)
    return va, vb


def outer(va: torch.Tensor, vb: torch.Tensor) -> torch.Tensor:
    """(B, dA), (B, dB) -> (B, dA * dB) batched outer products (a broadcast product: several
    times faster than bmm with an inner dimension of 1)."""
    return (va[:, :, None] * vb[:, None, :]).reshape(va.shape[0], -1)


def _product_state(v: torch.Tensor) -> torch.Tensor:
    """(B, n, 2) single-qubit states -> (B, 2^n) product state, qubit 0 most significant."""
    va, vb = product_halves(v)
    return outer(va, vb)


# --------------------------------------------------------------------------------- public API
def _stage_params(spec: CircuitSpec, h: torch.Tensor, theta: torch.Tensor) -> list[tuple[str, torch.Tensor, bool]]:
    """Everything that does not need the state, computed once for the whole batch.

    Returns one entry per stage: ("product", (B, Nq, 2) single-qubit states, True),
    ("diag", (2^Nq,) real phase angles in the normal index order, False), ("local", (L, Nq, 2, 2)
    matrices, batched: whether L is the batch).
    """
    const = _constants(spec, h.device, h.dtype)
    out: dict[int, tuple[str, torch.Tensor, bool]] = {}
    for i, stage in enumerate(const.stages):
        if isinstance(stage, _Diag):
            out[i] = ("diag", const.diag_phase(theta[stage.crz], theta[stage.rz]), False)
    for indices, runs in const.groups:
        mats = runs.matrices(h, theta, spec.angle_scale)  # (stages, L, Nq, 2, 2)
        for i, u in zip(indices, mats.unbind(0), strict=True):
            if i == 0:  # acts on |0...0>: column 0 of [[a, -b*], [b, a*]] is (a, b)
                out[i] = ("product", u[..., 0], True)
            else:
                out[i] = ("local", u, u.shape[0] > 1 or h.shape[0] == 1)
    return [out[i] for i in range(len(const.stages))]


def phase_pair(phi: torch.Tensor, n: int) -> torch.Tensor:
    """exp(i phi) in the normal (A, B) and the swapped (B, A) index order: (2, 2^Nq)."""
    p = torch.polar(torch.ones_like(phi), phi)
    return torch.stack((p, _swap_halves(p[None], 1 << (n // 2))[0]))


def _prepare(spec: CircuitSpec, h: torch.Tensor, theta: torch.Tensor) -> list[tuple[str, torch.Tensor, bool]]:
    """The stages of :func:`_stage_params` with the diagonal phases as complex factors in both
    index orders (the forward's form)."""
    return [(k, phase_pair(t, spec.n_qubits), b) if k == "diag" else (k, t, b) for k, t, b in _stage_params(spec, h, theta)]


def _evolve(
    prepared: list[tuple[str, torch.Tensor, bool]], sl: slice, n: int, last: int | None
) -> torch.Tensor:
    """Run the state through the prepared stages for the batch rows ``sl``."""
    final = len(prepared) - 1
    psi = _product_state(prepared[0][1][sl])
    swapped = False  # index order (A, B), or (B, A) after an odd number of local stages
    for i in range(1, final + 1):
        kind, t, batched = prepared[i]
        if kind == "diag":
            psi = psi * t[int(swapped)]
            continue
        u = t[sl] if batched else t
        if last is not None and i == final and last <= 1 << (n - n // 2):
            return _apply_local_last(psi, u, n, swapped, last)
        psi, swapped = _apply_local(psi, u, n, swapped)
    if swapped:
        psi = _swap_halves(psi, 1 << (n - n // 2))
    return psi if last is None else psi[:, -last:]


def amplitudes(
    spec: CircuitSpec,
    h: torch.Tensor,
    theta: torch.Tensor,
    *,
    last: int | None = None,
) -> torch.Tensor:
    """Final amplitudes (B, 2^Nq) complex64, or only the last ``last`` of them. No chunking."""
    h, theta = _check_inputs(spec, h, theta)
    return _evolve(_prepare(spec, h, theta), slice(None), spec.n_qubits, last)


def _check_inputs(spec: CircuitSpec, h: torch.Tensor, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if h.ndim != 2 or h.shape[1] != spec.embed_dim:
        raise ValueError(f"h must have shape (B, {spec.embed_dim}), got {tuple(h.shape)}")
    if theta.shape != (spec.n_theta,):
        raise ValueError(f"theta must have shape ({spec.n_theta},), got {tuple(theta.shape)}")
    dtype = torch.float64 if h.dtype == torch.float64 else torch.float32  # float64: the decoder's precision
    return h.to(dtype), theta.to(device=h.device, dtype=dtype)
