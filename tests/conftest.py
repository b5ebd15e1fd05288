"""Shared fixtures: small real images made on the fly, never downloaded."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from quinr_testutils import smooth_rgb

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def _two_threads():
    torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _own_run_cache(tmp_path, monkeypatch):
    """Billed decodes without --run-dir checkpoint in the run cache: each test gets its own."""
    monkeypatch.delenv("QUINR_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def rgb_png(tmp_path: Path) -> Path:
    from PIL import Image

    p = tmp_path / "rgb.png"
    Image.fromarray(smooth_rgb()).save(p)
    return p
