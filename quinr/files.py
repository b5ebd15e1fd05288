"""Durable files: the atomic write and the exclusive lock that run directories, the task queue
and rate-distortion sweeps share, so that a process killed at any instant leaves either a whole
file or none, and two processes never work in one directory at once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

#: Whether this system has advisory locks (``flock``); without them :func:`try_lock` locks nothing.
CAN_LOCK = fcntl is not None


def atomic_write(path: Path, data: bytes) -> None:
    """Write a file so that it either is complete or does not exist (temporary file, fsync, rename)."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def try_lock(path: Path) -> IO | None:
    """Take an exclusive lock on ``path`` without waiting: the open file that holds it (closing it,
    or exiting, releases it), or None when another process holds it."""
    f = path.open("a")
    if fcntl is None:  # pragma: no cover - not POSIX: nothing to hold
        return f
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        return None
    return f
