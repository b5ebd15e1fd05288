"""Checkpointed decoding: a run directory that a decode on a paid backend can die and resume in.

Circuits go out in chunks of the profile's ``max_circuits_per_task`` (one task each). Every
finished chunk's raw results are written atomically (temporary file, then rename) to
``chunks/c<call>_k<chunk>.npy`` *before* the next chunk is submitted. ``run.json`` pins what the
directory belongs to (file, backend, shots, seed, options, crop, scale); a different decode is
refused, and so is a second process while one is working in it (an exclusive ``flock`` on
``lock``). ``submissions.jsonl`` is the run's journal, one JSON line per event, flushed to disk
before the step it announces:

* ``submit``: a chunk is about to be submitted (attempt n);
* ``submitted``: the provider accepted it as ``task_id`` (backends whose tasks outlive the
  process: Braket and IBM devices, the torch backend's ``queue``);
* ``failed``: the provider reported that task failed or was cancelled (nothing to pay for);
* ``refused``: quinr stopped the submission before it reached the provider (credentials, options);
* ``done``: the chunk's results are on disk (with its task ids and reported usage).

A rerun with the same directory reuses every finished chunk and, for a chunk whose task was
accepted but not collected, *collects that task by id* instead of submitting it again: no chunk
is paid for twice, even the one in flight when the process died. (The only window left is
between the provider accepting a task and the ``submitted`` line reaching the disk, a network
round trip; a rerun then says so and names the task's tags so a duplicate can be cancelled.)

Failures: a submission that raises, a collection that raises (network) and a task the provider
reports failed are retried, with exponential backoff, up to ``RETRIES`` attempts; a collection is
retried on the same task, never by resubmitting. A chunk that keeps failing stops the decode with
a message naming it; a rerun retries just that chunk and what follows. Errors quinr raises on
purpose (bad options, missing credentials) are not retried.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..circuit import CircuitSpec
from ..errors import BackendError, QuinrError, TaskFailedError
from ..files import atomic_write, try_lock
from .base import task_chunks

#: Attempts per chunk, and the first backoff in seconds (doubled after each failure).
RETRIES = 3
BACKOFF_S = 1.0


class RunDir:
    """The checkpoint directory of one decode."""

    def __init__(self, path: str | Path, identity: dict[str, Any]) -> None:
        self.path = Path(path)
        (self.path / "chunks").mkdir(parents=True, exist_ok=True)
        self._lock = try_lock(self.path / "lock")  # two decodes here at once would both submit the missing chunks
        if self._lock is None:
            raise BackendError(f"run directory {self.path} is in use by another decode; wait for it to finish "
                               "(or stop it) before resuming")
        ident = self.path / "run.json"
        text = json.dumps(identity, sort_keys=True, indent=2, default=str)
        if ident.exists():
            if json.loads(ident.read_text()) != json.loads(text):
                raise BackendError(f"run directory {self.path} belongs to a different decode "
                                   "(file, backend, shots, seed, options, crop or scale differ); use a new directory")
        else:
            atomic_write(ident, text.encode())
        self.key = hashlib.sha256(text.encode()).hexdigest()[:16]  # tags this run's tasks at the provider

    def close(self) -> None:
        """Let another process work in this directory (also happens when this process exits)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def chunk_path(self, call: int, k: int) -> Path:
        return self.path / "chunks" / f"c{call:04d}_k{k:06d}.npy"

    def load(self, call: int, k: int) -> np.ndarray | None:
        p = self.chunk_path(call, k)
        if not p.exists():
            return None
        try:
            return np.load(p)
        except (OSError, ValueError) as exc:
            raise BackendError(f"checkpoint {p} is unreadable ({exc}); delete it to run that chunk again (a provider task is collected again by its id, not resubmitted)") from None

    def save(self, call: int, k: int, probs: np.ndarray) -> None:
        import io

        buf = io.BytesIO()
        np.save(buf, probs)
        atomic_write(self.chunk_path(call, k), buf.getvalue())

    def log(self, event: str, **entry: Any) -> None:
        """Append one journal line and make it durable before returning."""
        with (self.path / "submissions.jsonl").open("a") as f:
            f.write(json.dumps({"event": event, **entry, "time": time.time()}) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def journal(self) -> dict[tuple[int, int], list[dict[str, Any]]]:
        """The journal's events per (call, chunk), in order. A line cut short by a crash is
        skipped; lines from before events were named count as ``submit``."""
        out: dict[tuple[int, int], list[dict[str, Any]]] = {}
        path = self.path / "submissions.jsonl"
        for line in path.read_text().splitlines() if path.exists() else []:
            try:
                e = json.loads(line)
                out.setdefault((int(e["call"]), int(e["chunk"])), []).append({"event": "submit", **e})
            except (ValueError, KeyError, TypeError):
                continue
        return out


def run_checkpointed(backend, spec: CircuitSpec, h: np.ndarray, theta: np.ndarray, shots: int | None,
                     seed: int | None, report, run_dir: RunDir, call: int) -> np.ndarray:
    """``backend.run`` chunk by chunk through ``run_dir`` (see the module docstring)."""
    out = np.empty((h.shape[0], spec.n_states))
    journal = run_dir.journal()
    reused = collected = 0
    for k, sl in enumerate(task_chunks(h.shape[0], backend.profile.max_circuits_per_task)):
        events = journal.get((call, k), [])
        done = run_dir.load(call, k)
        if done is not None:
            if done.shape != (sl.stop - sl.start, spec.n_states):
                raise BackendError(f"checkpoint {run_dir.chunk_path(call, k)} does not match this decode")
            out[sl] = done
            reused += 1
            # the earlier process's accounting, so that the record covers the whole run
            fin = [e for e in events if e["event"] == "done"]
            if fin:
                backend.account(report, fin[-1]["circuits"], fin[-1].get("task_ids", []), shots)
                report.add_usage(backend.profile.pricing, fin[-1].get("usage"))
            elif (task := _accepted(events)) is not None:  # it died between saving the chunk and journaling it
                backend.account(report, sl.stop - sl.start, [task], shots)
            continue
        s = None if seed is None else seed + 1_000_003 * call + k
        if backend.driver.remote_tasks():
            probs, task_ids, usage, resumed = _remote_chunk(backend, spec, h[sl], theta, shots, s, report, run_dir,
                                                            call, k, events)
            collected += resumed
        else:
            probs, task_ids, usage = _local_chunk(backend, spec, h[sl], theta, shots, s, report, run_dir, call, k)
        run_dir.save(call, k, probs)
        run_dir.log("done", call=call, chunk=k, circuits=sl.stop - sl.start, task_ids=task_ids, usage=usage)
        out[sl] = probs
    if reused:
        report.notes.append(f"resume: call {call}: {reused} chunk(s) reused from {run_dir.path}, not resubmitted")
    if collected:
        report.notes.append(f"resume: call {call}: {collected} task(s) submitted before the interruption collected by id")
    return out


def _local_chunk(backend, spec, h, theta, shots, seed, report, run_dir, call, k):
    """A chunk on a backend that runs in this process: nothing outlives a crash, so the chunk is
    simply run (again) until its results are on disk."""
    before = len(report.task_ids)
    delay = BACKOFF_S
    for attempt in range(1, RETRIES + 1):
        run_dir.log("submit", call=call, chunk=k, attempt=attempt, circuits=h.shape[0])
        try:
            probs = backend.run(spec, h, theta, shots, seed, report)
            return probs, report.task_ids[before:], None
        except QuinrError:
            raise
        except Exception as exc:  # an SDK or network failure: retry, then give up on this chunk
            if attempt == RETRIES:
                raise _gave_up(run_dir, call, k, exc) from None
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def _remote_chunk(backend, spec, h, theta, shots, seed, report, run_dir, call, k, events):
    """A chunk on a backend whose tasks outlive this process: collect the chunk's accepted task
    by id if there is one, else submit; retry collections on the same task."""
    pending = _accepted(events)
    tag = f"c{call:04d}_k{k:06d}"
    resumed = pending is not None
    if resumed:
        backend.account(report, h.shape[0], [pending], shots)  # submitted (and paid for) by an earlier process
    elif events and events[-1]["event"] == "submit":
        report.notes.append(f"resume: chunk {k} of call {call}: an earlier process died while submitting it, before the "
                            f"provider returned a task id; it is submitted again. If the provider lists a task "
                            f"tagged quinr-run={run_dir.key}, quinr-chunk={tag} from then, cancel it.")
    delay = BACKOFF_S
    attempts = sum(e["event"] == "submit" for e in events)
    for attempt in range(1, RETRIES + 1):
        try:
            if pending is None:
                attempts += 1
                run_dir.log("submit", call=call, chunk=k, attempt=attempts, circuits=h.shape[0])
                try:
                    pending = backend.submit(spec, h, theta, shots, seed, report,
                                             {"quinr-run": run_dir.key, "quinr-chunk": tag})
                except QuinrError:  # refused before reaching the provider (credentials, options); the
                    run_dir.log("refused", call=call, chunk=k)  # message may quote an account: not journaled
                    raise
                run_dir.log("submitted", call=call, chunk=k, task_id=pending)
            probs, usage = backend.collect(pending, spec, theta, h.shape[0], report)
            return probs, [pending], usage or None, resumed
        except TaskFailedError as exc:  # nothing to collect and nothing billed: submit it anew
            run_dir.log("failed", call=call, chunk=k, task_id=pending, reason=str(exc))
            pending, last = None, exc
        except QuinrError:
            raise
        except Exception as exc:  # network or SDK: retry (a collection stays on the same task)
            last = exc
        if attempt == RETRIES:
            if pending is not None:
                raise BackendError(
                    f"task {pending} (chunk {k} of call {call}) could not be collected ({type(last).__name__}: {last}); "
                    f"it stays at the provider: rerun the same command to collect it, without resubmitting"
                ) from None
            raise _gave_up(run_dir, call, k, last) from None
        time.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")


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
    return BackendError(
        f"chunk {k} of call {call} failed {RETRIES} times ({type(exc).__name__}: {exc}); the finished "
        f"chunks are in {run_dir.path}: rerun the same command to retry only what is missing"
    )
