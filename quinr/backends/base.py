"""What every driver implements and what every run returns.

A :class:`Driver` turns (circuit spec, embedding vectors h, angles theta, shots) into one
probability vector per coordinate, submitting as few jobs as the SDK allows (one parameterised
circuit, every coordinate bound as a parameter set). A :class:`Backend` pairs a profile with its
driver and checks every request against the profile before anything runs. Every run fills an
:class:`ExecutionReport`. The decode itself (chunks, budget, run directory, mitigation, record)
is :mod:`quinr.hardware`'s.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np

from ..circuit import CircuitSpec
from ..errors import BackendError, ConfigError, NoDeviceModel, QuinrError
from ..mitigation import MITIGATIONS, uses_readout
from ..noise import NoiseSpec
from ..noise import parse as parse_noise
from .options import NOISE_OPTION, Option, as_option
from .profile import Profile
from .report import ExecutionReport

__all__ = ["NOISE_OPTION", "Backend", "Driver", "ExecutionReport", "Option", "counts_to_probs", "task_chunks"]


#: Largest register a noise-spec prediction evaluates with exact density matrices.
PREDICT_DM_QUBITS = 8


class Driver(ABC):
    """One SDK family. Subclasses declare the options they accept in ``OPTIONS``."""

    #: option name -> :class:`~quinr.backends.options.Option` (or, for older third-party drivers,
    #: ``(type, help)``). Anything else is refused before a run.
    OPTIONS: ClassVar[dict[str, Option | tuple[type, str]]] = {}

    #: options that send the circuits to a provider's real device (a Braket device ARN, an IBM
    #: backend name): a backend with one of them set is billed, whatever its profile says
    REMOTE_OPTIONS: ClassVar[tuple[str, ...]] = ()

    #: whether the driver can run quinr.noise's end-of-circuit global depolarizing term
    GLOBAL_NOISE: ClassVar[bool] = False

    def __init__(self, profile: Profile, options: dict[str, Any]) -> None:
        self.profile = profile
        self.options = self.validate_options(options)
        try:
            noise = parse_noise(self.options.get("noise"))
            legacy = {k: self.options[k] for k in ("depolarizing", "depolarizing2") if k in self.options}
            self.noise: NoiseSpec = replace(noise, **legacy) if legacy else noise
        except ConfigError as exc:
            raise BackendError(f"backend {profile.name}: {exc}") from None
        if self.noise.global_depolarizing and not self.GLOBAL_NOISE:
            raise BackendError("global_depolarizing is a model of quinr's torch simulator; a circuit backend takes "
                               "gate-level noise (depolarizing, depolarizing2, damping) and readout")

    @classmethod
    def validate_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for key, value in options.items():
            if key not in cls.OPTIONS:
                valid = ", ".join(sorted(cls.OPTIONS)) or "none"
                raise BackendError(f"unknown option {key!r} for driver {cls.__name__}; valid options: {valid}")
            if key == "noise" and isinstance(value, NoiseSpec):  # a spec object, not its text form
                out[key] = value
                continue
            out[key] = as_option(cls.OPTIONS[key]).parse(key, value)
        return out

    @classmethod
    def option(cls, key: str) -> Option:
        return as_option(cls.OPTIONS[key])

    @classmethod
    def secret_options(cls) -> set[str]:
        """Names of the options declared secret (redacted from everything written)."""
        return {k for k in cls.OPTIONS if as_option(cls.OPTIONS[k]).secret}

    @classmethod
    def remote_target(cls, options: dict[str, Any]) -> str | None:
        """``KEY=VALUE`` of the option that points these options at a real device, or None."""
        for key in cls.REMOTE_OPTIONS:
            if options.get(key):
                return f"{key}={options[key]}"
        return None

    @property
    def device_name(self) -> str:
        return self.profile.device or self.profile.name

    def readout_confusion(self, spec: CircuitSpec) -> np.ndarray | None:
        """Per-wire readout confusion matrices (n, 2, 2) of ``spec``'s circuit as it runs here,
        ``C[w][measured, prepared]``, for mitigation; None when the backend has no readout error
        it knows of."""
        return self.noise.confusion(spec.n_qubits)

    def knows_readout(self) -> bool:
        """Whether :meth:`readout_confusion` will have a calibration (checked before a run)."""
        return bool(self.noise.readout)

    def calibration_date(self) -> str | None:
        """The calibration a run used, for its record: a device snapshot's date, or the source
        of the noise spec (None when there is none)."""
        return self.noise.source or None

    def device_noise(self) -> NoiseSpec:
        """The device's calibration reduced to a :class:`NoiseSpec` (device-backed drivers)."""
        raise BackendError(f"{self.device_name} has no device calibration to take a noise snapshot from")

    def mitigation_problem(self, mitigate: str) -> str | None:
        """Why this backend cannot run ``mitigate`` faithfully (e.g. a provider whose compiler may
        merge a folded gate with its inverse), or None."""
        return None

    def calibrated_device(self):
        """The Qiskit backend (coupling map and calibration, offline) this backend's circuits are
        laid out on, for placing a circuit made for it (:mod:`.placement`); None where there is
        none."""
        return None

    def device_model(self):
        """The device-faithful :class:`~quinr.sim.device.DeviceModel` of this backend's device
        (an evaluator, for training and prediction), or None where there is none."""
        return None

    def describe_noise(self) -> str:
        """The noise of this backend's runs, for reports: its noise spec, or its device's."""
        return self.noise.describe()

    def expectation(self, spec: CircuitSpec):
        """What this backend samples from for ``spec`` (a :class:`~quinr.expectation.Expectation`):
        here quinr's exact simulator under the backend's declared noise spec, which the circuit
        drivers lower exactly as the torch simulator does (density matrices up to
        :data:`PREDICT_DM_QUBITS` qubits, the white-noise approximation above). Raises
        :class:`~quinr.errors.NoDeviceModel` for a QPU quinr has no calibration of."""
        from ..expectation import Expectation
        from ..model import exact_evaluator
        from ..sim.density import noisy_evaluator

        if self.profile.kind == "qpu":
            raise NoDeviceModel(f"{self.profile.name} is a QPU whose calibration quinr cannot read offline")
        if self.noise.noiseless:
            return Expectation(exact_evaluator, "none (a noise-free simulator)", noise_free=True)
        mode = "dm" if spec.n_qubits <= PREDICT_DM_QUBITS else "global"
        return Expectation(noisy_evaluator(self.noise, mode), f"noise spec {self.noise.describe()} ({mode})",
                           self.noise.confusion(spec.n_qubits))

    # ------------------------------------------------------------ provider-side tasks
    def remote_tasks(self) -> bool:
        """Whether this driver's tasks live at a provider and outlive this process (a QPU's
        queue). Then :meth:`submit` returns a task id at once and :meth:`collect` fetches the
        result by that id, so a checkpointed decode that dies while a task runs collects that
        task on resume instead of paying for it again."""
        return False

    def submit(self, spec: CircuitSpec, h: np.ndarray, theta: np.ndarray, shots: int | None, seed: int | None,
               tags: dict[str, str]) -> str:
        """Submit one task of circuits (every row of h) and return its id without waiting.
        ``tags`` label the task at the provider (run and chunk), where the SDK allows it."""
        raise BackendError(f"{self.device_name} runs its circuits in this process; it has no tasks to submit by id")

    def collect(self, task_id: str, spec: CircuitSpec, theta: np.ndarray, rows: int) -> tuple[np.ndarray, dict[str, float]]:
        """Wait for a submitted task; return its probabilities (rows, 2^Nq) and the usage the
        provider reports for it (``{"tasks": 1, "shots": n}`` or ``{"seconds": s}``; empty when
        none). Raises :class:`~quinr.errors.TaskFailedError` when the provider reports the task
        failed or cancelled."""
        raise BackendError(f"{self.device_name} has no provider-side tasks to collect")

    @abstractmethod
    def run(
        self,
        spec: CircuitSpec,
        h: np.ndarray,
        theta: np.ndarray,
        shots: int | None,
        seed: int | None,
        report: ExecutionReport,
    ) -> np.ndarray:
        """Probabilities (exact, or frequencies of ``shots`` samples): float64 (B, 2^Nq),
        index in PennyLane order (wire 0 most significant). Adds circuits, tasks and ids to
        ``report``."""


#: How far a returned probability may stray outside [0, 1] by float rounding.
PROB_TOLERANCE = 1e-6


def probability_problem(probs: np.ndarray, shape: tuple[int, int]) -> str | None:
    """Why ``probs`` is not ``shape`` = (rows, 2^Nq) finite probabilities in [0, 1] (None when it is)."""
    if not isinstance(probs, np.ndarray) or probs.shape != shape:
        return f"shape {getattr(probs, 'shape', type(probs).__name__)}, expected {shape}"
    if probs.dtype.kind != "f":
        return f"dtype {probs.dtype}, expected floating point"
    if not np.all(np.isfinite(probs)):
        return "values that are not finite"
    if probs.size and (probs.min() < -PROB_TOLERANCE or probs.max() > 1 + PROB_TOLERANCE):
        return f"values outside [0, 1] ({probs.min():.3g} .. {probs.max():.3g})"
    return None


def check_probabilities(probs: np.ndarray, rows: int, spec: CircuitSpec) -> None:
    """Refuse results that are not probabilities before anything uses or stores them."""
    problem = probability_problem(probs, (rows, spec.n_states))
    if problem is not None:
        raise BackendError(f"the backend returned {problem}")


def counts_to_probs(counts: dict[str, int], n_qubits: int) -> np.ndarray:
    """Frequencies from counts keyed by bitstrings whose integer value is quinr's index: Qiskit's
    (last character = qubit 0, and quinr puts wire w on qubit n-1-w) and Braket's (first
    character = qubit 0 = wire 0) both are."""
    out = np.zeros(1 << n_qubits)
    total = 0
    for key, c in counts.items():
        out[int(key.replace(" ", ""), 2)] += c
        total += c
    return out / max(total, 1)


def check_request(p: Profile, spec: CircuitSpec, shots: int | None) -> None:
    """Refuse what a profile says its backend cannot do (needs no SDK)."""
    if shots is None and not p.exact:
        raise BackendError(f"backend {p.name} cannot return exact probabilities; give a shot count (--shots N)")
    if shots is not None:
        if isinstance(shots, bool) or not isinstance(shots, int) or shots <= 0:
            raise BackendError(f"shots must be a positive integer, got {shots!r}")
        if shots > p.max_shots:
            raise BackendError(f"backend {p.name} allows at most {p.max_shots} shots per circuit, asked for {shots}")
    if spec.n_qubits > p.max_qubits:
        raise BackendError(f"backend {p.name} has {p.max_qubits} qubits; this circuit needs {spec.n_qubits}")


class Backend:
    """A profile plus its driver: the object decoders and studies use."""

    def __init__(self, profile: Profile, driver: Driver) -> None:
        self.profile = profile
        self.driver = driver
        #: the :class:`~quinr.budget.BudgetGuard` of the decode in progress; a billed backend runs
        #: and submits nothing without one
        self.guard = None

    @property
    def name(self) -> str:
        return self.profile.name

    @property
    def remote_target(self) -> str | None:
        """The option that sends this backend's circuits to a real device, if any."""
        return type(self.driver).remote_target(self.driver.options)

    @property
    def billed(self) -> bool:
        """Whether a run costs money: the profile prices it, or its options target a real device
        (then it is billed whatever the profile's kind or pricing say)."""
        return self.profile.billed or self.remote_target is not None

    def redactor(self):
        """The :class:`~quinr.redact.Redactor` of this backend's options."""
        from ..redact import Redactor

        return Redactor(self.driver.options, type(self.driver).secret_options())

    def check(self, spec: CircuitSpec, shots: int | None) -> None:
        """Refuse, before anything runs, what the profile says this backend cannot do."""
        check_request(self.profile, spec, shots)

    def new_report(self, shots: int | None) -> ExecutionReport:
        p = self.profile
        report = ExecutionReport(
            backend=p.name,
            driver=p.driver,
            kind=p.kind,
            device=self.driver.device_name,
            shots=shots,
            exact=shots is None,
            currency=p.pricing.currency,
            pricing=p.pricing.describe(),
            options=self.redactor().options(self.driver.options),
            noise=self.driver.describe_noise(),
            profile_overrides_builtin=p.overrides_builtin,
        )
        if p.overrides_builtin:
            report.notes.append(f"profile {p.name} is a user profile that overrides the built-in of that name")
        return report

    def run(
        self, spec: CircuitSpec, h: np.ndarray, theta: np.ndarray, shots: int | None, seed: int | None, report: ExecutionReport
    ) -> np.ndarray:
        """Run every row of ``h`` (one task of the driver's, or, for drivers whose tasks live at
        a provider, submitted and collected in tasks of the profile's size)."""
        self.check(spec, shots)
        h, theta = np.asarray(h, np.float64), np.asarray(theta, np.float64)
        if self.driver.remote_tasks():
            out = np.empty((h.shape[0], spec.n_states))
            for k, sl in enumerate(task_chunks(h.shape[0], self.profile.max_circuits_per_task)):
                task = self.submit(spec, h[sl], theta, shots, None if seed is None else seed + k, report,
                                   {"quinr-chunk": str(k)})
                out[sl], _ = self.collect(task, spec, theta, sl.stop - sl.start, report)
            return out
        self.charge(h.shape[0])
        t0 = time.perf_counter()
        try:
            probs = self.driver.run(spec, h, theta, shots, seed, report)
        except BaseException:
            self.refund(h.shape[0])  # nothing came back
            raise
        report.seconds += time.perf_counter() - t0
        report.estimated_cost = self.profile.pricing.estimate(report.circuits, shots, report.tasks)
        check_probabilities(probs, h.shape[0], spec)
        return probs

    def charge(self, circuits: int) -> None:
        """Approve one task of ``circuits`` circuits with the decode's budget guard before it runs;
        a billed backend without a guard refuses (the guard is what makes a budget binding)."""
        if self.guard is not None:
            self.guard.charge(circuits)
        elif self.billed:
            from ..errors import BudgetError

            raise BudgetError(f"backend {self.name} is billed: run it through quinr.decode_on_backend with a budget "
                              "(max_cost), which guards every task")

    def refund(self, circuits: int) -> None:
        """Return the charge of a task that produced nothing (failed before or at the provider)."""
        if self.guard is not None:
            self.guard.refund(circuits)

    def account(self, report: ExecutionReport, circuits: int, task_ids: list[str], shots: int | None,
                tasks: int | None = None) -> None:
        """Count tasks in ``report`` (and re-estimate its cost): tasks this process submitted,
        and, on a resumed decode, those an earlier process submitted (``tasks`` when they have no
        ids, as a local driver's tasks do)."""
        report.circuits += circuits
        report.tasks += len(task_ids) if tasks is None else tasks
        report.task_ids.extend(task_ids)
        report.estimated_cost = self.profile.pricing.estimate(report.circuits, shots, report.tasks)

    def task_failed(self, report: ExecutionReport, circuits: int, task_id: str, shots: int | None) -> None:
        """A task the provider reported failed: it stays counted as submitted (its id is in the
        record), but its circuits ran nowhere, so they are taken back before its resubmission counts
        them again."""
        report.circuits -= circuits
        report.estimated_cost = self.profile.pricing.estimate(report.circuits, shots, report.tasks)
        report.notes.append(f"task {task_id} failed at the provider (nothing to collect) and was submitted again")

    def submit(self, spec: CircuitSpec, h: np.ndarray, theta: np.ndarray, shots: int | None, seed: int | None,
               report: ExecutionReport, tags: dict[str, str]) -> str:
        """Submit one task without waiting (for drivers whose :meth:`Driver.remote_tasks` is true)."""
        self.check(spec, shots)
        self.charge(h.shape[0])
        t0 = time.perf_counter()
        try:
            task_id = self.driver.submit(spec, np.asarray(h, np.float64), np.asarray(theta, np.float64), shots, seed, tags)
        except QuinrError:
            self.refund(h.shape[0])  # refused before it reached the provider (credentials, options)
            raise  # any other failure may have reached the provider: its charge stays
        report.seconds += time.perf_counter() - t0
        self.account(report, h.shape[0], [task_id], shots)
        return task_id

    def collect(self, task_id: str, spec: CircuitSpec, theta: np.ndarray, rows: int,
                report: ExecutionReport) -> tuple[np.ndarray, dict[str, float]]:
        """Wait for a submitted task by id; its probabilities and provider-reported usage."""
        t0 = time.perf_counter()
        probs, usage = self.driver.collect(task_id, spec, np.asarray(theta, np.float64), rows)
        report.seconds += time.perf_counter() - t0
        check_probabilities(probs, rows, spec)
        report.add_usage(self.profile.pricing, usage)
        if self.guard is not None:  # held to what the provider reports it billed
            self.guard.reconcile(rows, usage)
        return probs, usage

    def check_mitigation(self, mitigate: str | None) -> None:
        """Refuse, before anything runs, a mitigation that is unknown or that this backend cannot
        calibrate."""
        if mitigate is not None and mitigate not in MITIGATIONS:
            raise BackendError(f"unknown mitigation {mitigate!r}; valid: {', '.join(MITIGATIONS)}")
        if uses_readout(mitigate) and not self.driver.knows_readout():
            raise self.no_readout_error()
        problem = self.driver.mitigation_problem(mitigate or "")
        if problem:
            raise BackendError(f"backend {self.name}: {problem}")

    def no_readout_error(self) -> BackendError:
        return BackendError(f"backend {self.name} knows no readout error to mitigate; give its noise "
                            "(-O noise=readout=...) or decode without --mitigate")



def task_chunks(n: int, per_task: int) -> list[slice]:
    """Split n circuits into tasks of at most ``per_task`` circuits."""
    return [slice(i, min(i + per_task, n)) for i in range(0, n, per_task)]
