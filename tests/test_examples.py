"""The scripts in examples/ run at small scale (``--small``), as a user would run them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("script, expect", [
    ("encode_and_compare.py", ["bpp", "whole decode against the original", "half size: 24x32x3 u8 (HxWxC)"]),
    ("decode_on_a_backend.py", ["ibm.torino:", "braket.ionq_forte:", "mitigation readout: predicted"]),
    ("lidar_range_image.py", ["range RMSE", "Chamfer"]),
    ("rate_control.py", ["table's network: asked 170 bytes, landed", "PSNR target: asked 11 dB", "bytes:130: "]),
])
def test_example_runs(script, expect):
    out = subprocess.run([sys.executable, str(EXAMPLES / script), "--small"], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    for text in expect:
        assert text in out.stdout, out.stdout
