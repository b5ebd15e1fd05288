"""quinr's torch simulator as a backend: exact probabilities, optionally under a NoiseSpec
(exactly with density matrices, or with the white-noise approximation), and with shots, seeded
multinomial sampling of them (what a device with that noise and finite shots would return)."""

from __future__ import annotations

import secrets

import numpy as np
import torch

from ..circuit import CircuitSpec
from ..errors import BackendError
from ..sim import probabilities, sample_counts
from ..sim.density import NOISE_MODES, noisy_probabilities
from .base import NOISE_OPTION, Driver, ExecutionReport


class TorchExactDriver(Driver):
    OPTIONS = {
        "device": (str, "torch device for the simulation (cpu, cuda)"),
        **NOISE_OPTION,
        "noise_mode": (str, "dm (exact density matrices, default) or global (white-noise approximation)"),
        "task_delay": (float, "seconds to wait per run call: emulates a slow device (resume and checkpoint drills)"),
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
        if self.options.get("noise_mode", "dm") not in NOISE_MODES:
            raise BackendError(f"noise_mode must be one of {NOISE_MODES}, got {self.options['noise_mode']!r}")

    def run(self, spec: CircuitSpec, h: np.ndarray, theta: np.ndarray, shots: int | None, seed: int | None,
            report: ExecutionReport) -> np.ndarray:
        if self.options.get("task_delay"):
            import time

            time.sleep(self.options["task_delay"])
        device = torch.device(self.options.get("device", "cpu"))
        hh = torch.from_numpy(h).float().to(device)
        tt = torch.from_numpy(theta).float().to(device)
        with torch.no_grad():
            if self.noise.noiseless:
                p = probabilities(spec, hh, tt)
            else:
                p = noisy_probabilities(spec, hh, tt, self.noise, self.options.get("noise_mode", "dm"))
        report.circuits += h.shape[0]
        report.tasks += 1
        if shots is None:
            return p.cpu().double().numpy()
        if seed is None:
            seed = secrets.randbits(31)
            report.notes.append(f"sampling seed {seed}")
        gen = torch.Generator().manual_seed(seed)
        return sample_counts(p.cpu(), shots, gen).numpy() / shots
