"""Run directories: where a decode on a paid backend checkpoints, can die, and resumes.

Layout (``hardware_runs/README.md`` documents the finished record)::

    run.json            what the directory belongs to (file, backend, shots, seed, options, crop,
                        scale, mitigation); a different decode is refused
    lock                held (flock) by the one decode working here
    submissions.jsonl   the journal, one JSON line per event, flushed to disk before the step it
                        announces: submit, submitted (task id), failed, refused, done (task ids,
                        usage, and the sha256 of the chunk's file)
    chunks/c<call>_k<chunk>.npy   each finished chunk's raw probabilities, written atomically

Rules, so that a careless or hostile folder can neither lose what was paid for nor feed a decode
made-up results:

* the folder is new, empty, or one quinr created (it has a ``run.json`` that parses); any other
  folder is refused, so a user's files are never overwritten;
* no symbolic link may sit anywhere inside it (a planted link would redirect a write or a read);
* every file is written atomically (temporary file, fsync, rename);
* a finished chunk is reused only if its file's sha256 equals the one its ``done`` line recorded
  and it holds finite probabilities in [0, 1] of the expected shape; any other chunk (tampered,
  NaN, saved but never journaled, or its journal deleted) is collected again by task id or run
  again, never used, and the decode says so in the record's notes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from .backends.base import probability_problem
from .errors import BackendError, FileError
from .files import atomic_write, describe_os_error, make_dir, read_bytes, try_lock


class RunDir:
    """The checkpoint directory of one decode (see the module docstring)."""

    def __init__(self, path: str | Path, identity: dict[str, Any], redactor=None) -> None:
        self.path = Path(path)
        self.redactor = redactor
        self.notes: list[str] = []
        text = json.dumps(identity, sort_keys=True, indent=2, default=str)
        check_run_dir(self.path, json.loads(text))  # read-only: a refused folder gets nothing written into it
        make_dir(self.path)
        self._lock = try_lock(self.path / "lock")  # two decodes here at once would both submit the missing chunks
        if self._lock is None:
            raise BackendError(f"run directory {self.path} is in use by another decode; wait for it to finish "
                               "(or stop it) before resuming")
        try:
            check_run_dir(self.path, json.loads(text))  # again, now that no other decode can change it
            ident = self.path / "run.json"
            if ident.exists():
                if not (self.path / "submissions.jsonl").exists() and any((self.path / "chunks").glob("*.npy")):
                    self.notes.append("resume: the journal (submissions.jsonl) was missing: chunks on disk could not "
                                      "be verified and were run again; tasks of earlier processes are not counted")
            else:
                atomic_write(ident, text.encode())
            make_dir(self.path / "chunks")
        except BaseException:
            self.close()
            raise
        self.key = hashlib.sha256(text.encode()).hexdigest()[:16]  # tags this run's tasks at the provider

    def close(self) -> None:
        """Let another process work in this directory (also happens when this process exits)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def holds_work(self) -> bool:
        """Whether this folder holds anything paid for, by this process or an earlier one: a chunk
        on disk, a task the provider accepted, or a submission that may have reached it (its last
        line is ``submit``). Such a folder is never removed on a failure; one whose submissions
        were all refused before reaching a provider holds nothing."""
        try:
            if any((self.path / "chunks").iterdir()):
                return True
            return any(e["event"] in ("submitted", "done") or (i == len(ev) - 1 and e["event"] == "submit")
                       for ev in self.journal().values() for i, e in enumerate(ev))
        except (OSError, FileError):
            return True  # when in doubt, keep it

    def paid_tasks(self) -> list[int]:
        """The circuit counts of the tasks this decode's earlier processes may have paid for, by
        the journal, counted as a provider bills: every submission, unless it was refused before
        reaching a provider or the provider reported it failed (failed tasks are not billed). A
        submission whose process died before the provider answered counts: it may have run."""
        out: list[int] = []
        for events in self.journal().values():
            sent: list[int] = []
            for e in events:
                if e["event"] == "submit":
                    sent.append(int(e.get("circuits", 0)))
                elif e["event"] in ("refused", "failed") and sent:
                    sent.pop()
            out += sent
        return out

    def chunk_path(self, call: int, k: int) -> Path:
        return self.path / "chunks" / f"c{call:04d}_k{k:06d}.npy"

    def load(self, call: int, k: int, shape: tuple[int, int], sha256: str | None) -> tuple[np.ndarray | None, str | None]:
        """A finished chunk, verified: (its probabilities, None), or (None, why it cannot be used),
        or (None, None) when there is none."""
        p = self.chunk_path(call, k)
        if not p.exists() and not p.is_symlink():
            return None, None
        if p.is_symlink():
            return None, "it is a symbolic link"
        try:
            raw = read_bytes(p, "checkpoint chunk", 1 << 34)
        except FileError as exc:
            return None, str(exc)
        if sha256 is None:
            return None, "its journal line is missing (no checksum to verify it against)"
        if hashlib.sha256(raw).hexdigest() != sha256:
            return None, "its sha256 differs from the journal's (the file was changed)"
        try:
            probs = np.load(io.BytesIO(raw), allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            return None, f"it is unreadable ({exc})"
        if not isinstance(probs, np.ndarray) or probs.dtype != np.float64:
            return None, "it is not a float64 array"
        problem = probability_problem(probs, shape)
        if problem is not None:
            return None, f"it holds {problem}"
        return probs, None

    def save(self, call: int, k: int, probs: np.ndarray) -> str:
        """Write a chunk atomically; returns the sha256 of its file (for its ``done`` line)."""
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(probs, np.float64))
        data = buf.getvalue()
        atomic_write(self.chunk_path(call, k), data)
        return hashlib.sha256(data).hexdigest()

    def log(self, event: str, **entry: Any) -> None:
        """Append one journal line (scrubbed of secrets) and make it durable before returning."""
        line = {"event": event, **entry, "time": time.time()}
        if self.redactor is not None:
            line = self.redactor.json(line)
        path = self.path / "submissions.jsonl"
        try:
            with path.open("a") as f:
                f.write(json.dumps(line) + "\n")
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise FileError(describe_os_error(path, exc)) from None

    def journal(self) -> dict[tuple[int, int], list[dict[str, Any]]]:
        """The journal's events per (call, chunk), in order. A line cut short by a crash, or whose
        fields do not have their types, is skipped (and noted); lines from before events were named
        count as ``submit``."""
        out: dict[tuple[int, int], list[dict[str, Any]]] = {}
        path = self.path / "submissions.jsonl"
        text = read_bytes(path, "journal").decode("utf-8", "replace") if path.exists() else ""
        bad = 0
        for line in text.splitlines():
            try:
                e = {"event": "submit", **json.loads(line)}
                key = (e["call"], e["chunk"])
                ok = _event_ok(e)
            except (ValueError, KeyError, TypeError):
                ok = False
            if not ok:
                bad += bool(line.strip())
                continue
            out.setdefault(key, []).append(e)
        if bad and not any("journal line" in n for n in self.notes):
            self.notes.append(f"resume: {bad} journal line(s) were damaged and ignored")
        return out


#: The fields a journal line may carry, and their types (``None`` allowed where noted).
_FIELDS = {"call": int, "chunk": int, "attempt": int, "circuits": int, "tasks": int, "task_id": str,
           "sha256": str, "reason": str, "time": (int, float)}


def _event_ok(e: dict[str, Any]) -> bool:
    """Whether a journal line's fields have their types (a crafted line is not trusted)."""
    if e["event"] not in ("submit", "submitted", "failed", "refused", "done"):
        return False
    for name, typ in _FIELDS.items():
        if name in e and (isinstance(e[name], bool) or not isinstance(e[name], typ)):
            return False
    if e["call"] < 0 or e["chunk"] < 0 or e.get("circuits", 0) < 0 or e.get("tasks", 0) < 0:
        return False
    if e["event"] == "submitted" and "task_id" not in e:
        return False
    if e["event"] == "done":
        ids, usage = e.setdefault("task_ids", []), e.setdefault("usage", None)
        if "circuits" not in e or not (isinstance(ids, list) and all(isinstance(t, str) for t in ids)):
            return False
        if usage is not None and not (isinstance(usage, dict) and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in usage.values())):
            return False
    return True


def check_run_dir(path: str | Path, identity: dict[str, Any] | None = None) -> None:
    """Refuse, before any work and without writing anything, a run directory quinr may not use:
    an existing folder that is not empty and was not made by quinr, a file, a folder with a link
    or a special file inside, or (given this decode's ``identity``) one that belongs to another
    decode."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        from .files import check_output_dir

        check_output_dir(path, "run directory")
        return
    if not path.is_dir():
        raise FileError(f"run directory {path} exists and is not a folder")
    try:
        names = {p.name for p in path.iterdir()}
    except OSError as exc:
        raise FileError(describe_os_error(path, exc)) from None
    if names and not names <= {"lock"}:
        recorded = _read_identity(path) if "run.json" in names else None
        if not (isinstance(recorded, dict) and {"file_sha256", "backend"} <= set(recorded)):
            raise FileError(f"run directory {path} is not empty and was not made by quinr (no run.json of quinr's); "
                            "give a new or empty folder (nothing in it was touched)")
        _check_entries(path)
        if identity is not None and recorded != identity:
            raise BackendError(f"run directory {path} belongs to a different decode "
                               "(file, backend, shots, seed, options, crop or scale differ); use a new directory")
    else:
        _check_entries(path)


def _read_identity(path: Path) -> Any:
    """The parsed ``run.json`` of a run directory (a clear error when it is damaged)."""
    try:
        return json.loads(read_bytes(path / "run.json", "run.json", 1 << 20))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BackendError(f"run directory {path}: run.json is damaged ({exc}); use a new directory") from None


def _check_entries(path: Path) -> None:
    """Only real files and folders inside the run directory: no symbolic link (a planted link
    would redirect a write or a read) and no special file (a fifo named ``lock`` would hang)."""
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            p = Path(root) / name
            if p.is_symlink():
                raise FileError(f"run directory {path}: {p} is a symbolic link; quinr writes and reads only real "
                                "files there (remove it)")
            if not (p.is_dir() or p.is_file()):
                raise FileError(f"run directory {path}: {p} is not a regular file or folder (remove it)")


def run_cache() -> Path:
    """Where a billed decode without ``--run-dir`` checkpoints: ``$QUINR_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/quinr/runs`` (default ``~/.cache/quinr/runs``)."""
    if os.environ.get("QUINR_CACHE_DIR"):
        return Path(os.environ["QUINR_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "quinr" / "runs"
