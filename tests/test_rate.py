"""Rate control and bit allocation (quinr.rate, quinr.allocation): a file of an asked size lands
at or under it and close to it; an asked PSNR is reached, or the shortfall is said; bad targets
get one line."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image
from quinr_testutils import smooth_rgb

from quinr.allocation import Scorer, bits_for_psnr, choose_bits, fit_bytes
from quinr.cli import main
from quinr.codec import file_sizes, parse_bits
from quinr.config import ModelConfig
from quinr.errors import ConfigError
from quinr.model import QuINR
from quinr.quant import MIN_BITS
from quinr.rate import PRESETS, _reference_psnr, choose_preset, encode_to
from quinr.signal import Signal, SignalKind, coordinates
from quinr.train import TrainConfig, fit

SMALL = ModelConfig(n_qubits=4, embed_dim=8, reuploads=1)


@pytest.fixture(scope="module")
def trained():
    sig = Signal(smooth_rgb(24, 32, seed=7), SignalKind.U8, 0.0, 255.0)
    torch.manual_seed(0)
    net = QuINR(ModelConfig(n_qubits=4, embed_dim=8, reuploads=1, out_features=3), seed=0)
    fit(net, torch.from_numpy(coordinates(24, 32)), torch.from_numpy(sig.normalized().reshape(-1, 3)),
        TrainConfig(steps=40, batch_size=None))
    net.canonicalize_()
    return net, sig


def test_fit_bytes_fills_a_budget_without_passing_it(trained):
    net, sig = trained
    scorer = Scorer(net, sig)
    size, estimate = file_sizes(net, sig)
    n = scorer.n
    for per in ((2,) * n, (16,) * n, (5, 9, 12, 3, 7)):  # the prediction is within a few bytes
        assert abs(estimate(per) - size(per)) <= 6
    smallest, largest = size((MIN_BITS,) * n), size((16,) * n)
    for budget in (smallest + 5, (smallest + largest) // 2, largest - 3):
        per = fit_bytes(net, sig, budget, size, scorer, estimate)
        assert size(per) <= budget
        assert size(per) >= 0.9 * budget  # one bit of one tensor is a few bytes here
        assert scorer(per) >= scorer((MIN_BITS,) * n)
        for i, b in enumerate(per):  # filled: no single extra bit still fits
            if b < 16:
                assert size(per[:i] + (b + 1,) + per[i + 1 :]) > budget
    assert fit_bytes(net, sig, 10 * largest, size, scorer, estimate) == (16,) * n  # more room than 16 bits need
    with pytest.raises(ConfigError, match="smallest file is"):
        fit_bytes(net, sig, smallest - 1, size, scorer, estimate)


def test_bits_for_psnr_is_the_smallest_file_found_at_the_target(trained):
    net, sig = trained
    scorer = Scorer(net, sig)
    size, _ = file_sizes(net, sig)
    top = scorer((16,) * scorer.n)
    target = top - 1.0
    per = bits_for_psnr(net, sig, target, size, scorer=scorer)
    assert per is not None and scorer(per) >= target and size(per) < size((16,) * scorer.n)
    assert size(per) <= size(choose_bits(net, sig, 1.0, scorer=scorer))  # at least as small as auto at that drop
    assert bits_for_psnr(net, sig, top + 5, size, scorer=scorer) is None  # out of reach


def test_bits_rules_parse():
    assert parse_bits("bytes:500") == "bytes:500" and parse_bits("psnr:24.5") == "psnr:24.5"
    assert parse_bits("auto:0.1") == "auto:0.1" and parse_bits("12") == 12
    for bad in ("bytes:0", "bytes:x", "psnr:", "psnr:hi", "auto:x", "lots"):
        with pytest.raises(ConfigError, match="bits must be"):
            parse_bits(bad)


def test_a_size_target_lands_within_ten_percent(tmp_path):
    sig = Signal(smooth_rgb(32, 40, seed=8), SignalKind.U8, 0.0, 255.0)
    train = TrainConfig(steps=8, batch_size=None)
    for bpp in (1.0, 1.15):  # within what this network's files span (its 16-bit file: about 194 bytes)
        r = encode_to(sig, tmp_path / f"a{bpp}.qinr", target_bpp=bpp, model=SMALL, train=train)
        budget = int(bpp * sig.pixels / 8)
        assert r.result.n_bytes <= budget and abs(r.miss) <= 0.10 and r.preset is None
        assert (tmp_path / f"a{bpp}.qinr").stat().st_size == r.result.n_bytes
    r = encode_to(sig, None, max_bytes=260, model=SMALL, train=train)
    assert r.result.n_bytes <= 260 and r.asked == "260 bytes" and "% against the budget" in r.landed


def test_the_table_picks_the_network_that_measured_best_at_the_budget():
    sig = Signal(smooth_rgb(512, 768, seed=1), SignalKind.U8, 0.0, 255.0)
    for p in PRESETS:  # measured curves: bytes per weight ascending, on both reference signals
        for curve in (p.image, p.range):
            assert len(curve) >= 3 and [b for b, _ in curve] == sorted(b for b, _ in curve)
    for budget in (150, 300, 500, 700, 1000, 2000):
        chosen = choose_preset(sig, budget)
        assert all(chosen.expected_psnr(sig, budget) >= p.expected_psnr(sig, budget) for p in PRESETS)
    assert choose_preset(sig, 10) == PRESETS[0]  # nothing measured that small: the smallest network
    small, large = choose_preset(sig, 300), choose_preset(sig, 2000)
    assert small.model(sig).n_params() < large.model(sig).n_params()  # more bytes, a larger network


def test_a_psnr_target_is_reached_or_its_shortfall_said():
    sig = Signal(smooth_rgb(16, 20, seed=9), SignalKind.U8, 0.0, 255.0)
    train = TrainConfig(steps=6, batch_size=None)
    r = encode_to(sig, None, target_psnr=12.0, model=SMALL, train=train)
    assert r.result.psnr >= 12.0 - 0.05 and r.miss == 0.0 and r.trainings == 1
    high = _reference_psnr(PRESETS[-2], sig)  # reached on kodim02 by one of the largest networks; not in six steps
    first = next(i for i, p in enumerate(PRESETS) if _reference_psnr(p, sig) >= high)  # the smallest that reached it
    far = encode_to(sig, None, target_psnr=high, train=train, tries=2)
    assert far.trainings == 2 and far.miss > 0 and "short" in far.landed and far.preset in PRESETS[first : first + 2]
    assert PRESETS.index(far.preset) >= 2  # a stacked network, not the smallest ones
    with pytest.raises(ConfigError, match="exactly one"):
        encode_to(sig, None, target_psnr=20.0, max_bytes=100)
    with pytest.raises(ConfigError, match="exactly one"):
        encode_to(sig, None)
    with pytest.raises(ConfigError, match="positive"):
        encode_to(sig, None, target_bpp=-1.0)


def test_cli_rate_control(tmp_path, capsys):
    img = tmp_path / "img.png"
    Image.fromarray(smooth_rgb(32, 40, seed=11)).save(img)
    q = tmp_path / "x.qinr"
    fast = ["--qubits", "4", "--embed", "8", "--reuploads", "1", "--steps", "6", "--quiet"]
    assert main(["encode", str(img), "-o", str(q), "--target-bpp", "2", *fast]) == 0
    out = capsys.readouterr().out
    assert "asked    2 bpp (320 bytes): landed" in out and "chosen   given" in out and q.stat().st_size <= 320
    assert main(["encode", str(img), "-o", str(q), "--max-bytes", "300", "--steps", "4", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["bytes"] <= 300 and "rate-control table" in doc["rate_control"]["network"]
    assert main(["encode", str(img), "-o", str(q), "--target-bpp", "2", "--bits", "8", *fast]) == 1
    assert "both choose the bits" in capsys.readouterr().err
    assert main(["encode", str(img), "-o", str(q), "--max-bytes", "5", *fast]) == 1
    err = capsys.readouterr().err
    assert "smallest file is" in err and "Traceback" not in err
    with pytest.raises(SystemExit):  # argparse: not allowed with each other
        main(["encode", str(img), "-o", str(q), "--max-bytes", "300", "--target-psnr", "20"])
    assert main(["encode", str(tmp_path), "-o", str(tmp_path / "out"), "--max-bytes", "300", *fast]) == 1
    assert "takes one signal" in capsys.readouterr().err


def test_rate_target_trains_the_table_steps(tmp_path, capsys):
    """Without --steps, a rate target trains as long as its table was measured (its predictions
    assume it) and a plain encode keeps its own default; --steps overrides both."""
    from quinr.rate import TABLE_STEPS

    img = tmp_path / "img.png"
    Image.fromarray(smooth_rgb(4, 6, seed=3)).save(img)
    q = tmp_path / "x.qinr"
    net = ["--qubits", "2", "--embed", "2", "--reuploads", "1", "--json"]
    runs = {}
    for name, extra in (("rate", ["--max-bytes", "300"]), ("plain", []), ("given", ["--max-bytes", "300", "--steps", "7"])):
        assert main(["encode", str(img), "-o", str(q), *net, *extra]) == 0
        runs[name] = json.loads(capsys.readouterr().out)["training"]["steps_run"]
    assert runs == {"rate": TABLE_STEPS, "plain": TrainConfig().steps, "given": 7}
    assert TrainConfig().steps != TABLE_STEPS
