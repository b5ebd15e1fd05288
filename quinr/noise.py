"""Backend-neutral noise: one :class:`NoiseSpec` that every backend runs the same way.

Where the noise sits (identical on every backend, so the contract tests can compare them) is
decided once, by the circuit's lowering (:func:`quinr.circuit.lower`, which compiles CRZ(t) as
RZ_target(t/2) ZZ(-t/2)); every executor runs the channels the lowering places:

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

Aliases: ``depol``/``p1``, ``depol2``/``p2``, ``gamma``, ``global``. Device snapshots
(``device=...``) reduce a calibration to these few numbers; they are read by the backend layer
(:mod:`quinr.backends.calibration`), so this module stays a leaf: the spec, its text and JSON
forms, the classical readout confusion and the Kraus operators the executors share. Readout
mitigation is :mod:`quinr.mitigation`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import ConfigError

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
        if len(self.readout) == 1:  # the spec's own text form: P, or P10/P01 when they differ
            a, b = self.readout[0]
            parts.append(f"readout={a:g}" if a == b else f"readout={a:g}/{b:g}")
        elif self.readout:
            mean = sum(a + b for a, b in self.readout) / (2 * len(self.readout))
            parts.append(f"readout=per-wire ({len(self.readout)} wires, mean {mean:.3g})")
        return ",".join(parts) + (f" [{self.source}]" if self.source else "")


def _damping_fidelity(gamma: float) -> float:
    """Process fidelity of amplitude damping: |tr K0|^2 / 4."""
    return (1 + math.sqrt(1 - gamma)) ** 2 / 4


def names_device(text: str) -> bool:
    """Whether a noise spec's text names a device calibration (``device=...``)."""
    return any(item.partition("=")[0].strip().lower() == "device" for item in text.split(","))


def parse(text: str | NoiseSpec | None, devices: Callable[[str], NoiseSpec] | None = None) -> NoiseSpec:
    """A :class:`NoiseSpec` from its text form (module docstring), a JSON file, or itself.

    ``device=NAME`` is a device's calibration, which only the backend layer can read: ``devices``
    resolves it (:func:`quinr.backends.calibration.parse_noise` passes its own); without it such a
    spec is refused, so nothing in the core ever reaches a backend or an SDK."""
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
            if devices is None:
                raise ConfigError(f"noise spec {text!r} names a device calibration; resolve it at the edge with "
                                  "quinr.backends.calibration.parse_noise")
            base = devices(value.strip())
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


# ----------------------------------------------------------------------------- classical noise
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
