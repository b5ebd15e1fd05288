"""The accounting of one run on a backend: what ran, where, how many circuits and tasks, their ids,
how long, and what it is estimated and reported to cost. Saved as JSON by ``--report``, through
the run's redaction."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ExecutionReport:
    """Accounting of one decode (or study) on one backend."""

    backend: str
    driver: str
    kind: str
    device: str
    shots: int | None
    exact: bool
    circuits: int = 0
    tasks: int = 0
    task_ids: list[str] = field(default_factory=list)
    seconds: float = 0.0
    estimated_cost: float = 0.0
    #: the cost of the usage the provider reported for its tasks (completed shots, or quantum
    #: seconds), priced at the profile's dated rates; None when no task reported usage
    billed_cost: float | None = None
    #: how many of ``tasks`` reported usage (billed_cost covers those only)
    billed_tasks: int = 0
    currency: str = "USD"
    pricing: str = "free"
    options: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    noise: str = "none"
    mitigation: str | None = None
    #: per-wire confusion matrices used by readout mitigation (from the backend's calibration)
    readout_confusion: list | None = None
    #: the profile is a user's replacement of the built-in of the same name (``overrides = true``)
    profile_overrides_builtin: bool = False
    #: the quality predicted before the run (:class:`~quinr.quality.Prediction` as a dict), with
    #: ``--report`` or ``--run-dir``
    prediction: dict[str, Any] | None = None
    #: the PSNR of the decode against the exact noise-free decode, measured after the run whenever
    #: the exact decode is cheap (see quinr.hardware.EXACT_REFERENCE_AMPLITUDES) or predicted
    psnr_vs_exact: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def add_usage(self, pricing, usage: dict[str, float] | None) -> None:
        """Add one task's provider-reported usage (see :meth:`Pricing.bill`) to ``billed_cost``
        (a free backend bills nothing, so it keeps None)."""
        if usage and pricing.billed:
            self.billed_cost = (self.billed_cost or 0.0) + pricing.bill(usage)
            self.billed_tasks += 1

    def save(self, path: str | Path, redactor=None) -> Path:
        """Write the report as JSON, atomically, through the run's :class:`~quinr.redact.Redactor`
        (secret option values never reach the file)."""
        from ..files import atomic_write
        from ..redact import Redactor

        doc = (redactor or Redactor(self.options)).json(self.to_dict())
        return atomic_write(Path(path), (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode())
