"""How close a signal is to a reference: what ``decode --reference`` and ``quinr compare`` print.

PSNR uses the reference's peak (255 for 8-bit, 65535 for 16-bit, the value range for float
signals: see :func:`quinr.signal.peak_value`); RMSE and MAE are in the signal's own units (8-bit
levels, metres of range, ...). MS-SSIM is pytorch-msssim's (the implementation CompressAI
reports with: five scales, an 11-pixel Gaussian window, the reference's peak as data range),
defined for images of at least 161 pixels on their short side; smaller ones get ``None``.
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
    if reference.kind is not decoded.kind:
        names = {"U8": "an 8-bit", "U16": "a 16-bit", "F32": "a float"}
        raise ConfigError(f"the reference is {names[reference.kind.name]} signal but the other is "
                          f"{names[decoded.kind.name]} one: their values are on different scales (an 8-bit preview "
                          "of a float signal is not the signal)")
    if reference.shape != decoded.shape:
        hint = ("different channel counts (a colour and a grey signal?)" if reference.shape[:-1] == decoded.shape[:-1]
                else "give the same --crop/--scale the reference was made with")
        raise ConfigError(f"the reference is {list(reference.shape)} but the decode is {list(decoded.shape)} ({hint})")
    diff = reference.data.astype(np.float64) - decoded.data.astype(np.float64)
    out: dict[str, Any] = {"psnr": psnr(reference, decoded), "peak": reference.peak,
                           "rmse": float(np.sqrt(np.mean(diff**2))), "mae": float(np.mean(np.abs(diff))),
                           "ms_ssim": ms_ssim(reference, decoded)}
    if range_image:
        from .lidar import Projection, range_metrics

        if decoded.channels != 1 or len(decoded.grid) != 2:
            raise ConfigError("--range-image needs a one-channel range image (H, W)")
        h, w = decoded.grid
        out["range"] = range_metrics(reference.data[..., 0], decoded.data[..., 0], Projection(h, w))
    return out


#: MS-SSIM's five scales with an 11-pixel window need this many pixels on the short side.
MS_SSIM_MIN_SIDE = 161


def ms_ssim(reference: Signal, decoded: Signal) -> float | None:
    """Multi-scale SSIM of an image against its reference (1 = identical), or ``None`` for a
    one-dimensional signal or an image smaller than :data:`MS_SSIM_MIN_SIDE` on a side."""
    if len(reference.grid) != 2 or min(reference.grid) < MS_SSIM_MIN_SIDE:
        return None
    import torch
    from pytorch_msssim import ms_ssim as _ms_ssim

    def nchw(sig: Signal) -> torch.Tensor:  # values from 0 (the reference's vmin) up to about the peak
        return (torch.from_numpy(sig.data.astype(np.float64)) - reference.vmin).permute(2, 0, 1)[None]

    return float(_ms_ssim(nchw(reference), nchw(decoded), data_range=reference.peak))
