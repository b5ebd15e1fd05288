"""Budgets before spending: cost estimates, the predicted quality of a decode, and the budget guard.

The predicted PSNR comes from :mod:`quinr.quality` (shot noise, the backend's noise model and
readout mitigation); the cost from the profile's dated pricing; :class:`BudgetGuard` holds a
decode to its ``--max-cost`` as it submits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from .checks import check_max_cost, within_budget
from .config import evaluator_calls
from .errors import ConfigError, MissingSDKError
from .mitigation import scales_of
from .quality import PREDICT_COORDINATES, exact_outputs, finite, load_reference, predict, predict_on, shots_for_drop


@dataclass(frozen=True)
class BudgetEstimate:
    """What a decode will cost before anything is submitted."""

    backend: str
    device: str
    circuits: int
    shots: int | None
    total_shots: int
    tasks: int
    device_seconds: float | None
    #: estimated wall time of the decode on this machine, from two timed probes of the backend:
    #: local simulators by default, emulators when asked (``time_probe=True``: each probe pays
    #: their setup); None otherwise and for backends whose tasks run at a provider
    wall_seconds: float | None
    cost: float
    currency: str
    pricing: str
    pricing_date: str
    pricing_source: str
    #: PSNR against the exact noise-free decode: shot noise, the backend's noise and mitigation
    predicted_psnr_vs_exact: float | None
    #: PSNR against --reference, the same way
    predicted_psnr: float | None
    #: PSNR against the exact decode from shot noise alone (a noise-free device)
    predicted_psnr_shots_only: float | None
    #: the noise model of the prediction: calibration, date, layout; or why there is none
    noise_source: str
    #: coordinates the noise prediction evaluated (a seeded subset of larger decodes)
    prediction_coordinates: int
    mitigation: str | None
    max_cost: float | None
    within_budget: bool
    fits: str | None

    def to_dict(self) -> dict:
        return asdict(self)


def estimate_cost(profile, pixels: int, shots: int | None, blocks: int = 1,
                  folds: int = 1) -> tuple[int, float, float | None]:
    """(tasks, cost, billed device seconds or None) of a decode of ``pixels`` coordinates through
    ``blocks`` stacked blocks at ``folds`` folding factors, split into backend calls and tasks
    exactly as the decode submits them (:func:`quinr.config.evaluator_calls`)."""
    est = profile.estimate(evaluator_calls(pixels, blocks, folds=folds), shots)
    return est.tasks, est.cost, est.device_seconds


def largest_affordable(profile, pixels: int, shots: int | None, max_cost: float, blocks: int = 1,
                       folds: int = 1) -> int:
    """Largest number of pixels whose decode's estimated cost stays within ``max_cost``."""
    lo, hi = 0, pixels
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if within_budget(estimate_cost(profile, mid, shots, blocks, folds)[1], max_cost):
            lo = mid
        else:
            hi = mid - 1
    return lo


class BudgetGuard:
    """The spend one run is allowed, enforced twice.

    Before anything runs: a billed backend (its profile prices it, or its options point at a real
    device) refuses to run without an explicit budget (``max_cost``, or ``yes`` to accept the
    estimate), and a run whose estimate exceeds the budget stops. ``max_cost`` must be a finite
    number >= 0, and the comparisons are written so that a NaN can never pass.

    While it runs: every task is charged before it is submitted, at the profile's rates; a task
    past the approved count or the approved cost is refused (with ``yes``, the approval is the
    estimate itself), so no miscount elsewhere can spend more than was approved. A task the
    provider reports failed is not billed, so its charge is returned; one whose reported usage
    cost more than its charge (:meth:`reconcile`) counts what it cost.
    """

    def __init__(self, backend, calls: Sequence[int], shots: int | None, max_cost: float | None = None,
                 yes: bool = False) -> None:
        from .errors import BudgetError

        max_cost = check_max_cost(max_cost)
        p = backend.profile
        est = p.estimate(calls, shots)
        if not math.isfinite(est.cost):
            raise BudgetError(f"backend {p.name}: the estimated cost is not a finite number; check the profile's prices")
        self.estimate, self.billed, self.shots, self.pricing = est, backend.billed, shots, p.pricing
        cur = p.pricing.currency
        if self.billed and max_cost is None and not yes:
            raise BudgetError(
                f"backend {p.name} is billed ({p.pricing.describe()}); this decode is estimated at "
                f"{est.cost:.2f} {cur} ({est.circuits} circuits, {est.tasks} tasks). Pass --max-cost {cur} (or --yes); "
                "`quinr budget` shows the details"
            )
        if max_cost is not None and not within_budget(est.cost, max_cost):
            raise BudgetError(
                f"estimated cost {est.cost:.2f} {cur} exceeds --max-cost {max_cost:.2f}; nothing was submitted. "
                "`quinr budget FILE --backend ... --max-cost ...` suggests a crop or scale that fits"
            )
        self.limit = est.cost if max_cost is None else max_cost
        self.tasks = 0
        self.spent = 0.0
        self.overrun = 0.0  # what the provider reported billing beyond the tasks' charges

    def charge(self, circuits: int) -> None:
        """Approve one task of ``circuits`` circuits before it is submitted."""
        if not self.billed:
            return
        from .errors import BudgetError

        cost = self.pricing.estimate(circuits, self.shots, 1)
        slack = 1e-9 * max(1.0, self.limit)
        if self.tasks + 1 > self.estimate.tasks or not within_budget(self.spent + cost, self.limit + slack):
            over = (f"; the provider reported billing {self.overrun:.2f} {self.pricing.currency} more than estimated"
                    if self.overrun > 0 else "")
            raise BudgetError(
                f"the next task would take this run past what was approved ({self.estimate.tasks} tasks, "
                f"{self.limit:.2f} {self.pricing.currency}){over}; it was not submitted"
            )
        self.tasks += 1
        self.spent += cost

    def reconcile(self, circuits: int, usage: dict[str, float] | None) -> None:
        """Hold a finished task of ``circuits`` circuits to what its provider reports it billed
        (:meth:`Pricing.bill`; IBM bills measured quantum seconds, which can exceed the estimate
        the task was charged). A task that cost more than its charge adds the difference, so the
        next task is refused once the reported spend reaches the budget. A report of less is not
        trusted to free budget (usage of the wrong kind prices at 0), and a report that cannot be
        priced as a finite number spends the whole budget: nothing more is submitted."""
        if not (self.billed and usage):
            return
        billed, charged = self.pricing.bill(usage), self.pricing.estimate(circuits, self.shots, 1)
        if not math.isfinite(billed):
            self.spent, self.overrun = math.inf, math.inf
        elif billed > charged:
            self.spent += billed - charged
            self.overrun += billed - charged

    def count_earlier(self, tasks: list[int]) -> None:
        """Count what earlier processes of this decode paid for (the circuit counts of their
        tasks, read from its run directory's journal): ``--max-cost`` bounds the whole decode's
        spending, however many times it is resumed, not each process's. (The task count stays
        this process's: it submits only the chunks that are missing.)"""
        if self.billed:
            self.spent += sum(self.pricing.estimate(c, self.shots, 1) for c in tasks)

    def refund(self, circuits: int) -> None:
        """Return the charge of a task of ``circuits`` circuits that produced nothing (it failed
        before the provider accepted it, or the provider reported it failed: not billed)."""
        if self.billed and self.tasks > 0:
            self.tasks -= 1
            self.spent -= self.pricing.estimate(circuits, self.shots, 1)


def plan_budget(
    source,
    backend: str,
    *,
    shots: int | None = None,
    target_psnr_drop: float | None = None,
    reference=None,
    crop: tuple[int, ...] | None = None,
    scale: float | None = None,
    max_cost: float | None = None,
    max_pixels: int | None = None,
    options: dict | None = None,
    mitigate: str | None = None,
    samples: int = PREDICT_COORDINATES,
    time_probe: bool | None = None,
) -> BudgetEstimate:
    """Everything ``quinr budget`` reports, computed locally (no network: a QPU's prediction uses
    only calibrations available offline). Its verdict on ``max_cost`` is the decode's guard's
    (:class:`BudgetGuard`): the same checks, the same comparison, the same task count.
    ``time_probe`` times two small runs of the backend to estimate the decode's wall time here
    (``None``: on exact simulators only, where a probe costs milliseconds; the IBM emulators'
    probes pay their setup, about 15 s each)."""
    from .backends import get_backend, get_profile
    from .backends.base import check_request
    from .backends.registry import check_billing
    from .codec import decode_grid, read_bitstream

    max_cost = check_max_cost(max_cost)
    if target_psnr_drop is not None and not (math.isfinite(target_psnr_drop) and target_psnr_drop > 0):
        raise ConfigError(f"--target-psnr-drop must be a finite number of dB above 0, got {target_psnr_drop}")
    try:
        be, why = get_backend(backend, options), ""
        profile = be.profile
        be.check_mitigation(mitigate)
    except MissingSDKError as exc:  # the cost needs no SDK; the noise model does
        be, why, profile = None, str(exc), get_profile(backend)
    check_billing(profile)
    bs = read_bitstream(source)
    hdr = bs.header
    if be is not None:
        from .backends.placement import check_target

        check_target(be, hdr.model.spec)
    coords, out_grid = decode_grid(hdr, crop, scale, max_pixels)
    calls, per_call, folds = hdr.model.blocks, math.prod(out_grid), len(scales_of(mitigate))
    circuits = per_call * calls * folds
    ref = None if reference is None else load_reference(reference, hdr, crop, scale)
    if target_psnr_drop is not None:
        if ref is None or hdr.model.blocks != 1:
            raise ConfigError("--target-psnr-drop needs --reference (and a one-block network)")
        shots = shots_for_drop(exact_outputs(bs, torch.from_numpy(coords)), ref, target_psnr_drop, profile.max_shots)
        if shots is None:
            raise ConfigError(f"even {profile.max_shots} shots (the backend's limit) lose more than {target_psnr_drop} dB")
    check_request(profile, hdr.model.circuit(), shots)
    tasks, cost, seconds = estimate_cost(profile, per_call, shots, calls, folds)
    wall = None
    local = be is not None and not be.driver.remote_tasks() and not be.billed and hdr.model.blocks == 1
    if local and (profile.kind == "simulator" if time_probe is None else time_probe):
        wall = _wall_seconds(be, bs, coords, shots, tasks, circuits, mitigate)
    pred = None
    if hdr.model.blocks == 1:
        coords_t = torch.from_numpy(coords)
        pred = (predict(bs, coords_t, shots, None, reference=ref, no_model=why, samples=samples) if be is None
                else predict_on(be, bs, coords_t, shots, mitigate=mitigate, reference=ref, samples=samples))
    fits = None
    within = max_cost is None or within_budget(cost, max_cost)
    if not within:
        n = largest_affordable(profile, per_call, shots, max_cost, calls, folds)
        if n == 0:
            fits = "nothing: even one pixel costs more"
        elif len(out_grid) == 1:
            s_fit = n / hdr.pixels
            fits = f"{n} samples, e.g. --crop 0,{n} or --scale {math.floor(s_fit * 1000) / 1000:g}"
        else:
            rows, cols = out_grid
            side = max(1, int(math.isqrt(n)))
            s_fit = math.sqrt(n / hdr.pixels)
            fits = (f"{n} pixels, e.g. --crop 0,0,{min(side, cols)},{min(side, rows)} "
                    f"or --scale {math.floor(s_fit * 1000) / 1000:g}")
    p = profile.pricing
    return BudgetEstimate(
        backend=profile.name,
        device=profile.device or profile.name,
        circuits=circuits,
        shots=shots,
        total_shots=circuits * (shots or 0),
        tasks=tasks,
        device_seconds=seconds,
        wall_seconds=wall,
        cost=cost,
        currency=p.currency,
        pricing=p.describe(),
        pricing_date=p.date,
        pricing_source=p.source or "free",
        predicted_psnr_vs_exact=None if pred is None else finite(pred.vs_exact),
        predicted_psnr=None if pred is None else finite(pred.vs_reference),
        predicted_psnr_shots_only=None if pred is None else finite(pred.shots_only),
        noise_source="a stacked network: no prediction" if pred is None else pred.source,
        prediction_coordinates=0 if pred is None else pred.coordinates,
        mitigation=mitigate,
        max_cost=max_cost,
        within_budget=within,
        fits=fits,
    )


#: Circuits of the two timed probes behind :attr:`BudgetEstimate.wall_seconds`.
PROBES = (2, 8)


def _wall_seconds(be, bs, coords, shots, tasks: int, circuits: int, mitigate: str | None) -> float:
    """The decode's wall time on a local backend: two probes of the file's own first circuits
    (2 and 8) time the backend as ``a + b * circuits`` per task (its setup and its per-circuit
    cost); the decode's tasks and circuits at that rate. Folded circuits (zero-noise
    extrapolation) are counted at their mean length."""
    import time

    from .codec import load_model

    net = load_model(bs)
    spec, theta = net.blocks[0].spec, net.blocks[0].theta.detach().double().numpy()
    n = coords.shape[0]
    times = []
    for k in PROBES:
        rows = np.resize(np.arange(n), k)  # the first circuits (repeated for a tiny decode)
        h = net.blocks[0].embed(torch.from_numpy(coords[rows])).detach().double().numpy()
        t0 = time.perf_counter()
        be.driver.run(spec, h, theta, shots, 0, be.new_report(shots))
        times.append(time.perf_counter() - t0)
    per_circuit = max((times[1] - times[0]) / (PROBES[1] - PROBES[0]), 0.0)
    setup = max(times[0] - PROBES[0] * per_circuit, 0.0)
    scales = scales_of(mitigate)
    return tasks * setup + circuits * per_circuit * sum(scales) / len(scales)
