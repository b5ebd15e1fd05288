"""The command line, run in-process through main(argv)."""

from __future__ import annotations

import numpy as np
import pytest

from quinr.cli import main
from quinr.signal import load_signal

FAST = ["--qubits", "4", "--embed", "8", "--steps", "15", "--quiet"]


def test_encode_info_decode(rgb_png, tmp_path, capsys):
    q = tmp_path / "x.qinr"
    assert main(["encode", str(rgb_png), "-o", str(q), *FAST, "--bits", "12"]) == 0
    out = capsys.readouterr().out
    size = q.stat().st_size
    assert f"({size} bytes)" in out
    assert f"bpp      {8 * size / (12 * 16):.4f}" in out
    assert "PSNR" in out and "params   " in out and "x 12 bits" in out
    reported = float(out.split("PSNR")[1].split()[0])

    assert main(["info", str(q)]) == 0
    info = capsys.readouterr().out
    assert "12x16x3 u8 (HxWxC)" in info and "Nq=4 M=8" in info and "12 bits" in info

    png = tmp_path / "y.png"
    assert main(["decode", str(q), "-o", str(png)]) == 0
    from quinr.signal import psnr

    assert round(psnr(load_signal(rgb_png), load_signal(png)), 2) == reported


@pytest.mark.parametrize(
    "argv, message",
    [
        (["encode", "{d}/missing.png", "-o", "{d}/o.qinr"], "no such file"),
        (["encode", "{d}/notimage.png", "-o", "{d}/o.qinr"], "not an image"),
        (["decode", "{d}/notimage.png", "-o", "{d}/o.png"], "wrong magic"),
        (["decode", "{d}/missing.qinr", "-o", "{d}/o.png"], "no such file"),
        (["info", "{d}/notimage.png"], "wrong magic"),
        (["encode", "{d}/img.png", "-o", "{d}/o.qinr", "--qubits", "40"], "n_qubits"),
        (["encode", "{d}/img.png", "-o", "{d}/o.qinr", "--bits", "1"], "bits"),
        (["encode", "{d}/img.png", "-o", "{d}/o.qinr", "--device", "cuda:9"], "CUDA|device"),
    ],
)
def test_errors_are_one_line_messages_with_exit_code_1(tmp_path, capsys, argv, message, rgb_png):
    (tmp_path / "notimage.png").write_text("not an image at all")
    (tmp_path / "img.png").write_bytes(rgb_png.read_bytes())
    code = main([a.format(d=tmp_path) for a in argv] + ["--quiet"] * (argv[0] == "encode"))
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("quinr: error: ") and "Traceback" not in err
    import re

    assert re.search(message, err)


def test_decoding_a_float_signal_needs_npy_or_a_png_preview(tmp_path, capsys):
    arr = np.linspace(0, 10, 60, dtype=np.float32).reshape(6, 10)
    np.save(tmp_path / "a.npy", arr)
    assert main(["encode", str(tmp_path / "a.npy"), "-o", str(tmp_path / "a.qinr"), *FAST]) == 0
    assert main(["decode", str(tmp_path / "a.qinr"), "-o", str(tmp_path / "a.tif")]) == 1
    assert ".npy" in capsys.readouterr().err and not (tmp_path / "a.tif").exists()
    assert main(["decode", str(tmp_path / "a.qinr"), "-o", str(tmp_path / "a.png")]) == 0  # an 8-bit preview
    assert "preview" in capsys.readouterr().out
    assert main(["decode", str(tmp_path / "a.qinr"), "-o", str(tmp_path / "b.npy")]) == 0
    assert np.load(tmp_path / "b.npy").shape == (6, 10)


def test_usage_errors_exit_2_on_one_line(capsys):
    for argv, says in ((["encode"], "the following arguments are required"),
                       (["encode", "a.png", "--embed", "26+"], "argument --embed"),
                       (["nosuch"], "invalid choice: 'nosuch'")):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and says in err and "--help" in err and "usage:" not in err, err


def test_demo_runs_end_to_end_with_few_steps(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo"), "--steps", "3", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "quinr demo" in out and "JPEG2000" in out
    for name in ("original.png", "grace_hopper.qinr", "quinr.png", "jpeg2000.jp2", "jpeg2000.png", "side_by_side.png"):
        assert (tmp_path / "demo" / name).stat().st_size > 0
    row = next(line for line in out.splitlines() if line.startswith("quinr ") and line.split()[1].isdigit())
    size = (tmp_path / "demo" / "grace_hopper.qinr").stat().st_size
    assert int(row.split()[1]) == size
