"""Backend profiles: the declarative TOML files of the catalogue (``backends/*.toml``).

A profile names a driver and its options and states what the backend can do (exact
probabilities, qubit and shot limits, circuits per task), where its noise comes from, and what it
costs, with the date and source of the price. Adding a QPU reachable through a known SDK is one
new file.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BackendError, BudgetError

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
        """Estimated cost of a run, computable before submission. A price per shot (or per
        execution) cannot price exact probabilities: without shots it is refused, not zero."""
        if shots is None and ((self.model == "task+shot" and self.per_shot > 0) or (
                self.model == "per-second" and self.per_second > 0 and self.seconds_per_execution > 0)):
            raise BudgetError(f"this backend's price is per shot ({self.describe()}): give --shots, so that the "
                              "decode can be priced")
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

    def problems(self) -> list[str]:
        """Why these figures cannot be trusted to guard a budget (empty when they can)."""
        out = []
        for name in ("per_task", "per_shot", "per_second", "seconds_per_task", "seconds_per_execution"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                out.append(f"{name} must be a finite number >= 0, got {v!r}")
        if out:
            return out
        if self.model == "task+shot" and not (self.per_task > 0 or self.per_shot > 0):
            out.append("a task+shot model needs per_task or per_shot > 0 (else it is free in disguise)")
        if self.model == "per-second" and not (self.per_second > 0 and (self.seconds_per_task > 0
                                                                        or self.seconds_per_execution > 0)):
            out.append("a per-second model needs per_second > 0 and seconds_per_task or seconds_per_execution > 0")
        return out

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
    #: the profile declares that it replaces a built-in of the same name (``overrides = true``)
    overrides: bool = False
    #: set by the registry when this profile does replace a built-in (flagged in every report)
    overrides_builtin: bool = False

    @property
    def billed(self) -> bool:
        return self.pricing.billed

    def estimate(self, calls: Sequence[int], shots: int | None) -> CostEstimate:
        """What a run of evaluator calls of these sizes (circuits each; see
        :func:`quinr.config.evaluator_calls`) will cost, before anything is submitted. Each call is
        split into tasks of at most ``max_circuits_per_task`` circuits, exactly as the decode
        submits them."""
        tasks = sum(-(-n // self.max_circuits_per_task) for n in calls)
        circuits = sum(calls)
        p = self.pricing
        seconds = p.device_seconds(circuits, shots, tasks) if p.model == "per-second" else None
        return CostEstimate(tasks, circuits, p.estimate(circuits, shots, tasks), seconds)


@dataclass(frozen=True)
class CostEstimate:
    """The tasks, circuits, cost and (per-second pricing) billed device time of a planned run."""

    tasks: int
    circuits: int
    cost: float
    device_seconds: float | None


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
    known = set(_REQUIRED) | {"options", "pricing", "requires", "pip", "device", "overrides"}
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
    bad = price.problems()
    if bad:
        raise BackendError(f"backend profile {path}: [pricing] {bad[0]}")
    if not isinstance(data.get("overrides", False), bool):
        raise BackendError(f"backend profile {path}: overrides must be true or false")
    if price.billed and not (price.date and price.source):
        raise BackendError(f"backend profile {path}: a billed backend needs pricing.date and pricing.source")
    for key in ("max_qubits", "max_shots", "max_circuits_per_task"):
        if isinstance(data[key], bool) or not isinstance(data[key], int) or data[key] < 1:
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
        overrides=data.get("overrides", False),
    )
