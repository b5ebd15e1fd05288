"""Exact basis-state probabilities, the simulator's public entry point: it picks the engine.

* ``"fused"`` (what ``"auto"`` picks on CPU): the compiled kernels of :mod:`.fused`, forward and
  adjoint backward, a tile of coordinates at a time;
* ``"adjoint"`` (what ``"auto"`` picks on other devices, e.g. CUDA): the torch forward of
  :mod:`.statevector`, chunk by chunk, with the hand-written adjoint backward of :mod:`.adjoint`;
* ``"autograd"``: the same torch forward with plain autograd through its ops (the reference both
  backwards are tested against).

``QUINR_SIM=torch`` in the environment makes ``"auto"`` use the torch engine on CPU too (the
switch that turns the compiled kernels off).
"""

from __future__ import annotations

import os
from typing import Literal, get_args

import torch

from ..circuit import CircuitSpec
from .adjoint import probabilities_adjoint
from .fused import probabilities_fused
from .fused import stage_params as fused_stage_params
from .statevector import (
    DEFAULT_CHUNK_AMPLITUDES,
    _check_inputs,
    _evolve,
    _last_rows,
    _prepare,
    _stage_params,
    product_halves,
)

Backward = Literal["auto", "fused", "adjoint", "autograd"]
BACKWARDS: tuple[str, ...] = get_args(Backward)

#: Coordinates the fused engine evaluates at a time without gradients (a decode's batch): the
#: stages' tensors of one chunk stay a few MiB.
FUSED_CHUNK = 16384


def engine_for(backward: str, device: torch.device) -> str:
    """The engine a call runs on: ``backward`` itself, or for "auto" fused on CPU (unless
    ``QUINR_SIM=torch``) and adjoint elsewhere."""
    if backward not in BACKWARDS:
        raise ValueError(f"backward must be one of {', '.join(BACKWARDS)}; got {backward!r}")
    if backward != "auto":
        if backward == "fused" and device.type != "cpu":
            raise ValueError(f"the fused engine runs on CPU; this tensor is on {device}")
        return backward
    return "fused" if device.type == "cpu" and os.environ.get("QUINR_SIM", "").lower() != "torch" else "adjoint"


def probabilities(
    spec: CircuitSpec,
    h: torch.Tensor,
    theta: torch.Tensor,
    *,
    last: int | None = None,
    chunk_amplitudes: int = DEFAULT_CHUNK_AMPLITUDES,
    backward: Backward = "auto",
) -> torch.Tensor:
    """Exact basis-state probabilities, shape (B, 2^Nq) or (B, last); differentiable; float32
    (training), or float64 when ``h`` is float64 (decoding: complex128 amplitudes).

    Args:
        spec: the circuit.
        h: (B, M) embedding vectors (one per coordinate).
        theta: (spec.n_theta,) circuit angles.
        last: return only the probabilities of the last ``last`` basis states (the model's
            outputs); much cheaper than the full vector.
        chunk_amplitudes: the torch engine evolves at most this many amplitudes (batch x 2^Nq)
            at a time.
        backward: the engine (see the module docstring): "auto", "fused", "adjoint" or
            "autograd".
    """
    engine = engine_for(backward, h.device)
    h, theta = _check_inputs(spec, h, theta)
    if last is not None and (isinstance(last, bool) or not isinstance(last, int) or not 1 <= last <= spec.n_states):
        raise ValueError(f"last must be a whole number from 1 to {spec.n_states} (the circuit's basis states), "
                         f"got {last!r}")
    width = spec.n_states if last is None else last
    if h.shape[0] == 0:
        return torch.zeros(0, width, device=h.device, dtype=h.dtype)
    wants_grad = torch.is_grad_enabled() and (h.requires_grad or theta.requires_grad)
    if engine == "fused":
        if wants_grad:
            return _fused(spec, h, theta, width)
        out = torch.empty(h.shape[0], width, dtype=h.dtype)
        for start in range(0, h.shape[0], FUSED_CHUNK):
            out[start : start + FUSED_CHUNK] = _fused(spec, h[start : start + FUSED_CHUNK], theta, width)
        return out
    step = max(1, chunk_amplitudes >> spec.n_qubits)
    if wants_grad and engine == "adjoint":
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
        out = torch.empty(h.shape[0], width, device=h.device, dtype=h.dtype)
        for sl in chunks:
            out[sl] = _abs2(_evolve(prepared, sl, spec.n_qubits, last))
        return out
    outs = [_abs2(_evolve(prepared, sl, spec.n_qubits, last)) for sl in chunks]
    return outs[0] if len(outs) == 1 else torch.cat(outs)


def _fused(spec: CircuitSpec, h: torch.Tensor, theta: torch.Tensor, width: int) -> torch.Tensor:
    return probabilities_fused(spec.n_qubits, width, fused_stage_params(spec, h, theta))


def _abs2(amp: torch.Tensor) -> torch.Tensor:
    """|amp|^2; a complex product with the conjugate is several times faster than abs() or a
    reduction over view_as_real on CPU."""
    return (amp * amp.conj()).real
