"""--json everywhere, decode --reference, compare, encode/rd --crop/--scale, float previews."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from quinr_testutils import smooth_rgb

from quinr.cli import main
from quinr.signal import load_signal

FAST = ["--qubits", "4", "--embed", "8", "--steps", "12", "--quiet"]


@pytest.fixture
def photo(tmp_path):
    p = tmp_path / "photo.png"
    Image.fromarray(smooth_rgb(20, 24, seed=3)).save(p)  # 20 rows, 24 columns
    return p


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def test_encode_crop_scale_json_then_info_decode_and_compare(photo, tmp_path, capsys):
    q = tmp_path / "w.qinr"
    # scale 0.5 -> 10x12, then the window x=2, y=1, 8 wide, 6 tall
    assert main(["encode", str(photo), "-o", str(q), *FAST, "--scale", "0.5", "--crop", "2,1,8,6", "--json"]) == 0
    enc = _json(capsys)
    assert enc["signal"]["shape"] == [6, 8, 3] and enc["bytes"] == q.stat().st_size
    assert enc["training"]["steps_run"] == 12 and set(enc["bits"]) == {16} and enc["network"]["n_qubits"] == 4

    assert main(["info", str(q), "--json"]) == 0
    info = _json(capsys)
    assert info["signal"]["shape"] == [6, 8, 3] and info["bytes"] == enc["bytes"]
    assert info["format_version"] >= 1 and info["params"] == enc["params"] and info["bits"] == enc["bits"]

    # the reference is the same view of the original: its PSNR is the encoder's
    out = tmp_path / "d.png"
    assert main(["decode", str(q), "-o", str(out), "--reference", str(photo), "--json"]) == 1  # shapes differ
    err = capsys.readouterr().err
    assert "20x24x3" in err and "6x8x3" in err and not out.exists()  # refused before decoding

    ref = tmp_path / "ref.png"
    big = load_signal(photo).data
    small = np.asarray(Image.fromarray(big).resize((12, 10), Image.Resampling.BOX))[1:7, 2:10]
    Image.fromarray(small).save(ref)
    assert main(["decode", str(q), "-o", str(out), "--reference", str(ref), "--json"]) == 0
    dec = _json(capsys)
    assert dec["signal"]["shape"] == [6, 8, 3] and dec["report"] is None and not dec["preview"]
    assert abs(dec["reference"]["psnr"] - enc["psnr"]) < 0.05  # box resize is what --scale does
    assert dec["reference"]["rmse"] > 0 and dec["reference"]["mae"] <= dec["reference"]["rmse"]

    assert main(["compare", str(ref), str(q)]) == 0
    text = capsys.readouterr().out
    assert "dB" in text and "6x8x3" in text
    assert main(["compare", str(ref), str(out), "--json"]) == 0
    assert abs(_json(capsys)["psnr"] - dec["reference"]["psnr"]) < 1e-9


def test_decode_on_a_backend_puts_the_reference_in_its_report(photo, tmp_path, capsys):
    q = tmp_path / "p.qinr"
    assert main(["encode", str(photo), "-o", str(q), *FAST]) == 0
    capsys.readouterr()
    out = tmp_path / "b.png"
    assert main(["decode", str(q), "-o", str(out), "--backend", "torch", "--shots", "256", "--seed", "1",
                 "--reference", str(photo), "--report"]) == 0
    text = capsys.readouterr().out
    assert "quality" in text and "against" in text
    report = json.loads((tmp_path / "b.png.report.json").read_text())
    measured = report["reference"]["psnr"]
    assert report["reference"]["file"] == "photo.png" and 5 < measured < 60


def test_float_signal_decodes_to_an_npy_and_an_8_bit_preview_and_range_metrics(tmp_path, capsys):
    rng = np.random.default_rng(0)
    img = np.zeros((8, 32), np.float32)
    img[2:7] = 5 + 20 * rng.random((5, 32), dtype=np.float32)  # a range image: rows of returns, empty rows
    src = tmp_path / "range.npy"
    np.save(src, img)
    q = tmp_path / "r.qinr"
    assert main(["encode", str(src), "-o", str(q), *FAST]) == 0
    capsys.readouterr()
    png = tmp_path / "r.png"
    assert main(["decode", str(q), "-o", str(png)]) == 0
    assert "preview" in capsys.readouterr().out
    preview = np.asarray(Image.open(png))
    assert preview.dtype == np.uint8 and preview.shape == (8, 32) and preview.max() > 100
    npy = tmp_path / "r.npy"
    assert main(["decode", str(q), "-o", str(npy), "--reference", str(src), "--range-image", "--json"]) == 0
    d = _json(capsys)
    rng_metrics = d["reference"]["range"]
    assert set(rng_metrics) >= {"rmse_m", "mae_m", "chamfer_m", "mask_accuracy"}
    assert 0 <= rng_metrics["mask_accuracy"] <= 1 and rng_metrics["chamfer_m"] > 0
    assert main(["decode", str(q), "-o", str(npy), "--range-image"]) == 1
    assert "--range-image needs --reference" in capsys.readouterr().err


def test_lossless_compare_writes_inf_as_a_string(photo, capsys):
    assert main(["compare", str(photo), str(photo), "--json"]) == 0
    assert _json(capsys)["psnr"] == "inf"


def test_backends_json_lists_and_describes(capsys):
    assert main(["backends", "--json"]) == 0
    listing = _json(capsys)["backends"]
    names = {b["name"] for b in listing}
    assert {"torch", "aer", "aer.fake_torino"} <= names
    assert all("source" not in b for b in listing)  # no machine paths
    assert main(["backends", "aer.fake_torino", "--json"]) == 0
    one = _json(capsys)
    assert one["name"] == "aer.fake_torino" and one["pricing"]["model"]
    opt = one["driver_options"]["optimization_level"]
    assert opt["type"] == "int" and opt["profile_value"] == 1 and opt["help"]


def test_rd_takes_crop_and_scale(photo, tmp_path, capsys):
    out = tmp_path / "rd"
    assert main(["rd", str(photo), "--codecs", "jpeg2000", "--points", "2", "--out", str(out), "--quiet",
                 "--scale", "0.5", "--crop", "0,0,8,6"]) == 0
    res = json.loads((out / "jpeg2000.json").read_text())
    assert res["meta"]["pixels"] == 48


def test_backend_decode_reports_progress_over_every_circuit_and_fold(photo, tmp_path):
    import quinr

    q = tmp_path / "z.qinr"
    quinr.encode(photo, q, model=quinr.ModelConfig(n_qubits=3, embed_dim=6), train=quinr.TrainConfig(steps=5))
    seen: list[tuple[int, int]] = []
    _, report = quinr.decode_on_backend(q, "torch", shots=None, options={"noise": "depolarizing=0.01"},
                                        mitigate="zne", progress=lambda done, total: seen.append((done, total)))
    pixels = 20 * 24
    assert seen[-1] == (3 * pixels, 3 * pixels) and report.circuits == 3 * pixels  # three folding factors
    assert all(a[0] < b[0] for a, b in zip(seen, seen[1:], strict=False))  # it advances
    assert report.psnr_vs_exact is not None and report.psnr_vs_exact < 80  # noisy, and measured without --report


def test_ms_ssim_is_reported_for_images_large_enough(tmp_path):
    import quinr

    big = quinr.Signal(smooth_rgb(170, 180, seed=5), quinr.SignalKind.U8, 0.0, 255.0)
    noisy = big.data.astype(int) + np.random.default_rng(1).integers(-20, 21, big.data.shape)
    other = quinr.Signal(np.clip(noisy, 0, 255).astype(np.uint8), quinr.SignalKind.U8, 0.0, 255.0)
    assert quinr.compare(big, big)["ms_ssim"] == pytest.approx(1.0)
    assert 0.5 < quinr.compare(big, other)["ms_ssim"] < 0.999
    small = quinr.Signal(smooth_rgb(20, 24), quinr.SignalKind.U8, 0.0, 255.0)
    assert quinr.compare(small, small)["ms_ssim"] is None  # five scales need 161 pixels a side


def test_encode_a_folder_is_resumable_and_summarised(tmp_path, capsys):
    folder = tmp_path / "set"
    folder.mkdir()
    for k in range(3):
        Image.fromarray(smooth_rgb(6, 8, seed=k)).save(folder / f"img{k}.png")
    (folder / "notes.txt").write_text("not a signal")
    out = tmp_path / "out"
    assert main(["encode", str(folder), "-o", str(out), *FAST]) == 0
    text = capsys.readouterr().out
    assert "3 signals: mean" in text and sorted(p.name for p in out.iterdir()) == [
        "img0.qinr", "img1.qinr", "img2.qinr", "summary.json"]
    first = json.loads((out / "summary.json").read_text())
    (out / "img1.qinr").write_bytes(b"garbage")  # a damaged output is encoded again
    assert main(["encode", str(tmp_path / "set" / "img*.png"), "-o", str(out), *FAST, "--json"]) == 0
    again = _json(capsys)
    assert [i["done_before"] for i in again["items"]] == [True, False, True]
    assert again["items"][0]["psnr"] == pytest.approx(first["items"][0]["psnr"])  # measured again, same file
    assert again["mean_psnr"] == pytest.approx(first["mean_psnr"], abs=1e-6)  # training is deterministic
    assert main(["encode", str(folder), "-o", str(tmp_path / "x.qinr"), *FAST]) == 1
    assert "must be a folder" in capsys.readouterr().err
    assert main(["encode", str(tmp_path / "nothing*.png"), "-o", str(out), *FAST]) == 1
    assert "no signals found" in capsys.readouterr().err


def test_decoding_a_folder_on_a_backend_shares_one_budget(tmp_path, capsys, monkeypatch):
    import quinr
    from quinr.budget import plan_budget

    folder = tmp_path / "files"
    folder.mkdir()
    for k in range(2):
        quinr.encode(quinr.Signal(smooth_rgb(4, 4, seed=k), quinr.SignalKind.U8, 0.0, 255.0), folder / f"f{k}.qinr",
                     model=quinr.ModelConfig(n_qubits=3, embed_dim=6), train=quinr.TrainConfig(steps=3))
    out = tmp_path / "out"
    assert main(["decode", str(folder), "-o", str(out), "--backend", "torch", "--shots", "64", "--seed", "1"]) == 0
    text = capsys.readouterr().out
    assert "2 decodes on torch" in text and (out / "f0.png").exists() and (out / "summary.json").exists()
    # a billed QPU: each file fits the budget alone, the two together do not -> refused before any submission
    one = plan_budget(folder / "f0.qinr", "ibm.torino", shots=100).cost
    submitted = []
    from quinr.backends import base

    monkeypatch.setattr(base.Backend, "submit", lambda *a, **k: submitted.append(1) or None)
    budget = f"{1.5 * one:.2f}"
    assert main(["decode", str(folder), "-o", str(tmp_path / "q"), "--backend", "ibm.torino", "--shots", "100",
                 "--max-cost", budget]) == 1
    err = capsys.readouterr().err
    assert "together, over --max-cost" in err and "nothing was submitted" in err and submitted == []
    assert not (tmp_path / "q").exists()
    assert main(["decode", str(folder), "-o", str(tmp_path / "q"), "--backend", "ibm.torino", "--shots", "100"]) == 1
    assert "give --max-cost (the whole set's budget)" in capsys.readouterr().err
