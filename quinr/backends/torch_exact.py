"""quinr's torch simulator as a backend: exact probabilities, optionally under a NoiseSpec
(exactly with density matrices, or with the white-noise approximation), and with shots, seeded
multinomial sampling of them (what a device with that noise and finite shots would return).

``-O fake_device=FakeTorino`` evaluates the circuit exactly as that IBM device runs it (transpiled
for it, with its calibrated gate, idle and readout noise: :mod:`quinr.backends.device_model`),
the fast exact emulator of the ``aer.fake_*`` backends (profiles ``torch.fake_torino``,
``torch.fake_fez``).

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
from ..sim.sampling import sample_counts
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
        "fake_device": Option(str, "evaluate exactly as this IBM device runs the circuit: a qiskit_ibm_runtime "
                                   "fake backend (FakeTorino), transpiled and with its calibrated noise "
                                   "(quinr.backends.device_model)"),
        "optimization_level": Option(int, "transpiler optimization level for fake_device", 1, minimum=0, maximum=3),
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
        self._model = None
        if "fake_device" in self.options:
            if not self.noise.noiseless:
                raise BackendError("fake_device brings the device's own noise; give it or -O noise, not both")
            if "queue" in self.options:
                raise BackendError("fake_device runs in this process; the emulated queue takes a noise spec")
            from .device_model import fake_device, fake_model

            fake_device(self.options["fake_device"])  # an unknown name fails now, not at the first task
            self._model = fake_model(self.options["fake_device"], self.options.get("optimization_level", 1))
        elif "optimization_level" in self.options:
            raise BackendError("optimization_level applies to fake_device")

    @property
    def device_name(self) -> str:
        return self._model.name if self._model is not None else super().device_name

    def readout_confusion(self, spec: CircuitSpec) -> np.ndarray | None:
        if self._model is None:
            return super().readout_confusion(spec)
        return self._model.program(spec).confusion

    def knows_readout(self) -> bool:
        return self._model is not None or super().knows_readout()

    def calibration_date(self) -> str | None:
        if self._model is None:
            return super().calibration_date()
        from .device_model import calibration_date, fake_device

        return calibration_date(fake_device(self.options["fake_device"]))

    def device_model(self):
        return self._model

    def calibrated_device(self):
        if self._model is None:
            return None
        from .device_model import fake_device

        return fake_device(self.options["fake_device"])

    def describe_noise(self) -> str:
        return self._model.describe() if self._model is not None else super().describe_noise()

    def expectation(self, spec: CircuitSpec):
        if self._model is None:
            if self.options.get("noise_mode", "dm") == "global" and not self.noise.noiseless:
                from ..expectation import Expectation
                from ..sim.density import noisy_evaluator

                return Expectation(noisy_evaluator(self.noise, "global"), f"noise spec {self.noise.describe()} (global)",
                                   self.noise.confusion(spec.n_qubits))
            return super().expectation(spec)
        from ..expectation import Expectation

        prog = self._model.program(spec)
        return Expectation(self._model, prog.source, prog.confusion)

    def _simulate(self, spec, h, theta, shots, seed) -> np.ndarray:
        if self._model is not None:
            dev = torch.device(self.options.get("device", "cpu"))
            with torch.no_grad():
                p = self._model(spec, torch.from_numpy(np.asarray(h, np.float64)).to(dev),
                                torch.from_numpy(np.asarray(theta, np.float64)).to(dev), None).cpu()
            if shots is None:
                return p.numpy()
            return sample_counts(p, shots, torch.Generator().manual_seed(seed)).numpy() / shots
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
