"""Exact basis-state probabilities, the simulator's public entry point: it picks the path.

* no gradient wanted: the forward of :mod:`.statevector`, chunk by chunk into one result;
* gradients (training): the hand-written adjoint backward of :mod:`.adjoint` (the default), or
  plain autograd through the forward (``backward="autograd"``: the reference the adjoint is tested
  against, and a fallback).
"""

from __future__ import annotations

from typing import Literal

import torch

from ..circuit import CircuitSpec
from .adjoint import probabilities_adjoint
from .statevector import (
    DEFAULT_CHUNK_AMPLITUDES,
    _check_inputs,
    _evolve,
    _last_rows,
    _prepare,
    _stage_params,
    product_halves,
)

Backward = Literal["adjoint", "autograd"]


def probabilities(
    spec: CircuitSpec,
    h: torch.Tensor,
    theta: torch.Tensor,
    *,
    last: int | None = None,
    chunk_amplitudes: int = DEFAULT_CHUNK_AMPLITUDES,
    backward: Backward = "adjoint",
) -> torch.Tensor:
    """Exact basis-state probabilities, shape (B, 2^Nq) or (B, last); differentiable; float32
    (training), or float64 when ``h`` is float64 (decoding: complex128 amplitudes).

    Args:
        spec: the circuit.
        h: (B, M) embedding vectors (one per coordinate).
        theta: (spec.n_theta,) circuit angles.
        last: return only the probabilities of the last ``last`` basis states (the model's
            outputs); much cheaper than the full vector.
        chunk_amplitudes: evolve at most this many amplitudes (batch x 2^Nq) at a time.
        backward: how gradients are computed when h or theta requires them: "adjoint" (the
            hand-written backward, faster) or "autograd" (through the forward's ops).
    """
    if backward not in ("adjoint", "autograd"):
        raise ValueError(f"backward must be 'adjoint' or 'autograd', got {backward!r}")
    h, theta = _check_inputs(spec, h, theta)
    if h.shape[0] == 0:
        return torch.zeros(0, spec.n_states if last is None else last, device=h.device, dtype=h.dtype)
    step = max(1, chunk_amplitudes >> spec.n_qubits)
    wants_grad = torch.is_grad_enabled() and (h.requires_grad or theta.requires_grad)
    if wants_grad and backward == "adjoint":
        n = spec.n_qubits
        stages = _stage_params(spec, h, theta)
        va, vb = product_halves(stages[0][1])
        kinds = tuple((kind, batched) for kind, _, batched in stages[1:-1])
        params = [t for _, t, _ in stages[1:-1]]
        rows = last is not None and last <= 1 << (n - n // 2)
        final = list(_last_rows(stages[-1][1], n, last)) if rows else [stages[-1][1]]
        return probabilities_adjoint(n, last, step, kinds, rows, va, vb, params + final)
    prepared = _prepare(spec, h, theta)
    chunks = [slice(i, i + step) for i in range(0, h.shape[0], step)]
    if not wants_grad:
        # No autograd: write each chunk into one preallocated result (no concatenation copy).
        out = torch.empty(h.shape[0], spec.n_states if last is None else last, device=h.device, dtype=h.dtype)
        for sl in chunks:
            out[sl] = _abs2(_evolve(prepared, sl, spec.n_qubits, last))
        return out
    outs = [_abs2(_evolve(prepared, sl, spec.n_qubits, last)) for sl in chunks]
    return outs[0] if len(outs) == 1 else torch.cat(outs)


def _abs2(amp: torch.Tensor) -> torch.Tensor:
    """|amp|^2; a complex product with the conjugate is several times faster than abs() or a
    reduction over view_as_real on CPU."""
    return (amp * amp.conj()).real
