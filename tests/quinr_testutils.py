"""Helpers shared by the tests (importable thanks to pytest's `pythonpath = tests`)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def smooth_rgb(h: int = 12, w: int = 16, seed: int = 0) -> np.ndarray:
    """A smooth colourful uint8 image (gradients + a blob): something a tiny network can fit."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
    blob = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (0.1 * h * w))
    r = 0.2 + 0.6 * x / max(w - 1, 1)
    g = 0.3 + 0.5 * blob
    b = 0.8 - 0.6 * y / max(h - 1, 1)
    return np.rint(255 * np.clip(np.stack([r, g, b], -1), 0, 1)).astype(np.uint8)


def offline_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a machine with no AWS or IBM credentials (for subprocesses)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "QISKIT_", "IBM"))}
    env.update({
        "HOME": str(tmp_path), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_EC2_METADATA_DISABLED": "true",
    })
    return env
