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
6. evaluate the network with a :class:`~quinr.backend_evaluator.HardwareEvaluator`: each model call (one per block) goes
   out in tasks of the profile's size, journaled, checkpointed and verified on reuse; retried
   with backoff; tasks that outlive the process are collected by id;
7. mitigate (per call: readout with the backend's calibration, zero-noise extrapolation over
   folded circuits);
8. measure the PSNR against the exact decode (with a prediction) and write the outputs
   atomically: the signal, the replay record, the report, the run record.

:func:`replay_record` re-decodes a run record through the ``replay`` backend, offline.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .backend_evaluator import HardwareEvaluator
from .budget import BudgetGuard
from .checks import check_seed
from .config import evaluator_calls
from .errors import BackendError, Interrupted
from .files import check_output
from .mitigation import scales_of
from .quality import finite, predict_on
from .signal import Signal, output_suffixes, psnr

#: The exact decode is computed beside every backend decode (for the report's PSNR against it)
#: when it costs at most this many amplitudes (coordinates x 2^Nq): kodim02 at Nq = 8 is 2^26.6,
#: about two seconds on two cores.
EXACT_REFERENCE_AMPLITUDES = 1 << 27

if TYPE_CHECKING:
    from .backends import Backend, ExecutionReport
    from .rundir import RunDir

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
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Signal, ExecutionReport]:
    """Decode on a backend of the catalogue (``"aer"``, ``"braket"``, ``"ibm.torino"``, ...).

    ``shots=None`` asks for exact probabilities, which only some backends can give. ``record``
    saves the backend's raw results (``.npz``) for the ``replay`` backend; ``mitigate="readout"``
    corrects them with the backend's readout calibration; ``run_dir`` makes the decode resumable
    and, when it completes, a run record (``command`` is noted in its manifest, redacted).
    ``progress(done, total)`` is called with the circuits finished so far (chunk by chunk, all
    folding factors counted) for progress bars.
    ``output`` and ``report_path`` are written when the decode succeeds; every output is checked
    before anything runs. Budget: see :class:`~quinr.budget.BudgetGuard`.
    """
    from .backends import Backend, get_backend
    from .backends.placement import check_target
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
    circuits = evaluator_calls(math.prod(out_grid), hdr.model.blocks, folds=len(scales_of(mitigate)))
    guard = BudgetGuard(be, circuits, shots, max_cost, yes)
    be.check_mitigation(mitigate)
    check_target(be, hdr.model.spec)
    redactor = be.redactor()
    report = be.new_report(shots)
    report.mitigation = mitigate
    if (report_path is not None or run_dir is not None) and hdr.model.blocks == 1:  # what it should give
        report.prediction = predict_on(be, bs, torch.from_numpy(coords), shots, mitigate=mitigate).to_report()
    # the exact decode (the record's reference, the measured PSNR's) before anything is paid for.
    # Past EXACT_REFERENCE_AMPLITUDES it is skipped, and no check is lost: the reader bounds every
    # weight by bitstream.MAX_WEIGHT, so the float64 decoder's values are finite for any file it
    # accepts (tests/test_model.py), and each chunk's probabilities are checked as they arrive.
    cheap = math.prod(out_grid) << hdr.model.spec.n_qubits <= EXACT_REFERENCE_AMPLITUDES
    exact = decode_with(bs, None, crop, scale) if report.prediction is not None or run_dir is not None or cheap else None
    rd, ephemeral = _open_run_dir(be, run_dir, raw, shots, seed, crop, scale, mitigate, redactor)
    be.guard, kept = guard, False
    try:
        if rd is not None:
            guard.count_earlier(rd.paid_tasks())  # a resumed decode's budget includes what was spent before
        done = [0]

        def advance(rows: int) -> None:
            done[0] += rows
            progress(done[0], sum(circuits))  # type: ignore[misc]

        ev = HardwareEvaluator(be, shots, seed, report, rd, mitigate, None if progress is None else advance)
        signal = decode_with(bs, ev, crop, scale)
        if exact is not None:
            report.psnr_vs_exact = finite(psnr(exact, signal))
        if rd is not None:
            report.notes[:0] = rd.notes
        _write_outputs(raw, be, report, signal, exact, ev, rd, output, record, report_path, shots, seed, crop,
                       scale, mitigate, command, redactor, ephemeral)
    except BaseException as exc:
        # paid for, now or by an earlier attempt of this decode: keep it, and say where
        if ephemeral and (report.tasks or rd.holds_work()):
            kept = True
            why = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc) or type(exc).__name__
            error = Interrupted if isinstance(exc, KeyboardInterrupt) else BackendError
            what = f"the {report.tasks} task(s) already run" if report.tasks else "the tasks already paid for"
            raise error(f"{why} -- the results of {what} are kept in {rd.path}: "
                        "rerun the same command to finish without paying for them again") from None
        raise
    finally:
        be.guard = None
        if rd is not None:
            if ephemeral and not kept:  # removed under its lock: a rerun started meanwhile cannot work in it
                shutil.rmtree(rd.path, ignore_errors=True)
            rd.close()
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
        save_record(record, ev.raw, conf, ev.folds)
    if rd is not None and ev.raw and not ephemeral:
        from .records import write_record

        write_record(rd.path, data=raw, backend=be, report=report, shots=shots, seed=seed, crop=crop, scale=scale,
                     mitigate=mitigate, calls=ev.raw, folds=ev.folds, signal=signal, exact=exact,
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
