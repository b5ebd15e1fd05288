"""Device calibrations as noise specs: IBM backends (fake or real ``BackendV2``) and Braket's
standardized device properties, reduced to a :class:`~quinr.noise.NoiseSpec`.

This is the backend layer's side of ``device=NAME`` in a noise spec
(:func:`quinr.backends.registry.parse_noise` resolves names with it). The core (training, the
simulators) never reaches this module: the command line, the codec and the hardware decode
resolve ``device=`` before handing a spec on.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from ..errors import BackendError, ConfigError
from ..noise import NoiseSpec


def fake_backend(name: str):
    """An offline IBM fake backend by class name (``FakeTorino``)."""
    try:
        from qiskit_ibm_runtime import fake_provider
    except ImportError:
        raise ConfigError("IBM device snapshots need qiskit-ibm-runtime: pip install qiskit-ibm-runtime") from None
    cls = getattr(fake_provider, name, None) if name.startswith("Fake") else None
    if cls is None:
        valid = sorted(n for n in dir(fake_provider) if n.startswith("Fake") and not n.endswith("Provider"))
        raise ConfigError(f"no device snapshot {name!r}; valid: catalogue backends with a device, or {', '.join(valid[:12])}, ...")
    return cls()


def from_ibm_backend(backend, qubits: list[int] | None = None) -> NoiseSpec:
    """Reduce an IBM backend's calibration (fake or real ``BackendV2``) to a NoiseSpec.

    Medians over ``qubits`` (default: all) of: the ``sx`` error e1, the two-qubit gate error e2
    (cz, ecr or cx), T1 and the readout flips. Average gate infidelity r maps to the Pauli error
    probability of a depolarizing channel as p = 3r/2 (1 qubit) and p = 5r/4 (2 qubits). On IBM
    hardware an RX costs two sx and an RZ none (virtual), so one logical rotation carries about
    one sx: p1 = 1.5 e1; a compiled CRZ needs two entangling gates: p2 = 1.25 * 2 e2. Damping is
    the T1 decay over one sx duration. Routing swaps are not counted, so the snapshot is
    optimistic for circuits whose pairs are not neighbours on the chip.
    """
    target = backend.target
    qs = list(range(backend.num_qubits)) if qubits is None else list(qubits)
    sx = target["sx"] if "sx" in target.operation_names else {}
    e1 = _median([sx[(q,)].error for q in qs if (q,) in sx and sx[(q,)] is not None])
    t_sx = _median([sx[(q,)].duration for q in qs if (q,) in sx and sx[(q,)] is not None])
    two = next((g for g in ("cz", "ecr", "cx") if g in target.operation_names), None)
    qset = set(qs)
    e2 = _median([p.error for k, p in target[two].items() if p is not None and set(k) <= qset]) if two else 0.0
    t1 = _median([backend.qubit_properties(q).t1 for q in qs])
    props = backend.properties() if hasattr(backend, "properties") else None
    if props is not None:
        p10 = _median([props.qubit_property(q)["prob_meas1_prep0"][0] for q in qs])
        p01 = _median([props.qubit_property(q)["prob_meas0_prep1"][0] for q in qs])
        date = props.last_update_date.date().isoformat()
    else:
        p10 = p01 = _median([target["measure"][(q,)].error for q in qs])
        date = "unknown date"
    damping = 1 - math.exp(-t_sx / t1) if t1 and t_sx else 0.0
    return NoiseSpec(
        depolarizing=min(1.5 * e1, 0.75),
        depolarizing2=min(2.5 * e2, 15 / 16),
        damping=damping,
        readout=((p10, p01),),
        source=f"{backend.name} calibration {date} (medians over {len(qs)} qubits)",
    )


def from_braket_properties(props: Any, name: str = "braket device") -> NoiseSpec:
    """Reduce Braket's standardized QPU properties (``device.properties.standardized``, or its
    dict) to a NoiseSpec, with the same mapping as :func:`from_ibm_backend`: medians of the
    single-qubit randomized-benchmarking fidelity, the two-qubit gate fidelity, the readout
    fidelity and T1 (a 1q gate time of 40 ns is assumed for damping: Braket does not publish it)."""
    d = props if isinstance(props, dict) else json.loads(props.json())
    one, two = d.get("oneQubitProperties") or {}, d.get("twoQubitProperties") or {}
    if not one:
        raise BackendError(f"{name}: no standardized oneQubitProperties; cannot derive a noise snapshot")
    rb, ro, t1 = [], [], []
    for q in one.values():
        for f in q.get("oneQubitFidelity", []):
            kind = f["fidelityType"]["name"]
            (ro if kind == "READOUT" else rb).append(f["fidelity"])
        if "T1" in q:
            t1.append(q["T1"]["value"] * {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}.get(q["T1"].get("unit", "s"), 1.0))
    f2 = [g["fidelity"] for pair in two.values() for g in pair.get("twoQubitGateFidelity", [])]
    r1 = 1 - _median(rb) if rb else 0.0
    r2 = 1 - _median(f2) if f2 else 0.0
    r_ro = 1 - _median(ro) if ro else 0.0
    t1m = _median(t1) if t1 else 0.0
    return NoiseSpec(
        depolarizing=min(1.5 * r1, 0.75),
        depolarizing2=min(2.5 * r2, 15 / 16),
        damping=1 - math.exp(-40e-9 / t1m) if t1m else 0.0,
        readout=((r_ro, r_ro),) if r_ro else (),
        source=f"{name} standardized properties",
    )


def _median(values: list[float]) -> float:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return float(np.median(vals)) if vals else 0.0
