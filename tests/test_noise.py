"""NoiseSpec parsing and snapshots, the torch density-matrix simulator, readout confusion and
mitigation, noise-aware training."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from quinr_testutils import smooth_rgb

from quinr import encode
from quinr.backends import parse_noise as parse
from quinr.backends.calibration import from_braket_properties
from quinr.circuit import CircuitSpec
from quinr.codec import decode
from quinr.errors import BackendError, ConfigError
from quinr.hardware import decode_on_backend
from quinr.mitigation import mitigate_readout, nearest_probability
from quinr.model import ModelConfig
from quinr.noise import NoiseSpec, apply_confusion
from quinr.signal import Signal, SignalKind, psnr
from quinr.sim import probabilities
from quinr.sim.density import density_probabilities, gate_counts, noisy_probabilities
from quinr.train import TrainConfig

warnings.filterwarnings("ignore", category=DeprecationWarning)
SPEC = CircuitSpec(3, 5, 2, 1, shuffle_seed=1)


def _inputs(spec: CircuitSpec, batch: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, spec.embed_dim, generator=g) * 2 - 1, torch.rand(spec.n_theta, generator=g) * 6 - 3


# ------------------------------------------------------------------------------------ spec
def test_parse_reads_aliases_asymmetric_readout_and_none():
    s = parse("depol=0.001, p2=0.01, gamma=0.002, readout=0.02/0.05, global=0.1")
    assert (s.depolarizing, s.depolarizing2, s.damping, s.global_depolarizing) == (0.001, 0.01, 0.002, 0.1)
    assert s.readout == ((0.02, 0.05),)
    assert np.allclose(s.confusion(2)[1], [[0.98, 0.05], [0.02, 0.95]])
    assert parse("none").noiseless and parse(None).noiseless and parse("readout=0").noiseless


@pytest.mark.parametrize("text, message", [
    ("depolarising=0.1", "unknown noise parameter"),
    ("readout", "KEY=VALUE"),
    ("damping=abc", "expected a number"),
    ("depolarizing=0.9", r"must be in \[0, 0.75\]"),
    ("readout=0.6/0.5", "P\\(1\\|0\\) \\+ P\\(0\\|1\\) < 1"),
    ("device=FakeNothing", "no device snapshot"),
    ("missing.json", "cannot read noise file"),
])
def test_bad_noise_specs_get_a_clear_error(text, message):
    with pytest.raises(ConfigError, match=message):
        parse(text)


def test_ibm_snapshot_is_dated_and_overridable(tmp_path):
    snap = parse("device=FakeTorino")
    assert "2025-02-26" in snap.source and "fake_torino" in snap.source
    assert 0 < snap.depolarizing < 0.01 and 0 < snap.depolarizing2 < 0.1 and 0 < snap.damping < 0.01
    assert len(snap.readout) == 1 and 0 < snap.readout[0][0] < 0.2
    same = parse("device=aer.fake_torino,readout=0")  # through the catalogue profile, one field overridden
    assert same.depolarizing == snap.depolarizing and same.readout == ()
    path = tmp_path / "snap.json"
    path.write_text(json.dumps(snap.to_dict()))
    assert parse(str(path)) == snap


def test_braket_standardized_properties_become_a_noise_spec():
    from braket.device_schema.standardized_gate_model_qpu_device_properties_v1 import (
        StandardizedGateModelQpuDeviceProperties,
    )

    def fid(kind, value):
        return {"fidelityType": {"name": kind}, "fidelity": value}

    props = StandardizedGateModelQpuDeviceProperties.parse_obj({
        "braketSchemaHeader": {"name": "braket.device_schema.standardized_gate_model_qpu_device_properties", "version": "1"},
        "oneQubitProperties": {
            str(q): {"T1": {"value": 40.0, "standardError": 0.1, "unit": "us"},
                     "T2": {"value": 20.0, "standardError": 0.1, "unit": "us"},
                     "oneQubitFidelity": [fid("RANDOMIZED_BENCHMARKING", 0.999), fid("READOUT", 0.96)]}
            for q in range(3)
        },
        "twoQubitProperties": {
            "0-1": {"twoQubitGateFidelity": [{"direction": {"control": 0, "target": 1}, "gateName": "CZ",
                                              "fidelity": 0.99, "fidelityType": {"name": "INTERLEAVED_RANDOMIZED_BENCHMARKING"}}]},
        },
    })
    s = from_braket_properties(props, "test device")
    assert s.depolarizing == pytest.approx(1.5e-3) and s.depolarizing2 == pytest.approx(0.025)
    assert s.readout == ((pytest.approx(0.04), pytest.approx(0.04)),)
    assert s.damping == pytest.approx(1 - np.exp(-40e-9 / 40e-6))
    with pytest.raises(BackendError, match="no standardized"):
        from_braket_properties({}, "empty")


# ---------------------------------------------------------------------- density matrices
def test_density_matrix_without_noise_equals_the_statevector():
    h, theta = _inputs(SPEC, 6)
    assert torch.allclose(density_probabilities(SPEC, h, theta, NoiseSpec()), probabilities(SPEC, h, theta), atol=1e-6)


def test_density_matrix_is_differentiable():
    h, theta = _inputs(SPEC, 2, 3)
    noise = parse("depolarizing=0.05,depolarizing2=0.1,damping=0.05,readout=0.05/0.1")
    theta64 = theta.double().requires_grad_(True)
    weights = torch.arange(SPEC.n_states, dtype=torch.float32)
    (density_probabilities(SPEC, h, theta64, noise) @ weights).sum().backward()
    k, eps = 4, 1e-2
    with torch.no_grad():
        up, down = theta.clone(), theta.clone()
        up[k] += eps
        down[k] -= eps
        fd = ((density_probabilities(SPEC, h, up, noise) - density_probabilities(SPEC, h, down, noise)) @ weights).sum() / (2 * eps)
    assert abs(theta64.grad[k].item() - fd.item()) < 2e-3 * max(1.0, abs(fd.item()))
    assert theta64.grad.abs().sum() > 0


def test_global_mode_is_exact_without_gate_noise_and_counts_the_compiled_gates():
    h, theta = _inputs(SPEC, 4)
    noise = parse("global=0.2,readout=0.03/0.07")
    dm = noisy_probabilities(SPEC, h, theta, noise, "dm")
    glob = noisy_probabilities(SPEC, h, theta, noise, "global")
    assert torch.allclose(dm, glob, atol=1e-6)
    n1, n2 = gate_counts(SPEC)
    assert n2 == SPEC.reuploads * SPEC.layers * len(SPEC.pairs) and n1 == len(SPEC.gates())
    lam = parse("depolarizing=0.01").white_noise_lambda(n1, n2)
    assert lam == pytest.approx(1 - 0.99**n1)


# ------------------------------------------------------------------- confusion and mitigation
def test_confusion_matches_the_kronecker_product_in_wire_order():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(8), size=3)
    conf = parse("readout=0.1/0.2").confusion(3)
    conf[0] = [[0.7, 0.1], [0.3, 0.9]]  # wire 0 differs: the most significant bit
    full = np.kron(np.kron(conf[0], conf[1]), conf[2])
    out = apply_confusion(torch.from_numpy(p), conf).numpy()
    assert np.allclose(out, p @ full.T)
    assert np.allclose(mitigate_readout(out, conf), p)  # exact inverse on a valid distribution


def test_nearest_probability_is_the_euclidean_projection():
    rng = np.random.default_rng(1)
    q = rng.normal(0.1, 0.2, size=(50, 8))
    q /= q.sum(1, keepdims=True)
    x = nearest_probability(q)
    assert np.all(x >= 0) and np.allclose(x.sum(1), 1.0)
    for _ in range(200):  # no random distribution is closer
        y = rng.dirichlet(np.ones(8) * 0.3, size=50)
        assert np.all(((x - q) ** 2).sum(1) <= ((y - q) ** 2).sum(1) + 1e-12)
    valid = rng.dirichlet(np.ones(8), size=5)
    assert np.allclose(nearest_probability(valid), valid)


# ---------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def small_image() -> Signal:
    return Signal(smooth_rgb(10, 12, seed=3), SignalKind.U8, 0.0, 255.0)


@pytest.fixture(scope="module")
def clean_file(small_image) -> bytes:
    return encode(small_image, model=ModelConfig(n_qubits=4, embed_dim=8), train=TrainConfig(steps=80)).data


READOUT = "readout=0.05/0.12"


def test_readout_mitigation_improves_psnr_on_a_noisy_backend(small_image, clean_file):
    exact = psnr(small_image, decode(clean_file))
    noisy = psnr(small_image, decode_on_backend(clean_file, "aer.dm", shots=None, options={"noise": READOUT})[0])
    sig, report = decode_on_backend(clean_file, "aer.dm", shots=None, options={"noise": READOUT}, mitigate="readout")
    mitigated = psnr(small_image, sig)
    assert noisy < exact - 3.0  # readout error really hurts
    assert mitigated > noisy + 3.0
    assert mitigated == pytest.approx(exact, abs=0.2)  # the tensored inverse is exact here
    assert report.mitigation == "readout" and np.allclose(report.readout_confusion[0], [[0.95, 0.12], [0.05, 0.88]])
    # with shots (frequencies are not a distribution the inverse keeps positive) it still helps
    sampled = [psnr(small_image, decode_on_backend(clean_file, "torch", shots=4000, seed=7, options={"noise": READOUT},
                                                   mitigate=m)[0]) for m in (None, "readout")]
    assert sampled[1] > sampled[0] + 2.0


def test_mitigation_needs_a_known_readout_error_and_replays_exactly(clean_file, tmp_path):
    with pytest.raises(BackendError, match="knows no readout error"):
        decode_on_backend(clean_file, "aer", shots=None, mitigate="readout")
    with pytest.raises(BackendError, match="unknown mitigation"):
        decode_on_backend(clean_file, "torch", shots=None, options={"noise": READOUT}, mitigate="pec")
    rec = tmp_path / "run.npz"
    first, _ = decode_on_backend(clean_file, "torch", shots=500, seed=2, options={"noise": READOUT},
                                 mitigate="readout", record=rec)
    again, _ = decode_on_backend(clean_file, "replay", shots=500, options={"record": str(rec)}, mitigate="readout")
    assert np.array_equal(first.data, again.data)


def test_fake_device_mitigation_uses_the_calibration_of_the_laid_out_qubits(small_image, clean_file):
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    from quinr.backends import get_backend

    be = get_backend("aer.fake_manila")
    crop = (0, 0, 4, 3)
    sig, report = decode_on_backend(clean_file, be, shots=3000, seed=1, crop=crop, mitigate="readout")
    props = FakeManilaV2().properties()
    conf = np.array(report.readout_confusion)
    assert conf.shape == (4, 2, 2)
    from quinr.codec import read_bitstream

    for w, q in enumerate(be.driver._transpiled(read_bitstream(clean_file).header.model.spec).physical):
        assert conf[w][1, 0] == props.qubit_property(q)["prob_meas1_prep0"][0]
        assert conf[w][0, 1] == props.qubit_property(q)["prob_meas0_prep1"][0]
    assert sig.shape == (3, 4, 3)


def test_noise_aware_training_beats_noise_free_training_on_the_noisy_backend(small_image, clean_file):
    noise = "depolarizing=0.004,depolarizing2=0.02,readout=0.05/0.1"
    aware = encode(small_image, model=ModelConfig(n_qubits=4, embed_dim=8),
                   train=TrainConfig(steps=80, noise=noise, noise_mode="dm"))
    assert aware.noisy_psnr is not None
    results = {}
    for name, data in (("clean", clean_file), ("aware", aware.data)):
        results[name] = psnr(small_image, decode_on_backend(data, "aer.dm", shots=None, options={"noise": noise})[0])
    assert results["aware"] > results["clean"] + 3.0
    assert results["aware"] == pytest.approx(aware.noisy_psnr, abs=0.05)  # trained on the exact model of aer.dm
