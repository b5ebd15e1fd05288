"""The README's commands, run as written at small scale, so the README stays true.

Every ``$ .venv/bin/quinr ...`` line of README.md runs through ``main`` in a scratch folder laid out
like the README assumes (``quinr-demo/original.png``, ``photo.png``, ``../shared/data/...``) with a
tiny image in place of each photo. Encodes get a small network and few steps (and a
``--target-bpp`` the bits a 4x6 image can hold), rate-distortion sweeps JPEG2000 only; nothing
else is changed. Each command must succeed (``budget`` may report
"over --max-cost" with exit 1, as documented), and for the tour's commands every label the README
shows in their output (``signal``, ``network``, ``PSNR``, ...) must appear in the real output.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from quinr_testutils import smooth_rgb

from quinr.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
FAST_ENCODE = ["--qubits", "4", "--embed", "8", "--steps", "8", "--quiet"]


def _commands() -> list[tuple[list[str], list[str]]]:
    """(argv, the output lines the README shows for it) of every command in README.md."""
    out: list[tuple[list[str], list[str]]] = []
    fence: str | None = None  # the open code block's fence line (``` for shell sessions)
    current: list[str] | None = None
    for line in README.read_text().splitlines():
        if line.startswith("```"):
            fence, current = (line, None) if fence is None else (None, None)
            continue
        if fence != "```":
            continue
        if line.startswith("$ .venv/bin/quinr "):
            text = line.removeprefix("$ .venv/bin/quinr ").split("  #")[0]
            out.append((shlex.split(text), []))
            current = out[-1][1]
        elif current is not None and line.strip() and not line.startswith("$"):
            current.append(line)
    return out


def _layout(root: Path) -> Path:
    work = root / "work"
    for rel in ("quinr-demo/original.png", "photo.png", "another-photo.png", "kodim02.png",
                "../shared/data/kodak/kodim02.png"):
        p = (work / rel).resolve()
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(smooth_rgb(4, 6, seed=len(rel))).save(p)
    scan = (work / "../shared/data/kitti/seq00_000000.bin").resolve()
    scan.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    angles = rng.uniform(-np.pi, np.pi, 500)
    pts = np.stack([10 * np.cos(angles), 10 * np.sin(angles), rng.uniform(-2, 0.4, 500), np.ones(500)], 1)
    pts.astype("<f4").tofile(scan)
    return work


def _small(argv: list[str]) -> list[str]:
    if argv[0] == "encode":
        if "--target-bpp" in argv:  # a photo's bpp is no file at all on 24 pixels
            argv = [*argv[: argv.index("--target-bpp") + 1], "40", *argv[argv.index("--target-bpp") + 2 :]]
        return [*argv, *FAST_ENCODE]
    if argv[0] == "rd":
        return [*argv, "--codecs", "jpeg2000", "--points", "1", "--quiet"]
    if argv[0] == "study":
        return [*argv, "--quiet"]
    if argv[0] == "search":  # one tiny network, two files: a table rate control can read
        return [*argv, "--networks", "2:4:1", "--steps", "5", "--ladder", "1.2", "--quiet"]
    return argv


def _label(line: str) -> str | None:
    """The label a README output line starts with (``signal``, ``PSNR``, ``wrote``, ...)."""
    text = line.strip()
    head = re.split(r"\s{2,}", text)[0] if re.search(r"\s{2,}", text) else text.split()[0]
    return head if re.fullmatch(r"[A-Za-z][A-Za-z/ ]*", head) else None


def test_every_readme_command_runs_as_written_at_small_scale(tmp_path, monkeypatch, capsys):
    commands = _commands()
    assert len(commands) >= 15  # the parser found the README's commands
    work = _layout(tmp_path)
    monkeypatch.chdir(work)
    # the budget example's file (the README's kodim02.qinr comes from the emulated records)
    assert main(["encode", "kodim02.png", "-o", "kodim02.qinr", *FAST_ENCODE]) == 0
    capsys.readouterr()
    for argv, shown in commands:
        code = main(_small(argv))
        out = capsys.readouterr()
        allowed = (0, 1) if argv[0] == "budget" else (0,)
        assert code in allowed, f"quinr {' '.join(argv)} exited {code}: {out.err.strip()}"
        if argv[0] == "budget":
            assert "predicted PSNR" in out.out
        for line in shown:
            label = _label(line)
            if label:
                assert re.search(rf"^\s*{re.escape(label)}\b", out.out, re.M), (
                    f"README shows {label!r} for quinr {' '.join(argv)}; the command printed:\n{out.out}")


@pytest.mark.parametrize("label, line", [("signal", "  signal   300x256x3 u8 (HxWxC)"), ("wrote", "wrote photo.qinr"),
                                         ("PSNR", "  PSNR     13.96 dB  (peak 255, ...)")])
def test_labels_are_read_from_readme_output_lines(label, line):
    assert _label(line) == label
