"""One owner of a decode on a backend: the whole sequence, in the order it happens.

:func:`decode_on_backend` reads as the decode runs:

1. resolve the backend (profile + driver, options checked) and read the bitstream;
2. check the request against the profile (qubits, shots), the seed, and every output (the signal
   file's folder and extension, the replay record, the report, the run directory's rules), so
   nothing that could fail at the end is discovered after tasks were paid for;
3. guard the budget (:class:`~quinr.budget.BudgetGuard`): a billed backend needs an explicit,
   finite budget that the estimate fits, and every task is charged before it is submitted;
4. check the mitigation (a QPU's calibration is fetched now, before anything is submitted), and,
   with a report or run directory, predict the decode's quality (:mod:`quinr.quality`);
5. open the run directory (:class:`~quinr.rundir.RunDir`; a billed decode without ``--run-dir``
   gets one in the run cache, named after the decode, so that rerunning the same command after
   any failure collects what was paid for instead of paying again);
6. evaluate the network with a :class:`HardwareEvaluator`: each model call (one per block) goes
   out in tasks of the profile's size, journaled, checkpointed and verified on reuse; retried
   with backoff; tasks that outlive the process are collected by id;
7. mitigate readout (per call, with the backend's calibration);
8. measure the PSNR against the exact decode (with a prediction) and write the outputs
   atomically: the signal, the replay record, the report, the run record.

:func:`replay_record` re-decodes a run record through the ``replay`` backend, offline.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .budget import BudgetGuard
from .checks import check_seed
from .circuit import CircuitSpec
from .config import evaluator_calls
from .errors import BackendError, Interrupted, QuinrError, TaskFailedError
from .files import check_output
from .quality import finite, predict_on
from .signal import Signal, output_suffixes, psnr

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
                 run_dir: RunDir | None = None, mitigate: str | None = None) -> None:
        self.backend, self.shots, self.seed, self.report = backend, shots, seed, report
        self.run_dir, self.mitigate = run_dir, mitigate
        self.raw: list[np.ndarray] = []
        self.calls = 0

    def __call__(self, spec: CircuitSpec, h: torch.Tensor, theta: torch.Tensor, last: int | None) -> torch.Tensor:
        from .backends.base import task_chunks

        call = self.calls
        self.calls += 1
        hh = h.detach().cpu().numpy().astype(np.float64)
        tt = theta.detach().cpu().numpy().astype(np.float64)
        probs = np.empty((hh.shape[0], spec.n_states))
        journal = self.run_dir.journal() if self.run_dir is not None else {}
        reused = collected = 0
        for k, sl in enumerate(task_chunks(hh.shape[0], self.backend.profile.max_circuits_per_task)):
            seed = None if self.seed is None else self.seed + CALL_STRIDE * call + k
            if self.run_dir is None:
                probs[sl] = self._run(spec, hh[sl], tt, seed, call, k)
                continue
            out, how = self._checkpointed(spec, hh[sl], tt, seed, call, k, journal.get((call, k), []))
            probs[sl] = out
            reused += how == "reused"
            collected += how == "collected"
        if reused:
            self.report.notes.append(f"resume: call {call}: {reused} chunk(s) reused from {self.run_dir.path}, "
                                     "not resubmitted")
        if collected:
            self.report.notes.append(f"resume: call {call}: {collected} task(s) submitted before the interruption "
                                     "collected by id")
        self.raw.append(probs)
        if self.mitigate == "readout":
            probs = self._mitigated(spec, probs)
        out = torch.from_numpy(probs).to(device=h.device, dtype=h.dtype)
        return out if last is None else out[:, -last:]

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
                    mine = True
                    rd.log("submitted", call=call, chunk=k, task_id=pending)
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
    def _mitigated(self, spec: CircuitSpec, probs: np.ndarray) -> np.ndarray:
        from .mitigation import mitigate_readout

        conf = self.backend.driver.readout_confusion(spec)
        if conf is None:
            raise self.backend.no_readout_error()
        self.report.readout_confusion = conf.tolist()
        if "readout mitigation" not in " ".join(self.report.notes):
            self.report.notes.append("readout mitigation: tensored inverse confusion, then nearest probability vector")
        return mitigate_readout(probs, conf)


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
def decode_on_backend(
    source: str | Path | bytes,
    backend: str | Backend,
    *,
    shots: int | None,
    options: dict[str, Any] | None = None,
    seed: int | None = None,
    record: str | Path | None = None,
    max_cost: float | None = None,
    yes: bool = False,
    crop: tuple[int, ...] | None = None,
    scale: float | None = None,
    mitigate: str | None = None,
    run_dir: str | Path | None = None,
    command: list[str] | None = None,
    output: str | Path | None = None,
    report_path: str | Path | None = None,
    max_pixels: int | None = None,
) -> tuple[Signal, ExecutionReport]:
    """Decode on a backend of the catalogue (``"aer"``, ``"braket"``, ``"ibm.torino"``, ...).

    ``shots=None`` asks for exact probabilities, which only some backends can give. ``record``
    saves the backend's raw results (``.npz``) for the ``replay`` backend; ``mitigate="readout"``
    corrects them with the backend's readout calibration; ``run_dir`` makes the decode resumable
    and, when it completes, a run record (``command`` is noted in its manifest, redacted).
    ``output`` and ``report_path`` are written when the decode succeeds; every output is checked
    before anything runs. Budget: see :class:`~quinr.budget.BudgetGuard`.
    """
    from .backends import Backend, get_backend
    from .codec import decode_grid, decode_with, read_bitstream, read_source

    be = backend if isinstance(backend, Backend) else get_backend(backend, options)
    raw = read_source(source)
    bs = read_bitstream(raw)
    hdr = bs.header
    be.check(hdr.model.circuit(), shots)
    if seed is not None:
        check_seed(seed)
    coords, out_grid = decode_grid(hdr, crop, scale, max_pixels)
    inputs = [] if isinstance(source, (bytes, bytearray, memoryview)) else [source]
    if output is not None:
        check_output(output, inputs=inputs, suffixes=output_suffixes(hdr.kind, hdr.channels, len(hdr.grid)),
                     what="decoded signal")
    if record is not None:
        check_output(record, inputs=inputs, suffixes=(".npz",), what="replay record")
    if report_path is not None:
        check_output(report_path, inputs=inputs, suffixes=(".json",), what="report")
    if run_dir is not None:
        from .rundir import check_run_dir

        check_run_dir(run_dir)
    guard = BudgetGuard(be, evaluator_calls(math.prod(out_grid), hdr.model.blocks), shots, max_cost, yes)
    be.check_mitigation(mitigate)
    redactor = be.redactor()
    report = be.new_report(shots)
    report.mitigation = mitigate
    if (report_path is not None or run_dir is not None) and hdr.model.blocks == 1:  # what it should give
        report.prediction = predict_on(be, bs, torch.from_numpy(coords), shots, mitigate=mitigate).to_report()
    # the exact decode (the record's reference, the measured PSNR's) before anything is paid for
    exact = decode_with(bs, None, crop, scale) if report.prediction is not None or run_dir is not None else None
    rd, ephemeral = _open_run_dir(be, run_dir, raw, shots, seed, crop, scale, mitigate, redactor)
    be.guard, kept = guard, False
    try:
        ev = HardwareEvaluator(be, shots, seed, report, rd, mitigate)
        signal = decode_with(bs, ev, crop, scale)
        if report.prediction is not None:
            report.psnr_vs_exact = finite(psnr(exact, signal))
        if rd is not None:
            report.notes[:0] = rd.notes
        _write_outputs(raw, be, report, signal, exact, ev, rd, output, record, report_path, shots, seed, crop,
                       scale, mitigate, command, redactor, ephemeral)
    except BaseException as exc:
        if ephemeral and report.tasks:  # paid for: keep it, and say where
            kept = True
            why = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc) or type(exc).__name__
            error = Interrupted if isinstance(exc, KeyboardInterrupt) else BackendError
            raise error(f"{why} -- the results of the {report.tasks} task(s) already run are kept in {rd.path}: "
                        "rerun the same command to finish without paying for them again") from None
        raise
    finally:
        be.guard = None
        if rd is not None:
            rd.close()
            if ephemeral and not kept:
                shutil.rmtree(rd.path, ignore_errors=True)
    return signal, report


def _open_run_dir(be, run_dir, raw, shots, seed, crop, scale, mitigate, redactor) -> tuple[RunDir | None, bool]:
    """The decode's run directory: the user's, or, for a billed decode without one, a directory in
    the run cache named after the decode itself, so that rerunning the same command after any
    failure (a crash, Ctrl-C, even SIGKILL) finds what was paid for and collects it instead of
    paying again. It is removed when the decode succeeds."""
    from .rundir import RunDir

    ephemeral = run_dir is None and be.billed
    if run_dir is None and not ephemeral:
        return None, False
    identity = {"file_sha256": hashlib.sha256(raw).hexdigest(), "backend": be.name, "shots": shots, "seed": seed,
                "options": redactor.options(be.driver.options), "crop": crop, "scale": scale, "mitigate": mitigate}
    if secrets := redactor.secrets_digest(be.driver.options):
        identity["secrets"] = secrets  # an account change is a different decode, without the account written
    if ephemeral:
        key = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:24]
        from .rundir import run_cache

        run_dir = run_cache() / key
    return RunDir(Path(run_dir), identity, redactor), ephemeral


def _write_outputs(raw, be, report, signal, exact, ev, rd, output, record, report_path, shots, seed, crop, scale,
                   mitigate, command, redactor, ephemeral) -> None:
    """Everything a finished decode leaves behind, each file written atomically."""
    from .backends.replay import save_record
    from .signal import save_signal

    conf = None if report.readout_confusion is None else np.array(report.readout_confusion)
    if output is not None:
        save_signal(signal, output)
    if record is not None and ev.raw:
        save_record(record, ev.raw, conf)
    if rd is not None and ev.raw and not ephemeral:
        from .records import write_record

        write_record(rd.path, data=raw, backend=be, report=report, shots=shots, seed=seed, crop=crop, scale=scale,
                     mitigate=mitigate, calls=ev.raw, signal=signal, exact=exact,
                     command=None if command is None else redactor.command(command), redactor=redactor)
    if report_path is not None:
        report.save(report_path, redactor)


def replay_record(run_dir: str | Path) -> dict[str, Any]:
    """Re-decode a run record offline through the ``replay`` backend and compare with what it
    saved: the recorded and replayed metrics and whether the decoded signal is identical. Only
    files inside the record are read (see :func:`quinr.records.read_record`)."""
    from .codec import decode
    from .records import metrics, read_record

    rec = read_record(run_dir)
    m = rec.manifest
    sig, _ = decode_on_backend(rec.data, "replay", shots=m["shots"], options={"record": str(rec.results)},
                               crop=rec.crop, scale=m["scale"], mitigate=m["mitigation"])
    exact = rec.reference(sig) if rec.has_reference else decode(rec.data, crop=rec.crop, scale=m["scale"])
    again = metrics(sig, exact)
    return {"recorded": rec.metrics, "replayed": again, "identical": again == rec.metrics}
