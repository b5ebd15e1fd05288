"""The quINR circuit as a PennyLane user writes it from the paper (RX, RZ and CRZ gates), the
input of the PennyLane baselines in the benchmarks. quinr's own PennyLane driver runs the lowered
circuit instead (quinr.backends.pennylane.emit); this keeps the baselines' numbers comparable
across versions."""

from __future__ import annotations

from typing import Any


def paper_circuit(spec: Any, h: Any, theta: Any) -> None:
    """Queue the logical gates of ``spec`` (inside a QNode); ``h`` may be batched."""
    import pennylane as qml

    for g in spec.gates():
        angle = spec.angle_scale * h[..., g.index] if g.source == "h" else theta[..., g.index]
        getattr(qml, g.name)(angle, wires=list(g.wires))
