"""The exact torch simulator as a backend; with shots, seeded multinomial sampling of its exact
probabilities (what a noiseless device with finite shots would return)."""

from __future__ import annotations

import secrets

import numpy as np
import torch

from ..circuit import CircuitSpec
from ..errors import BackendError
from ..sim import probabilities, sample_counts
from .base import Driver, ExecutionReport


class TorchExactDriver(Driver):
    OPTIONS = {"device": (str, "torch device for the simulation (cpu, cuda)")}

    def __init__(self, profile, options) -> None:
        super().__init__(profile, options)
        name = self.options.get("device", "cpu")
        try:
            dev = torch.device(name)
        except RuntimeError:
            raise BackendError(f"unknown torch device {name!r}") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise BackendError(f"device {name!r} requested but CUDA is not available on this machine")

    def run(self, spec: CircuitSpec, h: np.ndarray, theta: np.ndarray, shots: int | None, seed: int | None,
            report: ExecutionReport) -> np.ndarray:
        device = torch.device(self.options.get("device", "cpu"))
        with torch.no_grad():
            p = probabilities(spec, torch.from_numpy(h).float().to(device), torch.from_numpy(theta).float().to(device))
        report.circuits += h.shape[0]
        report.tasks += 1
        if shots is None:
            return p.cpu().double().numpy()
        if seed is None:
            seed = secrets.randbits(31)
            report.notes.append(f"sampling seed {seed}")
        gen = torch.Generator().manual_seed(seed)
        return sample_counts(p.cpu(), shots, gen).numpy() / shots
