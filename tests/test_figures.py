"""Side-by-side pictures (quinr.figures): one PNG, a panel per signal, laid out by shape."""

from __future__ import annotations

import numpy as np
from PIL import Image
from quinr_testutils import smooth_rgb

from quinr.figures import side_by_side
from quinr.signal import Signal, SignalKind


def test_images_side_by_side_and_range_images_stacked(tmp_path):
    rgb = Signal(smooth_rgb(40, 60, seed=1), SignalKind.U8, 0.0, 255.0)
    path = side_by_side([("a", rgb), ("b", rgb), ("c", rgb)], tmp_path / "rgb.png", title="t")
    with Image.open(path) as im:
        assert im.width > 2 * im.height  # three panels in a row
    rng = np.random.default_rng(0)
    rng_img = rng.uniform(0, 80, (16, 256)).astype(np.float32)
    rng_img[:, :10] = 0.0  # empty pixels
    scan = Signal(rng_img[..., None], SignalKind.F32, 0.0, 80.0)
    path = side_by_side([("original", scan), ("decoded", scan)], tmp_path / "scan.png")
    with Image.open(path) as im:
        assert im.height > 0.25 * im.width  # two 16x256 strips stacked, not a 32:1 row
        arr = np.asarray(im.convert("RGB"))
    assert len(np.unique(arr.reshape(-1, 3), axis=0)) > 50  # a colour map, not a flat panel
