"""LiDAR scans as range images, and back: what lets quinr code a KITTI Velodyne scan.

The projection is the one of RangeNet++ (``LaserScan``) for the HDL-64E: 64 x 1024 pixels,
vertical field of view +3 deg (row 0) to -25 deg, azimuth -atan2(y, x) so that straight ahead lands
in column W/2. Points are written in decreasing range order, so each pixel keeps its nearest
return; pixels no point reaches stay 0 (an impossible range), which is the empty mark. Range
images are float32 metres and encode as float signals: their PSNR peak is the largest range.

Back-projection puts every non-empty pixel's range at the pixel centre's angles, so even an
exact range image loses the sub-pixel angle of each point; :func:`chamfer_distance` between
re-projected point sets (e.g. of the original and of the decoded range image) is the
point-cloud error LiDAR users read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ConfigError, SignalError

#: Largest scan accepted (points); KITTI scans hold about 120,000.
MAX_POINTS = 1 << 24


@dataclass(frozen=True)
class Projection:
    """Range-image geometry (defaults: KITTI's HDL-64E as in RangeNet++)."""

    height: int = 64
    width: int = 1024
    fov_up: float = 3.0  # degrees, row 0
    fov_down: float = -25.0  # degrees, last row

    def __post_init__(self) -> None:
        if not (1 <= self.height <= 4096 and 1 <= self.width <= 16384):
            raise ConfigError(f"range image {self.height}x{self.width} is outside 1..4096 x 1..16384")
        if not (-90.0 <= self.fov_down < self.fov_up <= 90.0):
            raise ConfigError(f"need -90 <= fov_down < fov_up <= 90 degrees, got {self.fov_down}, {self.fov_up}")

    @property
    def fov(self) -> float:
        return math.radians(self.fov_up - self.fov_down)


def read_kitti_bin(path: str | Path) -> np.ndarray:
    """A KITTI Velodyne ``.bin`` (headerless little-endian float32 x, y, z, reflectance) as (N, 4)."""
    p = Path(path)
    if not p.is_file():
        raise SignalError(f"{p}: no such file")
    size = p.stat().st_size
    if size == 0:
        raise SignalError(f"{p}: the file is empty (a KITTI scan holds (x, y, z, reflectance) float32 records)")
    if size % 16:
        raise SignalError(f"{p}: {size} bytes is not a whole number of (x, y, z, reflectance) float32 records")
    if size // 16 > MAX_POINTS:
        raise SignalError(f"{p}: {size // 16} points is more than the {MAX_POINTS} quinr accepts")
    pts = np.fromfile(p, dtype="<f4").reshape(-1, 4)
    if not np.isfinite(pts[:, :3]).all():
        raise SignalError(f"{p}: contains non-finite coordinates")
    return pts


def project(points: np.ndarray, proj: Projection = Projection()) -> np.ndarray:
    """Points (N, >=3) in metres -> range image (H, W) float32, nearest return per pixel, 0 = empty."""
    xyz = np.asarray(points, np.float64)[:, :3]
    r = np.linalg.norm(xyz, axis=1)
    keep = r > 0
    xyz, r = xyz[keep], r[keep]
    yaw = -np.arctan2(xyz[:, 1], xyz[:, 0])
    pitch = np.arcsin(np.clip(xyz[:, 2] / r, -1.0, 1.0))
    u = np.floor(0.5 * (yaw / math.pi + 1.0) * proj.width).astype(np.int64)
    v = np.floor((1.0 - (pitch - math.radians(proj.fov_down)) / proj.fov) * proj.height).astype(np.int64)
    u = np.clip(u, 0, proj.width - 1)
    v = np.clip(v, 0, proj.height - 1)
    order = np.argsort(-r, kind="stable")  # far first: the nearest point is written last and wins
    image = np.zeros((proj.height, proj.width), np.float32)
    image[v[order], u[order]] = r[order]
    return image


def unproject(image: np.ndarray, proj: Projection = Projection()) -> np.ndarray:
    """Range image (H, W) -> points (K, 3) at the pixel centres of the non-empty (> 0) pixels."""
    img = np.asarray(image, np.float64)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.shape != (proj.height, proj.width):
        raise ConfigError(f"range image has shape {img.shape}, the projection is {proj.height}x{proj.width}")
    v, u = np.nonzero(img > 0)
    r = img[v, u]
    az = math.pi * (1.0 - 2.0 * (u + 0.5) / proj.width)
    pitch = (1.0 - (v + 0.5) / proj.height) * proj.fov + math.radians(proj.fov_down)
    return np.stack([r * np.cos(pitch) * np.cos(az), r * np.cos(pitch) * np.sin(az), r * np.sin(pitch)], axis=1)


def chamfer_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Symmetric Chamfer distance in metres: the mean of the two directed mean nearest-neighbour
    distances (a -> b and b -> a)."""
    from scipy.spatial import cKDTree

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) == 0 or len(b) == 0:
        raise ConfigError("Chamfer distance needs two non-empty point sets")
    d_ab = cKDTree(b).query(a, workers=-1)[0]
    d_ba = cKDTree(a).query(b, workers=-1)[0]
    return float(0.5 * (d_ab.mean() + d_ba.mean()))


def range_metrics(original: np.ndarray, decoded: np.ndarray, proj: Projection = Projection()) -> dict[str, float]:
    """What a LiDAR user reads: range PSNR (peak = the original's maximum range, stated), RMSE and
    MAE in metres over the original's non-empty pixels, the empty-mask accuracy at a 0.5 m
    threshold, and the Chamfer distance between the two re-projected point sets."""
    o = np.asarray(original, np.float64).reshape(proj.height, proj.width)
    d = np.asarray(decoded, np.float64).reshape(proj.height, proj.width)
    peak = float(o.max())
    mse = float(np.mean((o - d) ** 2))
    filled = o > 0
    err = (d - o)[filled]
    decoded_points = unproject(np.where(d > 0.5, d, 0.0), proj)
    return {
        "psnr": math.inf if mse == 0 else 10 * math.log10(peak * peak / mse),
        "peak_m": peak,
        "rmse_m": float(np.sqrt(np.mean(err**2))),
        "mae_m": float(np.mean(np.abs(err))),
        "mask_accuracy": float(np.mean((d > 0.5) == filled)),
        "chamfer_m": chamfer_distance(unproject(o, proj), decoded_points) if len(decoded_points) else math.inf,
    }


def save_preview(image: np.ndarray, path: str | Path) -> Path:
    """An 8-bit PNG preview of a range image (near = bright, empty = black)."""
    from PIL import Image

    img = np.asarray(image, np.float64)
    top = img.max() if img.max() > 0 else 1.0
    grey = np.where(img > 0, 255.0 * (1.0 - 0.85 * img / top), 0.0)
    from .files import atomic_path

    with atomic_path(path) as tmp:
        Image.fromarray(np.rint(grey).astype(np.uint8)).save(tmp, format="PNG")
    return Path(path)
