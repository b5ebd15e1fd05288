"""quinr's torch simulator as a backend: exact probabilities, optionally under a NoiseSpec
(exactly with density matrices, or with the white-noise approximation), and with shots, seeded
multinomial sampling of them (what a device with that noise and finite shots would return).

``-O queue=DIR`` turns it into an emulated remote device (:mod:`quinr.backends.taskqueue`):
tasks are submitted to a queue directory, run by a detached worker and collected by id, so they
outlive the client exactly as a QPU's tasks do. With ``task_delay`` (seconds per task) this is
the offline drill for resumable decoding.
"""

from __future__ import annotations

import secrets

import numpy as np
import torch

from ..circuit import CircuitSpec
from ..errors import BackendError
from ..sim.density import NOISE_MODES
from ..sim.run import simulate
from .base import NOISE_OPTION, Driver, ExecutionReport, Option


class TorchExactDriver(Driver):
    OPTIONS = {
        "device": Option(str, "torch device for the simulation (cpu, cuda)", "cpu"),
        **NOISE_OPTION,
        "noise_mode": Option(str, "exact density matrices, or the white-noise approximation", "dm", choices=NOISE_MODES),
        "task_delay": Option(float, "seconds per task: emulates a slow device (resume and checkpoint drills)", 0.0,
                             minimum=0, maximum=3600),
        "queue": Option(str, "a queue directory: tasks run in a detached worker and are collected by id "
                             "(an emulated remote device)"),
    }
    GLOBAL_NOISE = True

    def __init__(self, profile, options) -> None:
        super().__init__(profile, options)
        name = self.options.get("device", "cpu")
        try:
            dev = torch.device(name)
        except RuntimeError:
            raise BackendError(f"unknown torch device {name!r}") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise BackendError(f"device {name!r} requested but CUDA is not available on this machine")

    def _simulate(self, spec, h, theta, shots, seed) -> np.ndarray:
        return simulate(spec, h, theta, shots, seed, self.noise, self.options.get("noise_mode", "dm"),
                        self.options.get("device", "cpu"))

    def run(self, spec: CircuitSpec, h: np.ndarray, theta: np.ndarray, shots: int | None, seed: int | None,
            report: ExecutionReport) -> np.ndarray:
        if self.options.get("task_delay"):
            import time

            time.sleep(self.options["task_delay"])
        if shots is not None and seed is None:
            seed = secrets.randbits(31)
            report.notes.append(f"sampling seed {seed}")
        probs = self._simulate(spec, h, theta, shots, seed or 0)
        report.circuits += h.shape[0]
        report.tasks += 1
        return probs

    # ------------------------------------------------------------ the emulated remote device
    def remote_tasks(self) -> bool:
        return "queue" in self.options

    def submit(self, spec, h, theta, shots, seed, tags) -> str:
        from .taskqueue import TaskQueue

        if "queue" not in self.options:
            return super().submit(spec, h, theta, shots, seed, tags)
        return TaskQueue(self.options["queue"]).submit(
            spec, h, theta, shots, secrets.randbits(31) if seed is None else seed, self.noise,
            self.options.get("noise_mode", "dm"), self.options.get("device", "cpu"),
            self.options.get("task_delay", 0.0), tags)

    def collect(self, task_id, spec, theta, rows):
        from .taskqueue import TaskQueue

        if "queue" not in self.options:
            return super().collect(task_id, spec, theta, rows)
        return TaskQueue(self.options["queue"]).collect(task_id)
