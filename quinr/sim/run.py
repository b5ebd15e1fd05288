"""One call from a circuit request to what a device would return: exact (noisy) probabilities of
every coordinate, or the frequencies of seeded shots drawn from them. The torch backend and its
emulated task queue both run circuits through here, so a queued task gives exactly the in-process
result."""

from __future__ import annotations

import numpy as np
import torch

from ..circuit import CircuitSpec
from ..noise import NoiseSpec
from .density import noisy_probabilities
from .engine import probabilities
from .sampling import sample_counts


def simulate(spec: CircuitSpec, h: np.ndarray, theta: np.ndarray, shots: int | None, seed: int,
             noise: NoiseSpec, noise_mode: str = "dm", device: str = "cpu") -> np.ndarray:
    """Exact (noisy) probabilities of every row of h, or frequencies of ``shots`` seeded samples."""
    dev = torch.device(device)
    hh = torch.from_numpy(np.asarray(h)).float().to(dev)
    tt = torch.from_numpy(np.asarray(theta)).float().to(dev)
    with torch.no_grad():
        p = probabilities(spec, hh, tt) if noise.noiseless else noisy_probabilities(spec, hh, tt, noise, noise_mode)
    if shots is None:
        return p.cpu().double().numpy()
    gen = torch.Generator().manual_seed(seed)
    return sample_counts(p.cpu(), shots, gen).numpy() / shots
