"""Range-image projection on synthetic point clouds of known geometry (and on the real KITTI scan
when the sample data is present)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import SHARED_DATA

from quinr.cli import main
from quinr.errors import SignalError
from quinr.lidar import Projection, chamfer_distance, project, range_metrics, read_kitti_bin, unproject

P = Projection()


def _pixel_centre_points(rows, cols, ranges, proj=P):
    """Points exactly at the centre directions of the given pixels."""
    img = np.zeros((proj.height, proj.width))
    img[rows, cols] = ranges
    return unproject(img, proj), img


def test_points_at_pixel_centres_project_and_come_back_exactly():
    rng = np.random.default_rng(0)
    rows, cols = rng.integers(0, 64, 300), rng.integers(0, 1024, 300)
    keys = np.unique(rows * 1024 + cols)
    rows, cols = keys // 1024, keys % 1024
    ranges = rng.uniform(2, 80, len(keys))
    pts, img = _pixel_centre_points(rows, cols, ranges)
    out = project(pts)
    assert np.allclose(out, img, atol=1e-4)  # every point in its own pixel, empty elsewhere
    assert (out > 0).sum() == len(keys)
    assert np.allclose(unproject(out), pts, atol=1e-3)


def test_geometry_straight_ahead_edges_and_nearest_return():
    ahead = project(np.array([[10.0, 0.0, 0.0]]))
    v, u = np.argwhere(ahead > 0)[0]
    assert u == P.width // 2 and v == math.floor((1 - 25 / 28) * 64) and ahead[v, u] == pytest.approx(10.0)
    left = project(np.array([[0.0, 7.0, 0.0]]))  # y is left: azimuth -90 deg -> a quarter of the width
    assert np.argwhere(left > 0)[0][1] == P.width // 4
    top = project(np.array([[10.0, 0.0, 10.0 * math.tan(math.radians(2.9))]]))
    assert np.argwhere(top > 0)[0][0] == 0
    below = project(np.array([[10.0, 0.0, -10.0]]))  # -45 deg, outside the FOV: clamped to the last row
    assert np.argwhere(below > 0)[0][0] == P.height - 1
    two = project(np.array([[10.0, 0.0, 0.0], [5.0, 0.0, 0.0], [20.0, 0.0, 0.0]]))
    assert two.max() == pytest.approx(5.0) and (two > 0).sum() == 1  # the nearest return wins


def test_chamfer_distance_of_known_offsets():
    a = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0]])
    assert chamfer_distance(a, a) == 0.0
    assert chamfer_distance(a, a + [0.0, 0.3, 0.0]) == pytest.approx(0.3)
    b = np.array([[0.0, 0.0, 0.0]])  # a -> b: (0 + 10) / 2 = 5; b -> a: 0 -> 2.5
    assert chamfer_distance(a, b) == pytest.approx(2.5) == chamfer_distance(b, a)


def test_range_metrics_state_peak_errors_mask_and_chamfer():
    rng = np.random.default_rng(1)
    rows, cols = rng.integers(0, 64, 500), rng.integers(0, 1024, 500)
    _, img = _pixel_centre_points(rows, cols, rng.uniform(3, 50, 500))
    noisy = np.where(img > 0, img + 0.1, 0.0)
    m = range_metrics(img, noisy)
    assert m["peak_m"] == pytest.approx(img.max()) and m["rmse_m"] == pytest.approx(0.1) and m["mae_m"] == pytest.approx(0.1)
    assert m["mask_accuracy"] == 1.0 and 0 < m["chamfer_m"] <= 0.1 + 1e-9
    assert m["psnr"] == pytest.approx(10 * math.log10(img.max() ** 2 / np.mean((img - noisy) ** 2)))


def test_bad_scans_are_refused(tmp_path):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\x00" * 17)
    with pytest.raises(SignalError, match="whole number"):
        read_kitti_bin(bad)
    nan = tmp_path / "nan.bin"
    np.array([[np.nan, 0, 0, 0]], "<f4").tofile(nan)
    with pytest.raises(SignalError, match="non-finite"):
        read_kitti_bin(nan)


def test_cli_lidar_to_range_on_a_synthetic_scan(tmp_path, capsys):
    pts, img = _pixel_centre_points(np.array([3, 40]), np.array([100, 900]), np.array([12.0, 33.0]))
    scan = tmp_path / "scan.bin"
    np.hstack([pts, np.zeros((2, 1))]).astype("<f4").tofile(scan)
    assert main(["lidar-to-range", str(scan), "-o", str(tmp_path / "ri.npy")]) == 0
    assert np.allclose(np.load(tmp_path / "ri.npy"), img, atol=1e-4)
    assert (tmp_path / "ri.png").exists() and "max range 33.00 m" in capsys.readouterr().out


@pytest.mark.skipif(not (SHARED_DATA / "kitti" / "seq00_000000.bin").exists(), reason="KITTI sample not present")
def test_real_kitti_scan_matches_the_reference_projection():
    pts = read_kitti_bin(SHARED_DATA / "kitti" / "seq00_000000.bin")
    img = project(pts)
    assert len(pts) == 124_668 and int((img > 0).sum()) == 51_770
    assert img.max() == pytest.approx(79.25, abs=0.01)
    assert chamfer_distance(pts[:, :3], unproject(img)) < 0.2  # pixel-centre angles + lost collisions
