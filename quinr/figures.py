"""Pictures for people: decoded signals side by side, each labelled with its codec, bytes and PSNR.

A rate-distortion table says which codec wins; a picture says what the numbers look like. Images
are shown as they are (8 or 16 bits scaled to the display); float signals such as a LiDAR range
image are shown through one colour map whose range is the original's, so every panel is drawn to
the same scale, with empty pixels (0 m) in black.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .files import atomic_write
from .signal import Signal, SignalKind

#: (title, signal) of one panel.
Panel = tuple[str, Signal]


def _display(sig: Signal) -> np.ndarray:
    if sig.kind is SignalKind.F32:
        return np.asarray(sig.data[..., 0], np.float64)
    data = np.asarray(sig.data, np.float64) / (255.0 if sig.kind is SignalKind.U8 else 65535.0)
    return data[..., 0] if data.shape[-1] == 1 else data


def side_by_side(panels: list[Panel], path: str | Path, *, title: str = "", rows: bool | None = None) -> Path:
    """One PNG of the panels, left to right (``rows``: top to bottom, the default for signals far
    wider than tall, such as a 64x1024 range image)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = panels[0][1]
    h, w = first.grid[0], first.grid[-1]
    stacked = (w > 3 * h) if rows is None else rows
    lo, hi = float(first.vmin), float(first.vmax)
    n = len(panels)
    # a strip as wide as a range image is drawn twice as tall as it is, with room for its title
    size = (10, n * (2.2 * 10 * h / w + 0.5)) if stacked else (3.6 * n, 3.6 * h / w + 0.8)
    fig, axes = plt.subplots(n if stacked else 1, 1 if stacked else n, figsize=size, dpi=110, squeeze=False)
    for ax, (label, sig) in zip(axes.ravel(), panels, strict=True):
        img = _display(sig)
        if img.ndim == 2:
            cmap = matplotlib.colormaps["turbo" if sig.kind is SignalKind.F32 else "gray"].with_extremes(under="black")
            vmin = max(1e-6, lo) if sig.kind is SignalKind.F32 else 0.0
            ax.imshow(np.where(img > 0, img, -1.0) if sig.kind is SignalKind.F32 else img, cmap=cmap, vmin=vmin,
                      vmax=hi if sig.kind is SignalKind.F32 else 1.0, interpolation="nearest", aspect="auto" if
                      stacked else "equal")
        else:
            ax.imshow(np.clip(img, 0, 1), interpolation="nearest")
        ax.set_title(label, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return atomic_write(Path(path), buf.getvalue())
