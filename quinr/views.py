"""Views of a loaded signal: a window and a rescaled copy.

``encode --crop/--scale`` and ``rd --crop/--scale`` take the same window and scale as a decode
does (:func:`quinr.codec.decode_grid`): the scale resamples the whole signal first (each axis
``round(n * scale)``), then the crop keeps ``X,Y,W,H`` (``X,W`` in one dimension) of it.
Downscaling averages areas (Pillow's box filter, what one expects of a thumbnail), upscaling is
bicubic; both run on float32 copies of each channel (Pillow's ``F`` mode), so 8-bit, 16-bit and
float signals are treated alike and rounded back to their own type.
"""

from __future__ import annotations

import numpy as np

from . import grid as grids
from .signal import Signal, SignalKind


def crop_signal(sig: Signal, crop: tuple[int, ...] | None) -> Signal:
    if crop is None:
        return sig
    sl = grids.window(sig.grid, crop)
    return Signal(np.ascontiguousarray(sig.data[sl]), sig.kind, sig.vmin, sig.vmax)


def scale_signal(sig: Signal, scale: float | None) -> Signal:
    size = grids.scaled(sig.grid, scale)
    if size == sig.grid:
        return sig
    data = sig.data.astype(np.float32)
    if len(size) == 1:
        n = sig.grid[0]
        src = (np.arange(n) + 0.5) / n
        dst = (np.arange(size[0]) + 0.5) / size[0]
        out = np.stack([np.interp(dst, src, data[:, c]) for c in range(sig.channels)], -1)
    else:
        from PIL import Image

        h, w = size
        filt = Image.Resampling.BOX if h * w < sig.pixels else Image.Resampling.BICUBIC
        out = np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(data[..., c]), mode="F").resize((w, h), filt))
                        for c in range(sig.channels)], -1)
    return _native(out, sig)


def _native(values: np.ndarray, like: Signal) -> Signal:
    if like.kind is SignalKind.F32:
        return Signal(values.astype(np.float32), like.kind, like.vmin, like.vmax)
    top = 255 if like.kind is SignalKind.U8 else 65535
    dtype = np.uint8 if like.kind is SignalKind.U8 else np.uint16
    return Signal(np.clip(np.rint(values), 0, top).astype(dtype), like.kind, like.vmin, like.vmax)


def view(sig: Signal, crop: tuple[int, ...] | None = None, scale: float | None = None) -> Signal:
    """``sig`` rescaled by ``scale``, then cropped to ``crop`` (the order a decode uses)."""
    return crop_signal(scale_signal(sig, scale), crop)
