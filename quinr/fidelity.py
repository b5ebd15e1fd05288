"""How close a signal is to a reference: what ``decode --reference`` and ``quinr compare`` print.

PSNR uses the reference's peak (255 for 8-bit, 65535 for 16-bit, the value range for float
signals: see :func:`quinr.signal.peak_value`); RMSE and MAE are in the signal's own units (8-bit
levels, metres of range, ...).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ConfigError
from .signal import Signal, psnr


def compare(reference: Signal, decoded: Signal, range_image: bool = False) -> dict[str, Any]:
    """How close a decode is to a reference signal: PSNR (peak: the reference's), RMSE and MAE in
    the signal's own units, and for a LiDAR range image (``range_image``) the range metrics of
    :func:`quinr.lidar.range_metrics` (RMSE and MAE in metres over filled pixels, mask accuracy,
    Chamfer distance of the re-projected point clouds)."""
    if reference.shape != decoded.shape:
        raise ConfigError(f"the reference is {list(reference.shape)} but the decode is {list(decoded.shape)} "
                          "(give the same --crop/--scale the reference was made with)")
    diff = reference.data.astype(np.float64) - decoded.data.astype(np.float64)
    out: dict[str, Any] = {"psnr": psnr(reference, decoded), "peak": reference.peak,
                           "rmse": float(np.sqrt(np.mean(diff**2))), "mae": float(np.mean(np.abs(diff)))}
    if range_image:
        from .lidar import Projection, range_metrics

        if decoded.channels != 1 or len(decoded.grid) != 2:
            raise ConfigError("--range-image needs a one-channel range image (H, W)")
        h, w = decoded.grid
        out["range"] = range_metrics(reference.data[..., 0], decoded.data[..., 0], Projection(h, w))
    return out
