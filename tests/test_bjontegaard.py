"""Bjontegaard deltas against cases with a known answer."""

import math

import pytest

from quinr.bjontegaard import bd_psnr, bd_rate
from quinr.errors import ConfigError

RATE = [0.01, 0.02, 0.05, 0.1, 0.2]
PSNR = [22.0, 24.5, 27.0, 29.0, 31.5]


def test_identical_curves_differ_by_nothing():
    assert bd_rate(RATE, PSNR, RATE, PSNR) == pytest.approx(0.0, abs=1e-9)
    assert bd_psnr(RATE, PSNR, RATE, PSNR) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("factor", [0.9, 0.5, 1.25])
def test_a_constant_rate_factor_is_its_bd_rate(factor):
    # the same quality at factor x the rate: log-rate shifts by a constant, whatever the interpolation
    assert bd_rate(RATE, PSNR, [r * factor for r in RATE], PSNR) == pytest.approx((factor - 1) * 100, rel=1e-9)


@pytest.mark.parametrize("shift", [1.0, -0.37])
def test_a_constant_quality_shift_is_its_bd_psnr(shift):
    assert bd_psnr(RATE, PSNR, RATE, [q + shift for q in PSNR]) == pytest.approx(shift, rel=1e-9)


def test_better_codec_has_negative_bd_rate_and_positive_bd_psnr_and_order_does_not_matter():
    better = [q + 1.0 for q in PSNR]
    assert bd_rate(RATE, PSNR, RATE, better) < 0 < bd_psnr(RATE, PSNR, RATE, better)
    assert bd_rate(RATE[::-1], PSNR[::-1], RATE, better) == pytest.approx(bd_rate(RATE, PSNR, RATE, better))


def test_no_overlap_gives_none_and_bad_curves_are_refused():
    assert bd_psnr(RATE, PSNR, [1.0, 2.0], [40.0, 41.0]) is None
    assert bd_rate(RATE, PSNR, [1.0, 2.0], [40.0, 41.0]) is None
    with pytest.raises(ConfigError, match="two finite points"):
        bd_rate(RATE, PSNR, [0.1], [30.0])
    with pytest.raises(ConfigError):
        bd_psnr(RATE, PSNR, [0.1, 0.2], [30.0])
    assert math.isfinite(bd_rate(RATE, PSNR, [0.01, 0.02, float("inf")], [23.0, 25.0, 30.0]))
