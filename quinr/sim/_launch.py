"""How the fused engine's kernels run: on which threads, in which reused buffers, and from which
compiled caches (:mod:`.fused` calls them through :func:`_run`)."""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from ..errors import ConfigError


class _Buffers:
    """Checkpoint buffers (and the forward's probabilities, once copied out) handed back when
    done with, for the next step to reuse.

    Why: a training step's checkpoints are megabytes (16 MiB at Nq 8, batch 4096), and freshly
    allocated they are fresh pages, each zeroed by the kernel on first touch: measured, that made
    a step's forward kernel 2x slower. A buffer is reused only after the backward that read it has
    returned it, so a graph that is kept (or dropped unused) never shares one."""

    def __init__(self, keep: int = 4) -> None:
        self._free: list[torch.Tensor] = []
        self._keep = keep
        self._lock = threading.Lock()

    def take(self, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        with self._lock:
            for i, buf in enumerate(self._free):
                if buf.shape == shape and buf.dtype == dtype:
                    return self._free.pop(i)
        return torch.empty(shape, dtype=dtype)

    def give(self, *bufs: torch.Tensor) -> None:
        with self._lock:
            self._free = [*(b for b in bufs if b.numel()), *self._free][: self._keep]


_checkpoints = _Buffers()

#: The files of the kernels, which call (and inline) each other across files.
KERNEL_FILES = ("_kernels.py", "_backward.py", "_product.py", "_compose.py")


def _drop_stale_kernel_caches(folder: Path = Path(__file__).parent) -> bool:
    """Delete numba's cached kernels when any kernel file changed since they were written; True
    when it did.

    Why: numba keys each kernel's cache on its own file, but a kernel's compiled code includes the
    helpers it inlines from the other files: edit ``_kernels.py`` alone and the backward would
    load its old copy of them (checked: a cached caller keeps returning its callee's old value).
    A stamp of all the kernel files' contents, beside the caches, says when they were written
    (replaced atomically, so a process never reads half of one). Caches numba keeps elsewhere (a
    folder that cannot be written, or ``NUMBA_CACHE_DIR``) are not checked; nor is a kernel a
    process started before an edit compiles later."""
    cache = folder / "__pycache__"
    stamp = hashlib.sha256(b"".join((folder / name).read_bytes() for name in KERNEL_FILES)).hexdigest()
    mark = cache / "quinr-kernels.stamp"
    try:
        if mark.read_text() == stamp:
            return False
    except OSError:
        pass
    try:
        cache.mkdir(exist_ok=True)
        for name in KERNEL_FILES:
            for old in cache.glob(f"{name[:-3]}.*.nb[ic]"):
                old.unlink(missing_ok=True)
        part = cache / f"quinr-kernels.stamp.{os.getpid()}"
        part.write_text(stamp)
        os.replace(part, mark)
    except OSError:
        return False
    return True


_drop_stale_kernel_caches()


_POOL: tuple[int, int, ThreadPoolExecutor] | None = None


def _pool(threads: int) -> ThreadPoolExecutor:
    """This process's worker threads (a forked child makes its own: a parent's threads do not
    exist there)."""
    global _POOL
    if _POOL is None or _POOL[:2] != (os.getpid(), threads):
        _POOL = (os.getpid(), threads, ThreadPoolExecutor(threads - 1, thread_name_prefix="quinr-sim"))
    return _POOL[2]


def kernel_threads() -> int:
    """Threads the kernels run on: ``QUINR_KERNEL_THREADS`` when set, else as many as torch is told
    to use (``torch.set_num_threads``).

    Why a setting of its own: after each parallel op, torch's OpenMP workers keep spinning on the
    cores for a while, and the kernels' threads share those cores with them. On a small machine,
    torch on one thread (``OMP_NUM_THREADS=1``) with the kernels on all cores
    (``QUINR_KERNEL_THREADS=2`` on two) trains faster (docs/performance.md)."""
    text = os.environ.get("QUINR_KERNEL_THREADS", "").strip()
    if not text:
        return torch.get_num_threads()
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"QUINR_KERNEL_THREADS must be a positive whole number; got {text!r}")
    return int(text)


#: Tiles a kernel's thread should have at least: the composition kernels take microseconds a
#: tile, less than handing work to another thread costs (measured at Nq 8, batch 4096, 16 tiles:
#: 0.14 ms on one thread against 0.3-0.8 ms on two).
_MIN_TILES = {"compose": 64, "compose_grad": 32}


def _run(name: str, n_tiles: int, *args) -> None:
    """Run a kernel ("forward", "backward", "compose" or "compose_grad") over the tiles on
    :func:`kernel_threads` threads, the calling thread included.

    Why not numba's own parallel loops: their OpenMP layer is not fork-safe with GNU OpenMP, and a
    process forked after it ran is stopped by numba's guard (the folder and ``rd`` tests, whose
    process pools fork after the engine ran, hung that way). The kernels release the GIL, so plain
    threads run them in parallel and survive a fork."""
    from . import _backward, _compose, _kernels

    kernel = {"forward": _kernels.forward, "backward": _backward.backward, "compose": _compose.compose,
              "compose_grad": _compose.compose_grad}[name]
    threads = max(1, min(kernel_threads(), n_tiles // _MIN_TILES.get(name, 1)))
    if threads == 1:
        kernel(*args, 0, n_tiles)
        return
    # Tiles are handed out a few at a time, not split in halves up front: a thread that shares its
    # core with another process's work, or with torch's own OpenMP threads still spinning after
    # the ops before this call, then takes fewer of them instead of holding the others up.
    step = max(1, n_tiles // (4 * threads))
    starts = iter(range(0, n_tiles, step))  # shared: each next() is atomic under the GIL

    def work() -> None:
        for lo in starts:
            kernel(*args, lo, min(lo + step, n_tiles))

    futures = [_pool(threads).submit(work) for _ in range(threads - 1)]
    work()
    for f in futures:
        f.result()
