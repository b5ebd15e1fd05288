"""A LiDAR scan as a range image: project, compress, decode, and measure in metres.

    python examples/lidar_range_image.py [SCAN.bin] [--small]

Without a KITTI Velodyne ``.bin`` a synthetic scan (a ring of walls around the sensor) is used.
"""

from __future__ import annotations

import argparse

import numpy as np

import quinr
from quinr.lidar import Projection, project, read_kitti_bin


def synthetic_scan(n: int = 20000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    az = rng.uniform(-np.pi, np.pi, n)
    el = np.radians(rng.uniform(-24.0, 2.0, n))
    dist = 8 + 4 * np.cos(3 * az)  # walls at 4 to 12 m
    ground = np.where(el < 0, 1.73 / np.maximum(np.sin(-el), 1e-3), np.inf)  # a sensor 1.73 m above the road
    r = np.minimum(dist / np.cos(el), ground)
    pts = np.stack([r * np.cos(el) * np.cos(az), r * np.cos(el) * np.sin(az), r * np.sin(el), np.ones(n)], 1)
    return pts.astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scan", nargs="?", default=None)
    ap.add_argument("--small", action="store_true")
    args = ap.parse_args()
    points = read_kitti_bin(args.scan) if args.scan else synthetic_scan()
    proj = Projection(16, 64) if args.small else Projection()
    image = project(points, proj)
    signal = quinr.Signal(image[..., None].astype(np.float32), quinr.SignalKind.F32, 0.0, float(image.max()))
    res = quinr.encode(signal, model=quinr.ModelConfig(n_qubits=4 if args.small else 8, embed_dim=8 if args.small else 24),
                       train=quinr.TrainConfig(steps=20 if args.small else 500))
    decoded = quinr.decode(res.data)
    q = quinr.compare(signal, decoded, range_image=True)
    r = q["range"]
    print(f"{res.n_bytes} bytes for a {proj.height}x{proj.width} range image: PSNR {q['psnr']:.2f} dB "
          f"(peak {q['peak']:.1f} m), range RMSE {r['rmse_m']:.2f} m, Chamfer {r['chamfer_m']:.2f} m")


if __name__ == "__main__":
    main()
