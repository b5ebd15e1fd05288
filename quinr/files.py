"""Files: checked before any work, written atomically, read with their path in every error.

Why one module: a command that trains for minutes or pays for QPU tasks must know *before* it
starts that every output can be written (the folder exists and is writable, the extension fits,
the output is not one of its inputs), and a process killed at any instant must leave either a
whole file or none. Run directories, the task queue, rate-distortion sweeps, studies, encode and
decode all go through the helpers here, so every file-system failure reaches the user as one line
that names the path (:class:`~quinr.errors.FileError`), never as a traceback.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from .errors import FileError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

#: Whether this system has advisory locks (``flock``); without them :func:`try_lock` locks nothing.
CAN_LOCK = fcntl is not None


def describe_os_error(path: str | Path, exc: OSError) -> str:
    """``PATH: problem`` for an OSError (the strerror, never the errno repr)."""
    return f"{path}: {exc.strerror or type(exc).__name__}"


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A new temporary path beside ``path`` to write to (created exclusively, so nothing planted
    there can be written through); renamed over ``path`` when the block ends without error,
    removed otherwise. The rename replaces a symlink at ``path`` instead of writing through it."""
    path = Path(path)
    try:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise FileError(describe_os_error(path, exc)) from None
    with contextlib.suppress(OSError):  # a file system without permissions
        os.fchmod(fd, new_file_mode())  # mkstemp makes 0600; a written file gets what open() gives
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with tmp.open("rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise FileError(describe_os_error(path, exc)) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def new_file_mode() -> int:
    """The permissions a plain ``open(path, "w")`` would give a new file: 0666 less the umask
    (read here, where it cannot be read without setting it; quinr starts no threads that write)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: str | Path, data: bytes) -> Path:
    """Write a file so that it either is complete or does not exist (temporary file, fsync, rename)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", **kwargs) -> Iterator[IO]:
    """An open file whose contents appear at ``path`` only when the block ends without error."""
    with atomic_path(path) as tmp, tmp.open(mode, **kwargs) as f:
        yield f


def read_bytes(path: str | Path, what: str = "file", limit: int | None = None) -> bytes:
    """The bytes of a regular file (not a device, fifo or folder), at most ``limit`` of them."""
    p = Path(path)
    try:
        st = p.stat()
        if stat.S_ISDIR(st.st_mode):
            raise FileError(f"{p}: is a folder, not a {what}")
        if not stat.S_ISREG(st.st_mode):
            raise FileError(f"{p}: not a regular file (a {what} must be one)")
        if limit is not None and st.st_size > limit:
            raise FileError(f"{p}: {st.st_size} bytes is more than a {what} may have ({limit})")
        return p.read_bytes()
    except FileNotFoundError:
        raise FileError(f"{p}: no such file") from None
    except OSError as exc:
        raise FileError(describe_os_error(p, exc)) from None


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one file (through links, ``..`` and hard links)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(os.path.abspath(a)) == Path(os.path.abspath(b))


def writable_folder(folder: Path) -> bool:
    """Whether a file can be created in ``folder``, found by creating (and removing) one: the
    permission bits do not tell, for root, on a read-only mount or on a kernel's file system."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".quinr-probe-")
    except OSError:
        return False
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name)
    return True


def check_output(path: str | Path, *, inputs: Iterable[str | Path] = (), suffixes: Iterable[str] | None = None,
                 what: str = "output") -> Path:
    """Refuse, before any work, an output that cannot be written: its folder is missing or not
    writable, it is a folder or a special file, its extension is not one of ``suffixes``, or it is
    one of ``inputs`` (the same file, also through links)."""
    if not str(path).strip():
        raise FileError(f"an empty path for the {what}: name a file")
    p = Path(path)
    if suffixes is not None:
        allowed = tuple(suffixes)
        if p.suffix.lower() not in allowed:
            raise FileError(f"{p}: the {what} must end in {' or '.join(allowed)}")
    for src in inputs:
        if src is not None and same_file(p, src):
            raise FileError(f"{p}: the {what} is the input {src}; choose another name (nothing was written)")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise FileError(f"{p}: folder {parent} does not exist" if not parent.exists() else f"{p}: {parent} is not a folder")
    if not writable_folder(parent):
        raise FileError(f"{p}: folder {parent} is not writable")
    if p.is_symlink() or p.exists():
        try:
            st = p.stat()
        except OSError as exc:
            raise FileError(describe_os_error(p, exc)) from None
        if stat.S_ISDIR(st.st_mode):
            raise FileError(f"{p}: is a folder; the {what} must be a file")
        if not stat.S_ISREG(st.st_mode):
            raise FileError(f"{p}: is not a regular file; refusing to replace it")
    return p


def check_output_dir(path: str | Path, what: str = "output folder") -> Path:
    """Refuse, before any work, a folder that cannot be created or written to."""
    p = Path(path)
    if p.exists() or p.is_symlink():
        if not p.is_dir():
            raise FileError(f"{p}: exists and is not a folder; the {what} must be one")
        if not writable_folder(p):
            raise FileError(f"{p}: the {what} is not writable")
        return p
    parent = p.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not writable_folder(parent):
        raise FileError(f"{p}: cannot create the {what}: {parent} is not a writable folder")
    return p


def make_dir(path: str | Path) -> Path:
    """``mkdir -p`` with the path in the error."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FileError(describe_os_error(p, exc)) from None
    return p


def inside(root: str | Path, name: str) -> Path:
    """``root / name`` for a name read from a file a user may have crafted: a plain relative path
    that stays inside ``root`` (no ``..``, no absolute path, no link leading out) and names a
    regular file."""
    if not isinstance(name, str) or not name or os.path.isabs(name) or ".." in Path(name).parts or "\0" in name:
        raise FileError(f"{root}: {name!r} is not a file name inside it")
    base = Path(root).resolve()
    p = (base / name).resolve()
    if base not in p.parents:
        raise FileError(f"{root}: {name!r} leads outside it")
    if not p.is_file():
        raise FileError(f"{root}: {name} is missing or not a regular file")
    return p


def try_lock(path: Path) -> IO | None:
    """Take an exclusive lock on ``path`` without waiting: the open file that holds it (closing it,
    or exiting, releases it), or None when another process holds it, or removed the file while
    this one waited to lock it."""
    try:
        f = path.open("a")
    except OSError as exc:
        raise FileError(describe_os_error(path, exc)) from None
    if fcntl is None:  # pragma: no cover - not POSIX: nothing to hold
        return f
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        same = os.path.samestat(os.fstat(f.fileno()), os.stat(path))
    except OSError:  # held elsewhere, or removed since it was opened
        same = False
    if not same:  # a lock on a file its holder removed meanwhile (with its folder) guards nothing
        f.close()
        return None
    return f
