"""A local task queue that behaves like a QPU provider's: tasks outlive the client that submitted them.

Why it exists: resumable decoding (:mod:`quinr.backends.checkpoint`) promises that no chunk is
ever submitted twice, not even the one in flight when the client dies. On Braket and IBM that
holds because the task lives at the provider and a resumed decode collects it by its id. This
queue gives the torch backend (``-O queue=DIR``) the same property, so the promise can be tested
offline, with a real SIGKILL, on a real separate process.

Layout of ``DIR``:

* ``tasks/<id>.npz``: a submitted task (circuit spec, embeddings, angles, shots, seed, noise),
  written atomically. Never deleted: this is the provider's record of what it was asked to run.
* ``results/<id>.npz``: the task's probabilities and the usage the "provider" reports for it
  (``{"tasks": 1, "shots": rows x shots}`` as Braket reports completed shots; nothing when exact),
  written atomically when it completes.
* ``errors/<id>.txt``: why the task FAILED (a :class:`~quinr.errors.TaskFailedError` on collect).
* ``worker.lock``: held (``flock``) by the one worker process. A client that submits or waits
  starts a worker when none holds it; the worker is detached (its own session), runs tasks
  oldest first, waits the task's ``delay`` before each (the device's execution time) and exits
  after ``IDLE_S`` seconds without work.

Task ids sort in submission order (nanosecond time, then random hex).
"""

from __future__ import annotations

import io
import json
import secrets
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..circuit import CircuitSpec
from ..errors import BackendError, TaskFailedError
from ..files import CAN_LOCK, atomic_write, try_lock
from ..noise import NoiseSpec

#: Seconds a worker waits for new tasks before it exits.
IDLE_S = 10.0
#: Seconds between polls of a waiting client or an idle worker.
POLL_S = 0.02


class TaskQueue:
    """One queue directory (see the module docstring)."""

    def __init__(self, root: str | Path) -> None:
        if not CAN_LOCK:  # pragma: no cover - Windows
            raise BackendError("the task queue needs a POSIX system (flock)")
        self.root = Path(root)
        for sub in ("tasks", "results", "errors"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------------------ client
    def submit(self, spec: CircuitSpec, h: np.ndarray, theta: np.ndarray, shots: int | None, seed: int,
               noise: NoiseSpec, noise_mode: str, device: str, delay: float, tags: dict[str, str]) -> str:
        """Queue one task and return its id at once."""
        task_id = f"{time.time_ns():020d}-{secrets.token_hex(4)}"
        meta = {"spec": asdict(spec), "shots": shots, "seed": seed, "noise": noise.to_dict(), "noise_mode": noise_mode,
                "device": device, "delay": delay, "tags": tags}
        buf = io.BytesIO()
        np.savez(buf, h=np.asarray(h, np.float64), theta=np.asarray(theta, np.float64), meta=np.array(json.dumps(meta)))
        atomic_write(self.root / "tasks" / f"{task_id}.npz", buf.getvalue())
        self.ensure_worker()
        return task_id

    def collect(self, task_id: str, timeout: float | None = None) -> tuple[np.ndarray, dict[str, float]]:
        """Wait for a task's result (restarting the worker if it died: the task is still queued)."""
        if not (self.root / "tasks" / f"{task_id}.npz").exists():
            raise BackendError(f"queue {self.root} has no task {task_id}")
        result, error = self._result(task_id), self.root / "errors" / f"{task_id}.txt"
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if result.exists():
                with np.load(result) as z:
                    return z["probs"], json.loads(str(z["usage"]))
            if error.exists():
                raise TaskFailedError(f"task {task_id} FAILED: {error.read_text().strip()}")
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"task {task_id} is still queued after {timeout} s")
            self.ensure_worker()
            time.sleep(POLL_S)

    def submitted(self) -> list[str]:
        """Every task id this queue ever received, oldest first."""
        return sorted(p.stem for p in (self.root / "tasks").glob("*.npz"))

    def tags(self, task_id: str) -> dict[str, str]:
        with np.load(self.root / "tasks" / f"{task_id}.npz") as z:
            return json.loads(str(z["meta"]))["tags"]

    def ensure_worker(self) -> None:
        """Start a detached worker unless one holds the lock, and wait until one does (so that
        polling clients never start a crowd of them)."""
        if self._worker_alive():
            return
        with (self.root / "worker.log").open("ab") as log:
            proc = subprocess.Popen([sys.executable, "-c", _BOOT, str(self.root)], stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=log, start_new_session=True, close_fds=True)
        deadline = time.monotonic() + 30
        while not self._worker_alive():
            if proc.poll() is not None and not self._worker_alive():
                if proc.returncode != 0:
                    raise BackendError(f"the queue worker of {self.root} did not start; see {self.root / 'worker.log'}")
                return  # another worker took the lock and has finished since
            if time.monotonic() > deadline:
                raise BackendError(f"the queue worker of {self.root} did not start within 30 s")
            time.sleep(POLL_S)

    def _worker_alive(self) -> bool:
        lock = try_lock(self.root / "worker.lock")
        if lock is None:
            return True
        lock.close()
        return False

    # ------------------------------------------------------------------------------ worker
    def serve(self, idle_s: float = IDLE_S) -> None:
        """Run queued tasks oldest first until ``idle_s`` pass without any. The caller holds
        ``worker.lock`` (the bootstrap takes it before the slow imports: one worker per queue)."""
        last = time.monotonic()
        while True:
            todo = [t for t in self.submitted() if not self._result(t).exists()
                    and not (self.root / "errors" / f"{t}.txt").exists()]
            if not todo:
                if time.monotonic() - last > idle_s:
                    return
                time.sleep(POLL_S)
                continue
            self._execute(todo[0])
            last = time.monotonic()

    def _execute(self, task_id: str) -> None:
        from ..sim.run import simulate

        try:
            with np.load(self.root / "tasks" / f"{task_id}.npz") as z:
                h, theta, meta = z["h"], z["theta"], json.loads(str(z["meta"]))
            time.sleep(meta["delay"])
            probs = simulate(CircuitSpec(**meta["spec"]), h, theta, meta["shots"], meta["seed"],
                             NoiseSpec.from_dict(meta["noise"]), meta["noise_mode"], meta["device"])
        except Exception as exc:  # noqa: BLE001 - a provider reports any failure as FAILED
            atomic_write(self.root / "errors" / f"{task_id}.txt", f"{type(exc).__name__}: {exc}\n".encode())
            return
        usage = {} if meta["shots"] is None else {"tasks": 1, "shots": int(h.shape[0] * meta["shots"])}
        buf = io.BytesIO()
        np.savez(buf, probs=probs, usage=np.array(json.dumps(usage)))
        atomic_write(self._result(task_id), buf.getvalue())

    def _result(self, task_id: str) -> Path:
        return self.root / "results" / f"{task_id}.npz"


#: The detached worker: take the queue's lock first (a bare interpreter, milliseconds), then import
#: quinr and serve. The lock is held until the process exits.
_BOOT = """import fcntl, sys
lock = open(sys.argv[1] + "/worker.lock", "a")
try:
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
except OSError:
    sys.exit(0)
from quinr.backends.taskqueue import TaskQueue
TaskQueue(sys.argv[1]).serve()
"""
