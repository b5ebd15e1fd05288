"""Where the points of a rate-distortion sweep run: in this process, in local processes, or on Ray.

``serial`` runs them one by one here; ``local`` in a pool of processes on this machine (the
command line's default), each with one torch thread, their training steps reported back through
a queue for the progress bar; ``ray`` on a Ray cluster (``pip install "quinr[cluster]"``: the
cluster at ``RAY_ADDRESS``, e.g. ``ray://head:10001``, or a local one of ``workers`` CPUs). Ray,
not Dask: amazon-braket-sdk pins ``cloudpickle==2.2.1`` while dask and distributed since 2024.9
need ``cloudpickle>=3``, so pip would hold Dask at an old release; Ray carries its own copy of
cloudpickle and installs beside the pinned SDKs at its current version (``pip check`` clean, a
test). Ray retries a point whose worker process dies (three times).
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from .baselines.registry import RDInput, run_task
from .errors import ConfigError

#: A sweep's task (:class:`quinr.rd.Task`: ``codec``, ``params``, ``key``, ``family``); typed
#: loosely here so that this module does not import the sweep that imports it.
Task = Any

ENGINES = ("serial", "local", "ray")
#: Attempts Ray makes at a point whose worker dies.
RAY_RETRIES = 3


def _run_one(inp: RDInput, task: Task, queue=None) -> tuple[Task, list[dict[str, Any]]]:
    """One point in a worker process, with one torch thread; its training steps go to ``queue``
    (at most twice a second, and the last one always) for the parent's progress bar."""
    import time

    import torch

    torch.set_num_threads(1)  # one core per point when points run in parallel
    if queue is None:
        return task, run_task(inp, task)
    sent = [0.0]

    def step(done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - sent[0] > 0.5:
            sent[0] = now
            queue.put((task.key, done, total))

    return task, run_task(inp, task, step)


def execute(inp: RDInput, todo: list[Task], engine: str, workers: int, step=None):
    """(task, points) of every task as it finishes, on ``engine``; ``step(task, done, total)``
    follows training steps (serial and local engines)."""
    if engine == "serial" or len(todo) <= 1:
        for t in todo:
            yield t, run_task(inp, t, None if step is None else (lambda done, total, t=t: step(t, done, total)))
        return
    if engine == "local":
        yield from _execute_local(inp, todo, workers, step)
        return
    yield from _execute_ray(inp, todo, workers)


def _execute_local(inp: RDInput, todo: list[Task], workers: int, step=None):
    """Points in a pool of local processes, results as they finish; with ``step``, the workers'
    training steps come back through a queue and are passed on while the parent waits."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from queue import Empty

    by_key = {t.key: t for t in todo}
    with contextlib.ExitStack() as stack:
        queue = stack.enter_context(mp.Manager()).Queue() if step is not None else None
        pool = stack.enter_context(ProcessPoolExecutor(max_workers=workers))
        pending = {pool.submit(_run_one, inp, t, queue) for t in todo}
        while pending:
            done, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
            while queue is not None:
                try:
                    key, n, total = queue.get_nowait()
                except Empty:
                    break
                step(by_key[key], n, total)
            for f in done:
                yield f.result()


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


def _execute_ray(inp: RDInput, todo: list[Task], workers: int):
    """Points as Ray tasks (one CPU each), results as they finish."""
    with ray_cluster(workers) as ray:
        point = ray.remote(num_cpus=1, max_retries=RAY_RETRIES)(_run_one)
        shared = ray.put(inp)  # the signal is shipped once, not once per point
        pending = [point.remote(shared, t) for t in todo]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
