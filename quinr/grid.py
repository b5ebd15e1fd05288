"""Coordinate grids: the seam between a signal's shape and the network.

A signal is a grid of samples with channels: ``(N,)`` for a one-dimensional signal (audio, a
line scan), ``(H, W)`` for an image or a range image. Every place that needs the grid's shape
(encoding, the bitstream header, decoding a window or a resampled size, budgets, sweeps) goes
through the functions here, so a new signal type is a new grid, not a new code path.

Coordinates are normalised per axis to [-1, 1] (``linspace``; an axis of length 1 sits at 0),
row-major, one column per axis. A window is given as the command line writes it: ``(x, w)`` in
one dimension, ``(x, y, w, h)`` in two (column, row, width, height).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .checks import finite
from .errors import ConfigError

Grid = tuple[int, ...]
#: Largest resampling factor of a decode (``--scale``).
MAX_SCALE = 16.0


def coordinates(*sizes: int, dtype: type = np.float32) -> np.ndarray:
    """(prod(sizes), len(sizes)) coordinates, each axis ``linspace(-1, 1, n)`` (0 for n = 1), in
    ``dtype`` (float32 for training, float64 for decoding)."""
    axes = [np.linspace(-1.0, 1.0, n, dtype=dtype) if n > 1 else np.zeros(1, dtype) for n in sizes]
    mesh = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    return mesh.reshape(-1, len(sizes))


def scaled(grid: Grid, scale: float | None) -> Grid:
    """The grid resampled by ``scale`` (each axis ``max(1, round(n * scale))``)."""
    if scale is None:
        return grid
    if not (finite(scale) and 0 < scale <= MAX_SCALE):
        raise ConfigError(f"scale must be in (0, {MAX_SCALE:g}], got {scale}")
    return tuple(max(1, round(n * scale)) for n in grid)


def window(grid: Grid, crop: Sequence[int] | None) -> tuple[slice, ...]:
    """Per-axis slices of a window of ``grid`` (the whole grid when ``crop`` is None)."""
    if crop is None:
        return tuple(slice(0, n) for n in grid)
    d = len(grid)
    if len(crop) != 2 * d:
        form = "X,W" if d == 1 else "X,Y,W,H"
        raise ConfigError(f"a crop of a {d}-D signal is {form}, got {','.join(map(str, crop))}")
    starts, sizes = list(crop[:d]), list(crop[d:])
    starts.reverse()  # the command line gives x (columns) first; axes are rows first
    sizes.reverse()
    if any(s < 1 for s in sizes):
        raise ConfigError(f"crop {tuple(crop)} is empty: its width{' and height' if d == 2 else ''} must be at least 1")
    if any(x < 0 for x in starts) or any(
            x + s > n for x, s, n in zip(starts, sizes, grid, strict=True)):
        raise ConfigError(f"crop {tuple(crop)} is outside the {describe(grid)} grid"
                          + (" (rows x columns; the crop is X,Y,W,H)" if d == 2 else ""))
    return tuple(slice(x, x + s) for x, s in zip(starts, sizes, strict=True))


def shape_of(slices: Sequence[slice]) -> Grid:
    return tuple(s.stop - s.start for s in slices)


def describe(grid: Grid) -> str:
    """``HxW`` for an image (rows first, numpy's order, as everywhere quinr prints a shape), ``N``
    for a 1-D signal. Crops are the exception: ``--crop X,Y,W,H`` reads as PIL's boxes do."""
    return "x".join(map(str, grid))


def size(grid: Grid) -> int:
    return math.prod(grid)
