"""The evaluator a decode on a backend hands the model: each model call runs on the backend,
chunk by chunk, journaled, checkpointed and resumable, at every folding factor its mitigation
needs, and mitigated (:mod:`quinr.mitigation`). :func:`quinr.hardware.decode_on_backend` owns
the decode around it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .circuit import CircuitSpec
from .errors import BackendError, FileError, QuinrError, TaskFailedError
from .mitigation import mitigate_runs, scales_of, uses_readout

if TYPE_CHECKING:
    from .backends import Backend, ExecutionReport
    from .rundir import RunDir

#: Attempts per chunk, and the first backoff in seconds (doubled after each failure).
RETRIES = 3
BACKOFF_S = 1.0
#: Seeds of successive chunks of one call, and of successive calls: seed + CALL_STRIDE * call + chunk.
CALL_STRIDE = 1_000_003


class HardwareEvaluator:
    """The evaluator a decode hands the model: every call runs on the backend, chunk by chunk.

    A call's circuits go out in tasks of at most the profile's ``max_circuits_per_task``; with a
    run directory every chunk is journaled before submission and checkpointed when it returns,
    and a finished chunk is reused only after it passes its checks. ``raw`` keeps every call's
    unmitigated probabilities (the run's replay record).
    """

    def __init__(self, backend: Backend, shots: int | None, seed: int | None, report: ExecutionReport,
                 run_dir: RunDir | None = None, mitigate: str | None = None,
                 progress: Callable[[int], None] | None = None) -> None:
        self.backend, self.shots, self.seed, self.report = backend, shots, seed, report
        self.run_dir, self.mitigate = run_dir, mitigate
        self.progress = progress  # called with the circuits of every finished chunk
        self.raw: list[np.ndarray] = []
        self.folds: list[int] = []  # the folding factor of each raw call (zero-noise extrapolation)
        self.calls = 0

    def __call__(self, spec: CircuitSpec, h: torch.Tensor, theta: torch.Tensor, last: int | None) -> torch.Tensor:
        """One model call: the circuits at every folding factor the mitigation needs (each a
        backend call of its own), mitigated."""
        hh = h.detach().cpu().numpy().astype(np.float64)
        tt = theta.detach().cpu().numpy().astype(np.float64)
        runs, confusions = [], []
        for fold in scales_of(self.mitigate):
            folded = spec if fold == 1 else spec.folded(fold)
            runs.append(self._call(folded, hh, tt))
            confusions.append(self._confusion(folded) if uses_readout(self.mitigate) else None)
        if len(runs) > 1 and "zero-noise extrapolation" not in " ".join(self.report.notes):
            self.report.notes.append(f"zero-noise extrapolation: every circuit run with its gates folded "
                                     f"{', '.join(map(str, scales_of(self.mitigate)))} times, a least-squares line "
                                     "to zero noise, then the nearest probability vector")
        probs = mitigate_runs(runs, self.mitigate, confusions) if self.mitigate else runs[0]
        out = torch.from_numpy(probs).to(device=h.device, dtype=h.dtype)
        return out if last is None else out[:, -last:]

    def _call(self, spec: CircuitSpec, hh: np.ndarray, tt: np.ndarray) -> np.ndarray:
        """One backend call, chunk by chunk (journaled, checkpointed and resumable with a run
        directory); its probabilities are kept, unmitigated, for the run's record."""
        from .backends.base import task_chunks

        call = self.calls
        self.calls += 1
        probs = np.empty((hh.shape[0], spec.n_states))
        journal = self.run_dir.journal() if self.run_dir is not None else {}
        reused = collected = 0
        for k, sl in enumerate(task_chunks(hh.shape[0], self.backend.profile.max_circuits_per_task)):
            seed = None if self.seed is None else self.seed + CALL_STRIDE * call + k
            if self.run_dir is None:
                probs[sl] = self._run(spec, hh[sl], tt, seed, call, k)
            else:
                out, how = self._checkpointed(spec, hh[sl], tt, seed, call, k, journal.get((call, k), []))
                probs[sl] = out
                reused += how == "reused"
                collected += how == "collected"
            if self.progress is not None:
                self.progress(sl.stop - sl.start)
        if reused:
            self.report.notes.append(f"resume: call {call}: {reused} chunk(s) reused from {self.run_dir.path}, "
                                     "not resubmitted")
        if collected:
            self.report.notes.append(f"resume: call {call}: {collected} task(s) submitted before the interruption "
                                     "collected by id")
        self.raw.append(probs)
        self.folds.append(spec.fold)
        return probs

    # ------------------------------------------------------------------------ one chunk
    def _run(self, spec, h, theta, seed, call, k) -> np.ndarray:
        """A chunk without a run directory: run it, or submit it and collect it (the backend
        charges the guard for every task before it runs)."""
        be = self.backend
        if be.driver.remote_tasks():
            task = be.submit(spec, h, theta, self.shots, seed, self.report, {"quinr-chunk": _tag(call, k)})
            return be.collect(task, spec, theta, h.shape[0], self.report)[0]
        return be.run(spec, h, theta, self.shots, seed, self.report)

    def _checkpointed(self, spec, h, theta, seed, call, k, events) -> tuple[np.ndarray, str]:
        """A chunk through the run directory: reused if verified, else collected by id or run."""
        be, rd, rows = self.backend, self.run_dir, h.shape[0]
        fin = [e for e in events if e["event"] == "done"]
        done, problem = rd.load(call, k, (rows, spec.n_states), fin[-1].get("sha256") if fin else None)
        if done is not None:
            line = fin[-1]
            be.account(self.report, line["circuits"], line["task_ids"], self.shots, line.get("tasks"))
            self.report.add_usage(be.profile.pricing, line["usage"])
            if be.guard is not None:  # an earlier process's task, which count_earlier charged at its estimate
                be.guard.reconcile(line["circuits"], line["usage"])
            return done, "reused"
        remote = be.driver.remote_tasks()
        if problem is not None:
            again = "collected again by its task id" if remote and _accepted(events) else "run again"
            self.report.notes.append(f"resume: chunk {_tag(call, k)} on disk was not used: {problem}; it is {again}")
        tasks_before = self.report.tasks
        if remote:
            probs, task_ids, usage, resumed = self._remote_chunk(spec, h, theta, seed, call, k, events)
        else:
            (probs, task_ids), usage, resumed = self._local_chunk(spec, h, theta, seed, call, k), None, False
        sha = rd.save(call, k, probs)
        rd.log("done", call=call, chunk=k, circuits=rows, task_ids=task_ids, tasks=self.report.tasks - tasks_before,
               usage=usage, sha256=sha)
        return probs, "collected" if resumed else "run"

    def _local_chunk(self, spec, h, theta, seed, call, k) -> tuple[np.ndarray, list[str]]:
        """A chunk on a backend that runs in this process: nothing outlives a crash, so the chunk
        is simply run (again) until its results are on disk."""
        be, rd = self.backend, self.run_dir
        delay = BACKOFF_S
        for attempt in range(1, RETRIES + 1):
            rd.log("submit", call=call, chunk=k, attempt=attempt, circuits=h.shape[0])
            before = len(self.report.task_ids)
            try:
                probs = be.run(spec, h, theta, self.shots, seed, self.report)
                return probs, self.report.task_ids[before:]
            except QuinrError:
                raise
            except Exception as exc:  # an SDK or network failure: retry, then give up on this chunk
                if be.billed:  # it may have run, and billed, before failing: a retry is the user's call
                    raise BackendError(
                        f"chunk {_tag(call, k)} failed on the billed backend {be.name} ({type(exc).__name__}: {exc}); "
                        "it may have been billed, so it is not retried automatically: rerun the same command to "
                        "run it (and the chunks after it) again") from None
                if attempt == RETRIES:
                    raise _gave_up(rd, call, k, exc) from None
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    def _remote_chunk(self, spec, h, theta, seed, call, k, events):
        """A chunk on a backend whose tasks outlive this process: collect the chunk's accepted
        task by id if there is one, else submit (charged first); retry collections on the same
        task, resubmit a task the provider reports failed."""
        be, rd = self.backend, self.run_dir
        pending = _accepted(events)
        tag = _tag(call, k)
        resumed = pending is not None
        if resumed:
            be.account(self.report, h.shape[0], [pending], self.shots)  # submitted (and paid for) by an earlier process
        elif events and events[-1]["event"] == "submit":
            self.report.notes.append(
                f"resume: chunk {tag}: an earlier process died while submitting it, before the provider returned "
                f"a task id; it is submitted again. If the provider lists a task tagged quinr-run={rd.key}, "
                f"quinr-chunk={tag} from then, cancel it.")
        delay = BACKOFF_S
        attempts = sum(e["event"] == "submit" for e in events)
        mine = False  # whether this process submitted (and charged) the pending task
        failed: list[str] = []  # tasks of this chunk the provider reported failed
        for attempt in range(1, RETRIES + 1):
            try:
                if pending is None:
                    attempts += 1
                    rd.log("submit", call=call, chunk=k, attempt=attempts, circuits=h.shape[0])
                    try:
                        pending = be.submit(spec, h, theta, self.shots, seed, self.report,
                                            {"quinr-run": rd.key, "quinr-chunk": tag})
                    except QuinrError:  # refused before reaching the provider (credentials, options); the
                        rd.log("refused", call=call, chunk=k)  # message may quote an account: not journaled
                        raise
                    except Exception as exc:  # the request may have reached the provider: never resubmit blind
                        raise BackendError(
                            f"submitting chunk {tag} failed ({type(exc).__name__}: {exc}); the request may have "
                            f"reached the provider, so it is not submitted again automatically. If the provider lists "
                            f"a task tagged quinr-run={rd.key}, quinr-chunk={tag}, cancel it (or let it finish); "
                            "then rerun the same command") from None
                    mine = True
                    try:
                        rd.log("submitted", call=call, chunk=k, task_id=pending)
                    except FileError as exc:  # accepted (and paid for): its id must not be lost with the line
                        raise BackendError(f"task {pending} (chunk {tag}) was accepted but could not be journaled "
                                           f"({exc}); note its id: the provider lists it under quinr-run={rd.key}, "
                                           f"quinr-chunk={tag}") from None
                probs, usage = be.collect(pending, spec, theta, h.shape[0], self.report)
                return probs, [*failed, pending], usage or None, resumed
            except TaskFailedError as exc:  # nothing to collect and nothing billed: submit it anew
                rd.log("failed", call=call, chunk=k, task_id=pending, reason=str(exc))
                be.task_failed(self.report, h.shape[0], pending, self.shots)
                failed.append(pending)
                if mine:
                    be.refund(h.shape[0])
                pending, mine, resumed, last = None, False, False, exc
            except QuinrError:
                raise
            except Exception as exc:  # network or SDK: retry (a collection stays on the same task)
                last = exc
            if attempt == RETRIES:
                if pending is not None:
                    raise BackendError(
                        f"task {pending} (chunk {k} of call {call}) could not be collected ({type(last).__name__}: "
                        f"{last}); it stays at the provider: rerun the same command to collect it, without resubmitting"
                    ) from None
                raise _gave_up(rd, call, k, last) from None
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------------ mitigation
    def _confusion(self, spec: CircuitSpec) -> np.ndarray:
        """The readout calibration of the qubits ``spec`` runs on (noted in the report)."""
        conf = self.backend.driver.readout_confusion(spec)
        if conf is None:
            raise self.backend.no_readout_error()
        if spec.fold == 1:
            self.report.readout_confusion = conf.tolist()
        if "readout mitigation" not in " ".join(self.report.notes):
            self.report.notes.append("readout mitigation: tensored inverse confusion, then nearest probability vector")
        return conf


def _tag(call: int, k: int) -> str:
    return f"c{call:04d}_k{k:06d}"


def _accepted(events: list[dict[str, Any]]) -> str | None:
    """The id of the chunk's last task the provider accepted and did not report failed."""
    task = None
    for e in events:
        if e["event"] == "submitted":
            task = e["task_id"]
        elif e["event"] == "failed":
            task = None
    return task


def _gave_up(run_dir: RunDir, call: int, k: int, exc: BaseException) -> BackendError:
    return BackendError(f"chunk {k} of call {call} failed {RETRIES} times ({type(exc).__name__}: {exc}); the "
                        f"finished chunks are in {run_dir.path}: rerun the same command with --run-dir "
                        f"{run_dir.path} to retry only what is missing")


# -------------------------------------------------------------------------------- the decode
