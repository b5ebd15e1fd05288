"""Zero-noise extrapolation by gate folding, through the shared lowering: folding is the identity
on noise-free executors, multiplies the noise on noisy ones, is priced and predicted, and pays on
a noisy backend."""

from __future__ import annotations

import json
import statistics

import numpy as np
import pytest
import torch
from quinr_testutils import smooth_rgb

import quinr
from quinr.backends import get_backend
from quinr.backends.device_model import fake_device, transpile_for
from quinr.budget import plan_budget as budget
from quinr.circuit import BARRIER, CircuitSpec, gate_counts, lower
from quinr.cli import main
from quinr.errors import BackendError, ConfigError
from quinr.hardware import decode_on_backend, replay_record
from quinr.mitigation import extrapolate, scales_of, zne_weights
from quinr.signal import Signal, SignalKind, psnr
from quinr.sim import probabilities

NOISE = "depolarizing=0.004,depolarizing2=0.02"


def _inputs(spec: CircuitSpec, rows: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (rows, spec.embed_dim)), rng.uniform(-3, 3, spec.n_theta)


def test_folding_repeats_every_native_gate_with_its_inverse_between_barriers():
    spec = CircuitSpec(3, 5, shuffle_seed=1)
    one, three = lower(spec), lower(spec.folded(3))
    assert gate_counts(three) == tuple(3 * n for n in gate_counts(one))
    assert sum(op.kind == BARRIER for op in three) == 2 * sum(op.is_gate for op in one)
    first = [op for op in three if op.is_gate][:3]
    assert first[0].angle.factor == -first[1].angle.factor == first[2].angle.factor
    with pytest.raises(ConfigError, match="odd"):
        spec.folded(2)
    with pytest.raises(ConfigError, match="fold"):
        spec.folded(11)


@pytest.mark.parametrize("name", ["aer", "aer.dm", "default.qubit", "braket", "torch"])
def test_folding_is_the_identity_on_a_noise_free_backend(name):
    spec = CircuitSpec(3, 5, entangler="ring", shuffle_seed=2)
    h, theta = _inputs(spec)
    ref = probabilities(spec, torch.from_numpy(h), torch.from_numpy(theta)).numpy()
    be = get_backend(name)
    for fold in (3, 5):
        p = be.run(spec.folded(fold), h, theta, None, None, be.new_report(None))
        assert np.max(np.abs(p - ref)) < (1e-6 if name == "torch" else 1e-9)  # torch runs in float32


def test_folding_multiplies_the_noise_and_extrapolation_removes_most_of_it():
    spec = CircuitSpec(3, 5, shuffle_seed=3)
    h, theta = _inputs(spec, 6)
    exact = probabilities(spec, torch.from_numpy(h), torch.from_numpy(theta)).numpy()
    be = get_backend("torch", {"noise": NOISE})
    runs = [be.run(spec.folded(f), h, theta, None, None, be.new_report(None)) for f in scales_of("zne")]
    errors = [np.abs(r - exact).mean() for r in runs]
    assert errors[0] < errors[1] < errors[2]
    # a straight line under-corrects an exponential decay: about half the error goes
    assert np.abs(extrapolate(runs) - exact).mean() < 0.6 * errors[0]


def test_the_extrapolation_is_exact_for_a_straight_line():
    w = zne_weights((1, 3, 5))
    assert w.sum() == pytest.approx(1.0)
    assert w @ np.array([1.0, 3.0, 5.0]) == pytest.approx(0.0)
    p0 = np.array([[0.1, 0.2, 0.3, 0.4]])
    slope = np.array([[0.01, 0.02, -0.01, -0.02]])
    runs = [p0 + f * slope for f in (1, 3, 5)]
    assert np.allclose(extrapolate(runs), p0)


@pytest.mark.parametrize("device", ["FakeTorino", "FakeFez"])
def test_a_routed_circuit_is_folded_after_routing_so_every_gate_and_swap_is_tripled(device):
    """The paper's circuit needs SWAPs on a lattice: folding the transpiled circuit natively
    scales every two-qubit gate, the router's included, exactly by the folding factor, keeps
    the layout, and without the device's noise is the same circuit."""
    from dataclasses import replace

    from quinr.backends.device_model import build_program
    from quinr.sim.device import DeviceEngine

    spec = CircuitSpec(4, 8)
    dev = fake_device(device)
    base = transpile_for(dev, spec)
    assert base.isa.count_ops()["cz"] > 2 * len(spec.pairs) * spec.n_layers_total  # routed
    h, theta = (torch.from_numpy(a) for a in _inputs(spec))
    ref = probabilities(spec, h, theta).numpy()
    for fold in (3, 5):
        tr = transpile_for(dev, spec.folded(fold))
        assert tr.physical == base.physical
        assert tr.isa.count_ops()["cz"] == fold * base.isa.count_ops()["cz"]
        prog = build_program(dev, spec.folded(fold))
        clean = replace(prog, ops=tuple(op for op in prog.ops if op.kind != "channel"), confusion=None)
        assert np.max(np.abs(DeviceEngine(clean).probabilities(h, theta).numpy() - ref)) < 1e-12


def test_a_folded_placed_circuit_keeps_its_layout_and_every_folded_gate_on_the_device():
    from quinr.backends.placement import place

    spec = place(CircuitSpec(4, 8), "FakeFez", "linear")
    base = transpile_for(fake_device("FakeFez"), spec)
    folded = transpile_for(fake_device("FakeFez"), spec.folded(3))
    assert folded.physical == base.physical == spec.layout
    assert folded.isa.count_ops()["cz"] == 3 * base.isa.count_ops()["cz"]


@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("zne")
    sig = Signal(smooth_rgb(6, 6), SignalKind.U8, 0.0, 255.0)
    enc = quinr.encode(sig, model=quinr.ModelConfig(n_qubits=4, embed_dim=8), train=quinr.TrainConfig(steps=60))
    path = d / "s.qinr"
    path.write_bytes(enc.data)
    return path


def test_the_budget_prices_three_times_the_circuits_and_shots(small_file):
    plain = budget(small_file, "ibm.torino", shots=1000)
    zne = budget(small_file, "ibm.torino", shots=1000, mitigate="zne")
    assert zne.circuits == 3 * plain.circuits and zne.total_shots == 3 * plain.total_shots
    assert zne.tasks == 3 * plain.tasks and zne.cost == pytest.approx(3 * plain.cost)
    assert zne.mitigation == "zne"
    with pytest.raises(BackendError, match="knows no readout error"):
        budget(small_file, "braket", shots=1000, mitigate="readout+zne")


def test_zne_is_refused_where_a_provider_compiler_could_undo_the_folding(small_file):
    with pytest.raises(BackendError, match="merge a folded gate"):
        budget(small_file, "braket.iqm_garnet", shots=1000, mitigate="zne")
    assert budget(small_file, "braket.iqm_garnet", shots=1000, mitigate=None).circuits == 36


def test_the_decode_on_a_billed_backend_is_guarded_at_three_times_the_cost(small_file, capsys):
    one = budget(small_file, "ibm.torino", shots=1000).cost
    assert main(["decode", str(small_file), "-o", str(small_file.with_suffix(".png")), "--backend",
                 "ibm.torino", "--shots", "1000", "--mitigate", "zne", "--max-cost", f"{2 * one:.2f}"]) != 0
    err = capsys.readouterr().err
    assert f"estimated cost {3 * one:.2f}" in err and "nothing was submitted" in err


def test_zne_prediction_is_within_a_db_of_the_measured_mean(small_file, tmp_path):
    """CI-sized: on the exact device emulator, 3 seeds of 2,000 shots, with and without readout."""
    be = get_backend("torch.fake_torino")
    exact = quinr.decode(small_file)
    for mitigate in ("zne", "readout+zne"):
        measured = []
        for seed in range(3):
            out = tmp_path / f"{mitigate}{seed}.png"
            dec, rep = decode_on_backend(small_file, be, shots=2000, seed=seed, mitigate=mitigate, output=out,
                                         report_path=tmp_path / f"{mitigate}{seed}.json")
            measured.append(psnr(exact, dec))
            assert rep.circuits == 3 * 36 and rep.mitigation == mitigate
        predicted = json.loads((tmp_path / f"{mitigate}0.json").read_text())["prediction"]["predicted_psnr_vs_exact"]
        assert abs(predicted - statistics.mean(measured)) < 1.0, (mitigate, predicted, measured)


def test_zne_pays_on_a_noisy_backend_and_a_zne_run_replays_identically(small_file, tmp_path):
    exact = quinr.decode(small_file)
    plain, _ = decode_on_backend(small_file, "torch", shots=None, options={"noise": NOISE})
    zne, _ = decode_on_backend(small_file, "torch", shots=None, options={"noise": NOISE}, mitigate="zne",
                               run_dir=tmp_path / "run")
    assert psnr(exact, zne) > psnr(exact, plain) + 3.0
    assert replay_record(tmp_path / "run")["identical"]


def test_a_zne_record_replays_only_with_zne(small_file, tmp_path):
    rec = tmp_path / "z.npz"
    decode_on_backend(small_file, "torch.fake_torino", shots=300, seed=1, mitigate="zne", record=rec)
    with pytest.raises(BackendError, match="was decoded with zero-noise extrapolation"):
        decode_on_backend(small_file, "replay", shots=300, options={"record": str(rec)})
    decode_on_backend(small_file, "replay", shots=300, options={"record": str(rec)}, mitigate="zne")
    plain = tmp_path / "p.npz"
    decode_on_backend(small_file, "torch.fake_torino", shots=300, seed=1, record=plain)
    with pytest.raises(BackendError, match="was not decoded with zero-noise extrapolation"):
        decode_on_backend(small_file, "replay", shots=300, options={"record": str(plain)}, mitigate="zne")


def test_twirling_randomizations_divide_the_shots_so_none_are_added():
    from quinr.backends.ibm import twirling_randomizations

    for shots in (1, 97, 100, 1000, 2000, 4096, 4099):
        k = twirling_randomizations(shots)
        assert 1 <= k <= 32 and shots % k == 0
    assert twirling_randomizations(4096) == 32


def test_runtime_options_are_for_real_ibm_devices_only():
    get_backend("aer.fake_torino", {"twirling": "false"})  # off is off
    with pytest.raises(BackendError, match="local mode"):
        get_backend("aer.fake_torino", {"twirling": "true"})
    with pytest.raises(BackendError, match="unknown option"):
        get_backend("aer", {"dynamical_decoupling": "XY4"})
    be = get_backend("ibm.torino", {"dynamical_decoupling": "XY4", "twirling": "true"})
    src = be.driver.expectation(CircuitSpec(3, 4)).source
    assert "not modelled: the runtime's dynamical decoupling and twirling" in src
