"""Shot-noise prediction against measured decodes, budgets, and the billed-backend guard."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from quinr_testutils import smooth_rgb

import quinr
from quinr.backends import get_backend
from quinr.budget import estimate_cost, plan_budget
from quinr.cli import main
from quinr.codec import read_bitstream
from quinr.errors import BackendError
from quinr.quality import exact_outputs, expected_mse, psnr_from_mse
from quinr.signal import Signal, SignalKind, psnr

warnings.filterwarnings("ignore", category=DeprecationWarning)
IMG = Signal(smooth_rgb(16, 16, seed=3), SignalKind.U8, 0, 255)


@pytest.fixture(scope="module", params=[(6, 12), (8, 16)], ids=["nq6", "nq8"])
def encoded(request):
    nq, m = request.param
    return quinr.encode(IMG, model=quinr.ModelConfig(n_qubits=nq, embed_dim=m), train=quinr.TrainConfig(steps=60))


@pytest.mark.parametrize("shots", [64, 1024, 65536])
def test_predicted_psnr_is_within_half_a_db_of_the_measured_mean(encoded, shots):
    out = exact_outputs(read_bitstream(encoded.data))
    predicted = psnr_from_mse(expected_mse(out, shots, IMG.data.reshape(-1, 3)), 255.0)
    measured = [psnr(IMG, quinr.decode_on_backend(encoded.data, "torch", shots=shots, seed=s)[0]) for s in range(6)]
    assert abs(predicted - float(np.mean(measured))) < 0.5
    assert predicted < encoded.psnr + 0.05  # shot noise never helps on average


def test_expected_error_shrinks_with_shots_and_vanishes_for_deterministic_outputs():
    base = dict(scale=np.array([1.0]), offset=np.array([0.0]), kind=SignalKind.U8, vmin=0.0, vmax=255.0)
    out = quinr.quality.ExactOutputs(probs=np.array([[0.3], [0.6]]), **base)
    errs = [expected_mse(out, s) for s in (16, 256, 4096)]
    assert errs[0] > errs[1] > errs[2] > 0
    # binomial variance carried through the gain: 255^2 p(1-p)/S, up to rounding
    # 8-bit rounding of both values adds at most about half a squared level
    assert errs[2] == pytest.approx(255**2 * (0.3 * 0.7 + 0.6 * 0.4) / 2 / 4096, abs=0.5)
    sure = quinr.quality.ExactOutputs(probs=np.array([[0.0], [1.0]]), **base)
    assert expected_mse(sure, 10) == 0.0


def test_budget_counts_tasks_cost_and_suggests_what_fits(encoded, tmp_path, capsys):
    path = tmp_path / "x.qinr"
    path.write_bytes(encoded.data)
    # over --max-cost: the report is printed and the exit code is 1
    assert main(["budget", str(path), "--backend", "braket.iqm_garnet", "--shots", "1000", "--max-cost", "50", "--json"]) == 1
    est = json.loads(capsys.readouterr().out)
    assert est["circuits"] == 256 and est["tasks"] == math.ceil(256 / 100) and est["total_shots"] == 256_000
    assert est["cost"] == pytest.approx(3 * 0.30 + 256_000 * 0.00145)
    assert est["pricing_date"] and est["pricing_source"]
    assert not est["within_budget"] and "--crop 0,0," in est["fits"]
    n = int(est["fits"].split()[0])
    from quinr.backends import get_profile

    prof = get_profile("braket.iqm_garnet")
    assert estimate_cost(prof, n, 1000)[1] <= 50 < estimate_cost(prof, n + 1, 1000)[1]
    ibm = plan_budget(encoded.data, "ibm.torino", shots=4000)
    assert ibm.device_seconds == pytest.approx(1 * 2.0 + 256 * 4000 * 0.00035)
    assert ibm.cost == pytest.approx(ibm.device_seconds * 1.60)
    assert ibm.predicted_psnr_shots_only is not None and ibm.predicted_psnr_shots_only > 20
    # the QPU's prediction comes from the offline snapshot of its calibration, and says so
    assert ibm.noise_source.startswith("FakeTorino snapshot of ibm_torino (not its current calibration)")
    assert ibm.predicted_psnr_vs_exact < ibm.predicted_psnr_shots_only - 3  # device noise dominates
    garnet = plan_budget(encoded.data, "braket.iqm_garnet", shots=1000)
    assert garnet.predicted_psnr_vs_exact is None and garnet.predicted_psnr_shots_only is not None
    assert garnet.noise_source.startswith("no device model: braket.iqm_garnet is a QPU")


def test_target_psnr_drop_finds_the_fewest_shots(encoded):
    est = plan_budget(encoded.data, "aer", target_psnr_drop=1.0, reference=IMG)
    out = exact_outputs(read_bitstream(encoded.data))
    ref = IMG.data.reshape(-1, 3)
    exact = psnr_from_mse(float(np.mean((out.exact_values() - ref.ravel()) ** 2)), 255.0)
    assert psnr_from_mse(expected_mse(out, est.shots, ref), 255.0) >= exact - 1.0 - 0.02
    assert psnr_from_mse(expected_mse(out, est.shots - 1, ref), 255.0) < exact - 1.0 + 0.02


def _billed(tmp_path, monkeypatch):
    (tmp_path / "paid.toml").write_text(
        'name = "paid"\ndriver = "torch_exact"\nkind = "qpu"\ndescription = "test"\nexact = false\nmax_qubits = 10\n'
        'max_shots = 100000\nmax_circuits_per_task = 100\nnoise = "none"\n[pricing]\nmodel = "task+shot"\n'
        'per_task = 0.3\nper_shot = 0.001\ndate = "2026-11-01"\nsource = "test"\n'
    )
    monkeypatch.setenv("QUINR_BACKENDS_PATH", str(tmp_path))


def test_billed_backends_refuse_without_a_budget_and_over_it_before_submitting(encoded, tmp_path, monkeypatch):
    _billed(tmp_path, monkeypatch)
    be = get_backend("paid")
    calls = []
    monkeypatch.setattr(be.driver, "run", lambda *a, **k: calls.append(1) or (_ for _ in ()).throw(AssertionError))
    with pytest.raises(BackendError, match="billed.*--max-cost"):
        quinr.decode_on_backend(encoded.data, be, shots=100)
    with pytest.raises(BackendError, match="exceeds --max-cost 1.00; nothing was submitted"):
        quinr.decode_on_backend(encoded.data, be, shots=100, max_cost=1.0)
    assert calls == []
    sig, report = quinr.decode_on_backend(encoded.data, "paid", shots=100, seed=1, max_cost=100.0)
    assert report.estimated_cost == pytest.approx(report.tasks * 0.3 + 256 * 100 * 0.001)
    sig2, _ = quinr.decode_on_backend(encoded.data, "paid", shots=100, seed=1, yes=True)
    assert np.array_equal(sig.data, sig2.data)


def test_the_cli_guard_is_a_one_line_refusal(encoded, tmp_path, monkeypatch, capsys):
    _billed(tmp_path, monkeypatch)
    path = tmp_path / "x.qinr"
    path.write_bytes(encoded.data)
    assert main(["decode", str(path), "-o", str(tmp_path / "o.png"), "--backend", "paid", "--shots", "10"]) == 1
    assert "--max-cost" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()


def test_crop_and_scale_decode_windows_of_the_same_signal(encoded):
    full = quinr.decode(encoded.data)
    crop = quinr.decode(encoded.data, crop=(3, 2, 5, 4))
    assert crop.shape == (4, 5, 3)
    assert np.max(np.abs(crop.data.astype(int) - full.data[2:6, 3:8].astype(int))) <= 1
    half = quinr.decode(encoded.data, scale=0.5)
    assert half.shape == (8, 8, 3)
    with pytest.raises(quinr.ConfigError, match="outside"):
        quinr.decode(encoded.data, crop=(10, 10, 10, 10))


def test_wall_time_is_estimated_on_simulators_by_default_and_on_request(tmp_path):
    enc = quinr.encode(IMG, model=quinr.ModelConfig(n_qubits=4, embed_dim=8), train=quinr.TrainConfig(steps=5))
    est = plan_budget(enc.data, "aer", shots=512)
    assert est.wall_seconds is not None and est.wall_seconds > 0
    import time

    t0 = time.perf_counter()
    quinr.decode_on_backend(enc.data, "aer", shots=512, seed=0)
    took = time.perf_counter() - t0
    assert est.wall_seconds < 20 * took + 1.0  # the right order of magnitude (timings on a shared machine vary)
    assert plan_budget(enc.data, "aer", shots=512, time_probe=False).wall_seconds is None
    assert plan_budget(enc.data, "torch.fake_torino", shots=512).wall_seconds is None  # an emulator: only on request
    assert plan_budget(enc.data, "torch.fake_torino", shots=512, time_probe=True).wall_seconds > 0
    assert plan_budget(enc.data, "ibm.torino", shots=512, max_cost=1e6).wall_seconds is None  # runs at IBM
