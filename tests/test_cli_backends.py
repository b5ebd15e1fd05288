"""`quinr backends` and `quinr decode --backend ...` from the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from quinr.backends import load_profiles
from quinr.cli import main
from quinr.signal import load_signal, psnr


@pytest.fixture(scope="module")
def qinr_file(tmp_path_factory):
    from PIL import Image
    from quinr_testutils import smooth_rgb

    d = tmp_path_factory.mktemp("cli_backends")
    Image.fromarray(smooth_rgb(6, 8)).save(d / "img.png")
    assert main(["encode", str(d / "img.png"), "-o", str(d / "img.qinr"), "--qubits", "4", "--embed", "8",
                 "--steps", "40", "--quiet"]) == 0
    return d / "img.qinr"


def test_backends_table_lists_every_profile_with_its_columns(capsys):
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["name", "kind", "driver", "exact", "qubits", "noise", "price", "available"]
    for name in load_profiles():
        assert f"\n{name} " in out
    assert "0.3/task + 0.00145/shot USD" in out


@pytest.mark.parametrize(
    "args",
    [
        ["--backend", "aer", "--shots", "4096"],
        ["--backend", "braket"],
        ["--backend", "default.qubit"],
        ["--backend", "aer.fake_manila", "--shots", "4096", "--seed", "1"],
        ["--backend", "torch", "--shots", "4096", "--seed", "2"],
    ],
    ids=lambda a: a[1],
)
def test_decode_on_a_backend_writes_an_image_and_a_report(qinr_file, tmp_path, capsys, args):
    out = tmp_path / "out.png"
    assert main(["decode", str(qinr_file), "-o", str(out), *args, "--report"]) == 0
    text = capsys.readouterr().out
    assert f"backend  {args[1]}" in text
    report = json.loads((tmp_path / "out.png.report.json").read_text())
    assert report["backend"] == args[1] and report["circuits"] == 48 and report["tasks"] >= 1
    shots = int(args[3]) if "--shots" in args else None
    assert report["shots"] == shots and report["exact"] == (shots is None)
    exact = tmp_path / "exact.png"
    assert main(["decode", str(qinr_file), "-o", str(exact)]) == 0
    ref = load_signal(exact)
    img = load_signal(out)
    assert img.shape == ref.shape
    if shots is None:
        assert np.max(np.abs(img.data.astype(int) - ref.data.astype(int))) <= 1
    elif args[1] != "aer.fake_manila":
        assert psnr(ref, img) > 15  # shot noise only


@pytest.mark.parametrize(
    "args, message",
    [
        (["--backend", "aer.fake_torin", "--shots", "10"], "Did you mean aer.fake_torino"),
        (["--backend", "aer.fake_manila"], "give a shot count"),
        (["--backend", "torch", "--shots", "0"], "positive"),
        (["--backend", "aer", "-O", "colour=red"], "unknown option 'colour'"),
        (["--backend", "aer", "-O", "nonsense"], "key=value"),
        (["--shots", "100"], "need --backend"),
        (["--report"], "need --backend"),
    ],
)
def test_backend_errors_are_one_line(qinr_file, tmp_path, capsys, args, message):
    assert main(["decode", str(qinr_file), "-o", str(tmp_path / "o.png"), *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith("quinr: error: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "o.png").exists()


def test_a_recorded_decode_replays_bit_for_bit_offline(qinr_file, tmp_path):
    rec = tmp_path / "run.npz"
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    assert main(["decode", str(qinr_file), "-o", str(first), "--backend", "torch", "--shots", "64", "--record", str(rec)]) == 0
    assert main(["decode", str(qinr_file), "-o", str(second), "--backend", "replay", "-O", f"record={rec}"]) == 0
    assert np.array_equal(load_signal(first).data, load_signal(second).data)
    import quinr

    with pytest.raises(quinr.QuinrError, match="cannot read replay record"):
        quinr.decode_on_backend(qinr_file, "replay", shots=None, options={"record": str(tmp_path / "nope.npz")})
    from quinr.backends.replay import save_record

    save_record(tmp_path / "short.npz", [np.full((5, 16), 1 / 16)])
    with pytest.raises(quinr.QuinrError, match="does not match the recorded run"):
        quinr.decode_on_backend(qinr_file, "replay", shots=None, options={"record": str(tmp_path / "short.npz")})


def test_one_backend_is_described_with_its_typed_options(capsys):
    assert main(["backends", "torch"]) == 0
    out = capsys.readouterr().out
    assert "driver      torch_exact" in out
    assert "task_delay           float [0, 3600] (default 0.0)" in out and "device               str (default cpu)" in out
    assert main(["backends", "aer.fake_torino"]) == 0
    out = capsys.readouterr().out
    assert "driver      ibm_runtime (family qiskit)" in out and "[secret: redacted]" in out and "* FakeTorino" in out
    assert main(["backends", "torhc"]) == 1
    assert "Did you mean torch" in capsys.readouterr().err
