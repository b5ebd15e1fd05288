"""Backend-neutral noise: one :class:`NoiseSpec` that every driver translates the same way.

Where the noise sits (identical on every backend, so the contract tests can compare them): the
circuit is compiled with CRZ(t) = RZ_target(t/2) ZZ(-t/2), as the Qiskit and Braket drivers do.

* after every RX and RZ (the RZ of a compiled CRZ included): single-qubit depolarizing with Pauli
  error probability ``depolarizing`` (rho -> (1-p) rho + p/3 (X rho X + Y rho Y + Z rho Z), the
  PennyLane and Braket convention), then amplitude damping ``damping`` on that qubit;
* after every ZZ: two-qubit depolarizing ``depolarizing2`` (p/15 for each of the 15 non-identity
  Pauli pairs), then amplitude damping on both qubits;
* at the end, for quinr's torch simulator only: ``global_depolarizing`` lambda, p -> (1-lambda) p
  + lambda / 2^n (the white-noise model of a whole circuit);
* at measurement: readout error, per wire ``(P(read 1 | 0), P(read 0 | 1))``. Drivers apply it as
  the classical bit-flip channel just before measurement, so exact backends include it too.

Specs are written as text (``quinr encode --noise ...``, ``-O noise=...``)::

    depolarizing=0.001,depolarizing2=0.01,damping=0.0005,readout=0.02/0.04
    device=FakeTorino                  # an IBM calibration snapshot (offline fake backend)
    device=aer.fake_torino,readout=0   # the snapshot of a catalogue backend, one field overridden
    snapshot.json                      # a spec saved by ``quinr noise ... -o snapshot.json``

Aliases: ``depol``/``p1``, ``depol2``/``p2``, ``gamma``, ``global``. Device snapshots reduce a
calibration to these few numbers (medians over the device; see :func:`from_ibm_backend` and
:func:`from_braket_properties`); the emulators of the catalogue (``aer.fake_*``) keep the full
per-qubit, per-gate model and stay the reference for what a device does.

The classical parts live here too: applying readout confusion to probability vectors, and readout
mitigation (inverse tensored confusion, then the nearest probability distribution).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import BackendError, ConfigError

_ALIASES = {
    "depolarizing": "depolarizing", "depol": "depolarizing", "p1": "depolarizing",
    "depolarizing2": "depolarizing2", "depol2": "depolarizing2", "p2": "depolarizing2",
    "damping": "damping", "gamma": "damping", "amplitude_damping": "damping",
    "global": "global_depolarizing", "global_depolarizing": "global_depolarizing",
    "readout": "readout",
}
#: The fields a noise study can sweep (``quinr study noise --param``).
PARAMETERS = ("depolarizing", "depolarizing2", "damping", "readout", "global_depolarizing")


@dataclass(frozen=True)
class NoiseSpec:
    """Noise of a circuit run, independent of any SDK (see the module docstring for placement)."""

    depolarizing: float = 0.0
    depolarizing2: float = 0.0
    damping: float = 0.0
    #: per wire (P(read 1 | prepared 0), P(read 0 | prepared 1)); one pair applies to every wire
    readout: tuple[tuple[float, float], ...] = ()
    global_depolarizing: float = 0.0
    #: where the numbers come from (device and calibration date), for reports and run records
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        for name, hi in (("depolarizing", 0.75), ("depolarizing2", 15 / 16), ("damping", 1.0),
                         ("global_depolarizing", 1.0)):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and 0.0 <= v <= hi):
                raise ConfigError(f"noise {name} must be in [0, {hi:g}], got {v!r}")
        pairs = tuple((float(a), float(b)) for a, b in self.readout)
        for a, b in pairs:
            if not (0.0 <= a < 1 and 0.0 <= b < 1 and a + b < 1):
                raise ConfigError(f"readout error ({a}, {b}) must satisfy 0 <= p < 1 and P(1|0) + P(0|1) < 1")
        object.__setattr__(self, "readout", tuple(p for p in pairs) if any(a or b for a, b in pairs) else ())

    # ------------------------------------------------------------------------------- queries
    @property
    def noiseless(self) -> bool:
        return not (self.has_gate_noise or self.readout or self.global_depolarizing)

    @property
    def has_gate_noise(self) -> bool:
        return bool(self.depolarizing or self.depolarizing2 or self.damping)

    def confusion(self, n_qubits: int) -> np.ndarray | None:
        """Per-wire confusion matrices (n, 2, 2), ``C[w][measured, prepared]``, or None."""
        if not self.readout:
            return None
        if len(self.readout) not in (1, n_qubits):
            raise ConfigError(f"readout gives {len(self.readout)} wires; the circuit has {n_qubits}")
        pairs = self.readout * n_qubits if len(self.readout) == 1 else self.readout
        return np.array([[[1 - a, b], [a, 1 - b]] for a, b in pairs])

    def readout_channels(self, n_qubits: int) -> list[tuple[int, list[np.ndarray]]]:
        """(wire, Kraus operators) of every wire's readout flip, for drivers that apply readout
        error as a channel before measurement (empty without readout error)."""
        conf = self.confusion(n_qubits)
        if conf is None:
            return []
        return [(w, readout_kraus(conf[w][1, 0], conf[w][0, 1])) for w in range(n_qubits)]

    def white_noise_lambda(self, n_1q: int, n_2q: int) -> float:
        """The global depolarizing lambda that has the same process fidelity as this spec's gate
        noise on a circuit of ``n_1q`` single- and ``n_2q`` two-qubit gates (and its own global
        term): the white-noise approximation, 1 - prod(F_gate)."""
        f1 = (1 - self.depolarizing) * _damping_fidelity(self.damping)
        f2 = (1 - self.depolarizing2) * _damping_fidelity(self.damping) ** 2
        f = f1**n_1q * f2**n_2q * (1 - self.global_depolarizing)
        return float(1 - f)

    # ----------------------------------------------------------------------------- text I/O
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["readout"] = [list(p) for p in self.readout]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NoiseSpec:
        unknown = set(d) - {f for f in cls.__dataclass_fields__}
        if unknown:
            raise ConfigError(f"unknown noise fields {sorted(unknown)}; valid: {sorted(cls.__dataclass_fields__)}")
        d = dict(d)
        d["readout"] = tuple(tuple(p) for p in d.get("readout", ()))
        return cls(**d)

    def describe(self) -> str:
        if self.noiseless:
            return "none"
        parts = [f"{k}={getattr(self, k):g}" for k in ("depolarizing", "depolarizing2", "damping", "global_depolarizing")
                 if getattr(self, k)]
        if self.readout:
            ro = self.readout if len(self.readout) <= 2 else (self.readout[0], "...")
            parts.append(f"readout={ro}")
        return ",".join(parts) + (f" [{self.source}]" if self.source else "")


def _damping_fidelity(gamma: float) -> float:
    """Process fidelity of amplitude damping: |tr K0|^2 / 4."""
    return (1 + math.sqrt(1 - gamma)) ** 2 / 4


def parse(text: str | NoiseSpec | None) -> NoiseSpec:
    """A :class:`NoiseSpec` from its text form (module docstring), a JSON file, or itself."""
    if text is None:
        return NoiseSpec()
    if isinstance(text, NoiseSpec):
        return text
    text = text.strip()
    if text in ("", "none", "0"):
        return NoiseSpec()
    if text.endswith(".json"):
        try:
            return NoiseSpec.from_dict(json.loads(Path(text).read_text()))
        except OSError as exc:
            raise ConfigError(f"cannot read noise file {text}: {exc.strerror}") from None
        except (json.JSONDecodeError, TypeError, AttributeError) as exc:
            raise ConfigError(f"noise file {text} is not a noise spec: {exc}") from None
    base = NoiseSpec()
    fields: dict[str, Any] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep:
            raise ConfigError(f"noise spec item {item!r} is not KEY=VALUE (e.g. depolarizing=0.001,readout=0.02)")
        if key == "device":
            base = device_snapshot(value.strip())
            continue
        if key not in _ALIASES:
            raise ConfigError(f"unknown noise parameter {key!r}; valid: {', '.join(sorted(set(_ALIASES)))}, device")
        name = _ALIASES[key]
        try:
            if name == "readout":
                parts = [float(v) for v in value.split("/")]
                if len(parts) not in (1, 2):
                    raise ValueError
                fields[name] = ((parts[0], parts[-1]),)
            else:
                fields[name] = float(value)
        except ValueError:
            raise ConfigError(f"noise {key}={value!r}: expected a number (readout: P or P10/P01)") from None
    return replace(base, **fields)


# ---------------------------------------------------------------------------------- snapshots
def device_snapshot(name: str) -> NoiseSpec:
    """A device's calibration as a NoiseSpec: a ``qiskit_ibm_runtime.fake_provider`` class
    (``FakeTorino``), or a catalogue backend whose driver knows its device (``aer.fake_torino``
    offline; ``ibm.torino`` and Braket QPUs need credentials and network)."""
    from .backends import registry

    try:
        profile = registry.get_profile(name)
    except BackendError:
        profile = None
    if profile is None:
        return from_ibm_backend(_fake_backend(name))
    opts = profile.options
    if "fake_device" in opts:
        return from_ibm_backend(_fake_backend(opts["fake_device"]))
    if "noise" in opts:
        return parse(opts["noise"])
    if "ibm_backend" in opts or "device_arn" in opts:
        from .backends import get_backend

        return get_backend(name).driver.device_noise()
    raise ConfigError(f"backend {name} has no device calibration; give the noise parameters themselves")


def _fake_backend(name: str):
    try:
        from qiskit_ibm_runtime import fake_provider
    except ImportError:
        raise ConfigError("IBM device snapshots need qiskit-ibm-runtime: pip install qiskit-ibm-runtime") from None
    cls = getattr(fake_provider, name, None)
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


# ------------------------------------------------------------------- classical noise and mitigation
def apply_confusion(probs: torch.Tensor, confusion: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Apply per-wire 2x2 matrices to probability vectors (B, 2^n) in quinr's index order (wire 0
    the most significant bit): ``p'[.., i_w, ..] = sum_j M_w[i_w, j] p[.., j, ..]``."""
    conf = torch.as_tensor(confusion, dtype=probs.dtype, device=probs.device)
    n = conf.shape[0]
    b = probs.shape[0]
    x = probs.reshape(b, *([2] * n))
    for w in range(n):
        x = torch.movedim(torch.tensordot(conf[w], x, dims=([1], [w + 1])), 0, w + 1)
    return x.reshape(b, 1 << n)


def apply_classical(probs: torch.Tensor, noise: NoiseSpec, n_qubits: int, global_lambda: float | None = None) -> torch.Tensor:
    """The end-of-circuit part of ``noise`` on exact probabilities: global depolarizing (or the
    given white-noise lambda), then readout confusion."""
    lam = noise.global_depolarizing if global_lambda is None else global_lambda
    if lam:
        probs = (1 - lam) * probs + lam / (1 << n_qubits)
    conf = noise.confusion(n_qubits)
    return probs if conf is None else apply_confusion(probs, conf)


def nearest_probability(q: np.ndarray) -> np.ndarray:
    """Row-wise Euclidean projection onto the probability simplex (the nearest probability
    distribution of Smolin, Gambetta and Smith 2012; sort-based, O(d log d) per row)."""
    q = np.asarray(q, np.float64)
    u = -np.sort(-q, axis=1)
    css = np.cumsum(u, axis=1) - 1.0
    j = np.arange(1, q.shape[1] + 1)
    k = (u - css / j > 0).sum(axis=1)  # the support size
    tau = css[np.arange(q.shape[0]), k - 1] / k
    return np.maximum(q - tau[:, None], 0.0)


def mitigate_readout(probs: np.ndarray, confusion: np.ndarray) -> np.ndarray:
    """Readout mitigation of measured (or exact noisy) probability vectors (B, 2^n): the inverse of
    every wire's confusion matrix (the tensored inverse), then the nearest probability distribution.
    Exact when the readout error is the tensored model; O(n 2^n) per circuit, batched."""
    inv = np.linalg.inv(np.asarray(confusion, np.float64))
    q = apply_confusion(torch.from_numpy(np.asarray(probs, np.float64)), inv).numpy()
    return nearest_probability(q)


# ---------------------------------------------------------------------------- Kraus operators
def readout_kraus(p10: float, p01: float) -> list[np.ndarray]:
    """Kraus operators of the classical readout flip (P(1|0) = p10, P(0|1) = p01) as a channel
    just before measurement: it gives exactly the confused probabilities, so exact simulators
    (which have no measurement step) carry readout error too."""
    return [
        np.array([[math.sqrt(1 - p10), 0], [0, 0]], complex),
        np.array([[0, 0], [math.sqrt(p10), 0]], complex),
        np.array([[0, 0], [0, math.sqrt(1 - p01)]], complex),
        np.array([[0, math.sqrt(p01)], [0, 0]], complex),
    ]


def two_qubit_depolarizing_kraus(p: float) -> list[np.ndarray]:
    """sqrt(1-p) I and sqrt(p/15) P (x) Q for the 15 non-identity Pauli pairs (Braket's
    TwoQubitDepolarizing; PennyLane has no two-qubit depolarizing channel)."""
    paulis = [np.eye(2), np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]]), np.diag([1.0, -1.0])]
    ops = [math.sqrt(1 - p) * np.eye(4, dtype=complex)]
    ops += [math.sqrt(p / 15) * np.kron(a, b) for i, a in enumerate(paulis) for j, b in enumerate(paulis) if i or j]
    return ops
