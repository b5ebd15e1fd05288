"""Where independent pieces of work run: in this process, in local processes, or on Ray.

A rate-distortion sweep's points and a folder's encodes are independent trainings, the work a
cluster is for. :func:`execute` runs ``work(shared, item, step)`` for every item and yields
``(item, result)`` as each finishes. ``serial`` runs them one by one here; ``local`` in a pool of
processes on this machine (the command line's default), each with one torch thread, their
training steps reported back through a queue for the progress bar; ``ray`` on a Ray cluster
(``pip install "quinr[cluster]"``: the cluster at ``RAY_ADDRESS``, e.g. ``ray://head:10001``, or
a local one of ``workers`` CPUs). Ray, not Dask: amazon-braket-sdk pins ``cloudpickle==2.2.1``
while dask and distributed since 2024.9 need ``cloudpickle>=3``, so pip would hold Dask at an old
release; Ray carries its own copy of cloudpickle and installs beside the pinned SDKs at its
current version (``pip check`` clean, a test).

A worker process that dies (killed, out of memory) costs only its own item: Ray resubmits the
task (``RETRIES`` times), and the local pool, which breaks as a whole when one of its processes
dies, is started again with the items not yet finished (each at most ``RETRIES`` times). ``work``
must be a module-level function, and ``shared`` and the items picklable: they travel to workers.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

from .errors import ConfigError, WorkerDied

ENGINES = ("serial", "local", "ray")
#: Attempts made again at an item whose worker process dies.
RETRIES = 3

#: ``work(shared, item, step)``: ``step(done, total)`` follows its training, or is None.
Work = Callable[[Any, Any, "Callable[[int, int], None] | None"], Any]


def check_engine(engine: str) -> None:
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; valid: {', '.join(ENGINES)}")


def _name(item: Any) -> str:
    """An item as a message names it: a sweep's point by its codec and key, a path as itself."""
    if hasattr(item, "codec") and hasattr(item, "key"):
        return f"{item.codec} point {item.key}"
    return str(item)


def _run_one(work: Work, shared: Any, item: Any, index: int = 0, queue=None, steps: bool = False) -> tuple[int, Any]:
    """One item in a worker process, with one torch thread. With a ``queue`` it says first that
    it started (so a pool that breaks knows which items were running), then, with ``steps``, its
    training steps (at most twice a second, and the last one always) for the parent's bar."""
    import time

    import torch

    torch.set_num_threads(1)  # one core per item when items run in parallel
    if queue is None:
        return index, work(shared, item, None)
    queue.put((index, None, None))
    sent = [0.0]

    def step(done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - sent[0] > 0.5:
            sent[0] = now
            queue.put((index, done, total))

    return index, work(shared, item, step if steps else None)


def execute(work: Work, shared: Any, items: list[Any], engine: str, workers: int,
            step: Callable[[Any, int, int], None] | None = None) -> Iterator[tuple[Any, Any]]:
    """(item, ``work(shared, item, ...)``) for every item as it finishes, on ``engine``;
    ``step(item, done, total)`` follows training steps (serial and local engines)."""
    check_engine(engine)
    if engine == "serial" or len(items) <= 1:
        for it in items:
            yield it, work(shared, it, None if step is None else (lambda done, total, it=it: step(it, done, total)))
        return
    if engine == "local":
        yield from _execute_local(work, shared, items, workers, step)
        return
    yield from _execute_ray(work, shared, items, workers)


def _execute_local(work: Work, shared: Any, items: list[Any], workers: int, step=None):
    """Items in a pool of local processes, results as they finish; the workers' messages (started,
    training steps) come back through a queue and are read while the parent waits. A pool broken
    by a dying process is started again with what is left; the items that were running when it
    broke have used one attempt."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool
    from queue import Empty

    left = dict(enumerate(items))
    attempts = dict.fromkeys(left, 0)
    with mp.Manager() as manager:
        queue = manager.Queue()
        started: set[int] = set()

        def drain() -> None:
            while True:
                try:
                    k, n, total = queue.get_nowait()
                except Empty:
                    return
                if n is None:
                    started.add(k)
                elif step is not None and k in left:
                    step(left[k], n, total)

        while left:
            broken = False
            started.clear()
            with ProcessPoolExecutor(max_workers=min(workers, len(left))) as pool:
                pending = {pool.submit(_run_one, work, shared, it, k, queue, step is not None): k
                           for k, it in left.items()}
                while pending:
                    done, _ = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
                    drain()
                    for f in done:
                        k = pending.pop(f)
                        try:
                            _, result = f.result()
                        except BrokenProcessPool:
                            broken = True
                            continue
                        yield left.pop(k), result
            if broken:
                drain()
                for k in started & left.keys():
                    attempts[k] += 1
                worst = max(left, key=lambda k: attempts[k])
                if attempts[worst] > RETRIES:
                    raise WorkerDied(f"a worker process died {attempts[worst]} times while running {_name(left[worst])}; "
                                     "giving up")


@contextlib.contextmanager
def ray_cluster(workers: int):
    """Ray, connected for the block: the cluster at ``RAY_ADDRESS`` or a local one of ``workers``
    CPUs, started here and shut down after (a session already open is reused and left open)."""
    try:
        import ray
    except ImportError:
        raise ConfigError('engine "ray" needs Ray: pip install "quinr[cluster]"') from None
    started = not ray.is_initialized()
    if started:
        address = os.environ.get("RAY_ADDRESS")
        ray.init(address=address, num_cpus=None if address else workers, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def _execute_ray(work: Work, shared: Any, items: list[Any], workers: int):
    """Items as Ray tasks (one CPU each), results as they finish; a task whose worker dies is
    run again by Ray (``RETRIES`` times), then reported as :class:`WorkerDied`."""
    with ray_cluster(workers) as ray:
        from ray.exceptions import WorkerCrashedError

        task = ray.remote(num_cpus=1, max_retries=RETRIES)(_run_one)
        ref = ray.put(shared)  # shipped once, not once per item
        pending = {task.remote(work, ref, it, k): k for k, it in enumerate(items)}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            k = pending.pop(done[0])
            try:
                _, result = ray.get(done[0])
            except WorkerCrashedError:
                raise WorkerDied(f"a Ray worker died {RETRIES + 1} times while running {_name(items[k])}; giving up") from None
            yield items[k], result
