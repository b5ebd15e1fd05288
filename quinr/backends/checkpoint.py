"""Checkpointed decoding: a run directory that a decode on a paid backend can die and resume in.

Circuits go out in chunks of the profile's ``max_circuits_per_task`` (one task each). Every
finished chunk's raw results are written atomically (temporary file, then rename) to
``chunks/c<call>_k<chunk>.npy`` *before* the next chunk is submitted, and each submission is
appended to ``submissions.jsonl``. Rerunning the same decode with the same run directory loads
the finished chunks and submits only the missing ones, so nothing that was paid for is paid
twice. ``run.json`` pins what the directory belongs to (file, backend, shots, seed, options,
crop, scale); a different decode is refused.

A chunk whose submission raises is retried with exponential backoff; one that keeps failing
stops the decode with a message naming it, and a rerun retries just that chunk and what follows.
Errors quinr raises on purpose (bad options, missing credentials) are not retried.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..circuit import CircuitSpec
from ..errors import BackendError, QuinrError

#: Attempts per chunk, and the first backoff in seconds (doubled after each failure).
RETRIES = 3
BACKOFF_S = 1.0


class RunDir:
    """The checkpoint directory of one decode."""

    def __init__(self, path: str | Path, identity: dict[str, Any]) -> None:
        self.path = Path(path)
        (self.path / "chunks").mkdir(parents=True, exist_ok=True)
        ident = self.path / "run.json"
        text = json.dumps(identity, sort_keys=True, indent=2, default=str)
        if ident.exists():
            if json.loads(ident.read_text()) != json.loads(text):
                raise BackendError(f"run directory {self.path} belongs to a different decode "
                                   "(file, backend, shots, seed, options, crop or scale differ); use a new directory")
        else:
            _atomic_write(ident, text.encode())

    def chunk_path(self, call: int, k: int) -> Path:
        return self.path / "chunks" / f"c{call:04d}_k{k:06d}.npy"

    def load(self, call: int, k: int) -> np.ndarray | None:
        p = self.chunk_path(call, k)
        if not p.exists():
            return None
        try:
            return np.load(p)
        except (OSError, ValueError) as exc:
            raise BackendError(f"checkpoint {p} is unreadable ({exc}); delete it to resubmit that chunk") from None

    def save(self, call: int, k: int, probs: np.ndarray) -> None:
        import io

        buf = io.BytesIO()
        np.save(buf, probs)
        _atomic_write(self.chunk_path(call, k), buf.getvalue())

    def log(self, **entry: Any) -> None:
        with (self.path / "submissions.jsonl").open("a") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()
            os.fsync(f.fileno())


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def run_checkpointed(backend, spec: CircuitSpec, h: np.ndarray, theta: np.ndarray, shots: int | None,
                     seed: int | None, report, run_dir: RunDir, call: int) -> np.ndarray:
    """``backend.run`` chunk by chunk through ``run_dir`` (see the module docstring)."""
    per = backend.profile.max_circuits_per_task
    out = np.empty((h.shape[0], spec.n_states))
    reused = 0
    for k, start in enumerate(range(0, h.shape[0], per)):
        sl = slice(start, min(start + per, h.shape[0]))
        done = run_dir.load(call, k)
        if done is not None:
            if done.shape != (sl.stop - sl.start, spec.n_states):
                raise BackendError(f"checkpoint {run_dir.chunk_path(call, k)} does not match this decode")
            out[sl] = done
            reused += 1
            continue
        s = None if seed is None else seed + 1_000_003 * call + k
        delay = BACKOFF_S
        for attempt in range(1, RETRIES + 1):
            run_dir.log(call=call, chunk=k, attempt=attempt, circuits=sl.stop - sl.start, time=time.time())
            try:
                probs = backend.run(spec, h[sl], theta, shots, s, report)
                break
            except QuinrError:
                raise
            except Exception as exc:  # an SDK or network failure: retry, then give up on this chunk
                if attempt == RETRIES:
                    raise BackendError(
                        f"chunk {k} of call {call} failed {RETRIES} times ({type(exc).__name__}: {exc}); the finished "
                        f"chunks are in {run_dir.path}: rerun the same command to retry only what is missing"
                    ) from None
                time.sleep(delay)
                delay *= 2
        run_dir.save(call, k, probs)
        out[sl] = probs
    if reused:
        report.notes.append(f"call {call}: {reused} chunk(s) reused from {run_dir.path}, not resubmitted")
    return out
