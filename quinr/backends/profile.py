"""Backend profiles: the declarative TOML files of the catalogue (``backends/*.toml``).

A profile names a driver and its options and states what the backend can do (exact
probabilities, qubit and shot limits, circuits per task), where its noise comes from, and what it
costs, with the date and source of the price. Adding a QPU reachable through a known SDK is one
new file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BackendError

KINDS = ("simulator", "emulator", "qpu")
PRICING_MODELS = ("free", "task+shot", "per-second")


@dataclass(frozen=True)
class Pricing:
    """How a backend bills. ``date`` and ``source`` say where the figures come from."""

    model: str = "free"
    per_task: float = 0.0
    per_shot: float = 0.0
    per_second: float = 0.0
    seconds_per_task: float = 0.0
    seconds_per_execution: float = 0.0
    currency: str = "USD"
    date: str = ""
    source: str = ""

    @property
    def billed(self) -> bool:
        return self.model != "free"

    def device_seconds(self, circuits: int, shots: int | None, tasks: int) -> float:
        """Estimated billed device time: a fixed overhead per task plus a time per execution
        (IBM's published estimate is about 2 s per job + 0.35 ms per circuit-shot)."""
        return tasks * self.seconds_per_task + circuits * (shots or 0) * self.seconds_per_execution

    def estimate(self, circuits: int, shots: int | None, tasks: int) -> float:
        """Estimated cost of a run, computable before submission."""
        if self.model == "task+shot":
            return tasks * self.per_task + circuits * (shots or 0) * self.per_shot
        if self.model == "per-second":
            return self.device_seconds(circuits, shots, tasks) * self.per_second
        return 0.0

    def bill(self, usage: dict[str, float]) -> float:
        """The cost of one task's provider-reported usage at these dated rates: Braket reports
        the shots that completed (``{"tasks": 1, "shots": n}``), IBM the quantum seconds it
        billed (``{"seconds": s}``). Usage of the wrong kind for the model costs 0."""
        if self.model == "task+shot":
            return usage.get("tasks", 0) * self.per_task + usage.get("shots", 0) * self.per_shot
        if self.model == "per-second":
            return usage.get("seconds", 0.0) * self.per_second
        return 0.0

    def describe(self) -> str:
        if self.model == "free":
            return "free"
        if self.model == "task+shot":
            return f"{self.per_task:g}/task + {self.per_shot:g}/shot {self.currency} ({self.date})"
        return f"{self.per_second:g}/s {self.currency} ({self.date})"


@dataclass(frozen=True)
class Profile:
    """One selectable backend name."""

    name: str
    driver: str
    kind: str
    description: str
    exact: bool
    max_qubits: int
    max_shots: int
    max_circuits_per_task: int
    noise: str
    options: dict[str, Any] = field(default_factory=dict)
    pricing: Pricing = field(default_factory=Pricing)
    requires: tuple[str, ...] = ()
    pip: str = ""
    device: str = ""
    source: str = ""  # the file it was read from

    @property
    def billed(self) -> bool:
        return self.pricing.billed


_REQUIRED = ("name", "driver", "kind", "description", "exact", "max_qubits", "max_shots", "max_circuits_per_task", "noise")


def load_profile(path: Path) -> Profile:
    """Read and validate one profile file."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BackendError(f"backend profile {path}: cannot read ({exc})") from None
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise BackendError(f"backend profile {path}: missing {', '.join(missing)}")
    known = set(_REQUIRED) | {"options", "pricing", "requires", "pip", "device"}
    extra = sorted(set(data) - known)
    if extra:
        raise BackendError(f"backend profile {path}: unknown keys {', '.join(extra)}")
    if data["kind"] not in KINDS:
        raise BackendError(f"backend profile {path}: kind must be one of {KINDS}")
    if path.stem != data["name"]:
        raise BackendError(f"backend profile {path}: file name must be '{data['name']}.toml'")
    pricing = data.get("pricing", {})
    try:
        price = Pricing(**pricing)
    except TypeError as exc:
        raise BackendError(f"backend profile {path}: bad [pricing] ({exc})") from None
    if price.model not in PRICING_MODELS:
        raise BackendError(f"backend profile {path}: pricing model must be one of {PRICING_MODELS}")
    if price.billed and not (price.date and price.source):
        raise BackendError(f"backend profile {path}: a billed backend needs pricing.date and pricing.source")
    for key in ("max_qubits", "max_shots", "max_circuits_per_task"):
        if not isinstance(data[key], int) or data[key] < 1:
            raise BackendError(f"backend profile {path}: {key} must be a positive integer")
    return Profile(
        name=data["name"],
        driver=data["driver"],
        kind=data["kind"],
        description=data["description"],
        exact=bool(data["exact"]),
        max_qubits=data["max_qubits"],
        max_shots=data["max_shots"],
        max_circuits_per_task=data["max_circuits_per_task"],
        noise=data["noise"],
        options=dict(data.get("options", {})),
        pricing=price,
        requires=tuple(data.get("requires", ())),
        pip=data.get("pip", ""),
        device=data.get("device", ""),
        source=str(path),
    )
