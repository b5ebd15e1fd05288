"""What a backend samples from: the model of its output distributions that quality predictions
(:mod:`quinr.quality`) are computed from. Drivers build it (:meth:`quinr.backends.base.Driver.expectation`);
a leaf module, so the backend layer and the prediction share it without importing each other."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Expectation:
    """What a backend samples from, for one circuit: ``evaluator(spec, h, theta, None)`` gives
    the full probability vectors (noise and readout error included), ``source`` says where that
    model comes from (a noise spec; a device's calibration, its date and the layout), and
    ``confusion`` is the readout calibration ``--mitigate readout`` would invert (or None).
    ``noise_free``: the vectors are the exact decode's own (a noise-free simulator), so a
    prediction needs no evaluation of them and covers every coordinate."""

    evaluator: Callable
    source: str
    confusion: np.ndarray | None = None
    noise_free: bool = False
