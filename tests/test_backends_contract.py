"""The same contract for every backend whose SDK is installed: exact backends agree with the
torch simulator, sampled ones agree within five standard deviations, noisy exact emulators agree
with each other."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from quinr.backends import get_backend, load_profiles, missing_requirements
from quinr.circuit import CircuitSpec
from quinr.sim import probabilities

warnings.filterwarnings("ignore", category=DeprecationWarning)

PROFILES = load_profiles()
LOCAL = [p for p in PROFILES.values() if p.kind != "qpu" and p.driver != "replay" and not missing_requirements(p)]
EXACT = sorted(p.name for p in LOCAL if p.exact and "fake_device" not in p.options)  # device models: test_device_model
SAMPLED_NOISELESS = sorted(p.name for p in LOCAL if p.noise == "none")
SPECS = [CircuitSpec(2, 3, 2, 1, shuffle_seed=1), CircuitSpec(3, 7, 2, 2, shuffle_seed=2), CircuitSpec(5, 12, 2, 1, shuffle_seed=3)]


def _inputs(spec: CircuitSpec, batch: int, seed: int):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (batch, spec.embed_dim)), rng.uniform(-np.pi, np.pi, spec.n_theta)


def _reference(spec, h, theta):
    return probabilities(spec, torch.tensor(h).float(), torch.tensor(theta).float()).double().numpy()


def test_the_catalogue_covers_the_product_design():
    names = set(PROFILES)
    for required in ("torch", "default.qubit", "lightning.qubit", "aer", "aer.dm", "braket", "braket.dm", "replay"):
        assert required in names
    assert len([n for n in names if n.startswith("aer.fake_")]) >= 2
    assert len([p for p in PROFILES.values() if p.driver == "braket" and p.kind == "qpu"]) >= 3
    assert len([p for p in PROFILES.values() if p.name.startswith("ibm.")]) >= 1
    for p in PROFILES.values():
        if p.billed:
            assert p.pricing.date and p.pricing.source
    assert len(EXACT) >= 7  # every exact local backend is installed by the default install


@pytest.mark.parametrize("name", EXACT)
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"nq{s.n_qubits}")
def test_exact_backends_agree_with_the_torch_simulator(name, spec):
    h, theta = _inputs(spec, 5, spec.n_qubits)
    be = get_backend(name)
    report = be.new_report(None)
    p = be.run(spec, h, theta, None, None, report)
    assert np.max(np.abs(p - _reference(spec, h, theta))) < 1e-6
    assert report.circuits == 5 and report.tasks >= 1 and report.exact


@pytest.mark.parametrize("name", SAMPLED_NOISELESS)
def test_sampled_results_agree_within_five_sigma(name):
    spec, shots = SPECS[1], 4000
    h, theta = _inputs(spec, 4, 11)
    be = get_backend(name)
    p = be.run(spec, h, theta, shots, 5, be.new_report(shots))
    ref = _reference(spec, h, theta)
    sigma = np.sqrt(ref * (1 - ref) / shots)
    assert np.all(np.abs(p - ref) <= 5 * sigma + 2.0 / shots)
    assert np.allclose(p.sum(1), 1.0)
    assert np.all(np.round(p * shots) == p * shots)  # frequencies of whole counts


NOISY_EXACT = ["torch", "aer.dm", "braket.dm", "default.mixed"]
FULL_NOISE = "depolarizing=0.02,depolarizing2=0.05,damping=0.03,readout=0.04/0.09"


def test_noisy_exact_backends_agree_under_one_noise_spec():
    """One NoiseSpec (every channel kind, asymmetric readout) through four independent
    implementations: quinr's torch density matrices, Aer, Braket's engine, PennyLane default.mixed."""
    spec = SPECS[1]
    h, theta = _inputs(spec, 3, 4)
    out = {}
    for name in NOISY_EXACT:
        be = get_backend(name, {"noise": FULL_NOISE})
        out[name] = be.run(spec, h, theta, None, None, be.new_report(None))
        assert be.new_report(None).noise.startswith("depolarizing=0.02")
    for name in ("aer.dm", "braket.dm"):
        assert np.max(np.abs(out[name] - out["default.mixed"])) < 1e-9
    assert np.max(np.abs(out["torch"] - out["default.mixed"])) < 1e-6  # float32
    assert np.max(np.abs(out["aer.dm"] - _reference(spec, h, theta))) > 1e-2  # the noise is really applied
    legacy = get_backend("aer.dm", {"depolarizing": 0.02, "depolarizing2": 0.05})  # the shorthand options
    assert legacy.driver.noise.depolarizing == 0.02 and legacy.driver.noise.depolarizing2 == 0.05


def test_fake_ibm_device_runs_the_runtime_sampler_path():
    spec = CircuitSpec(3, 5, 1, 1)
    h, theta = _inputs(spec, 6, 3)
    be = get_backend("aer.fake_manila")
    report = be.new_report(2000)
    p = be.run(spec, h, theta, 2000, 1, report)
    assert np.allclose(p.sum(1), 1.0)
    assert np.max(np.abs(p - _reference(spec, h, theta))) < 0.25  # noisy, but the same circuit
    assert report.tasks == 1 and len(report.task_ids) == 1
    again = be.run(spec, h, theta, 2000, 1, be.new_report(2000))
    assert np.array_equal(p, again)  # seeded


def test_tasks_are_split_by_the_profile_limit(monkeypatch):
    import dataclasses

    be = get_backend("aer")
    be.profile = dataclasses.replace(be.profile, max_circuits_per_task=4)
    be.driver.profile = be.profile
    spec = SPECS[0]
    h, theta = _inputs(spec, 10, 0)
    report = be.new_report(None)
    p = be.run(spec, h, theta, None, None, report)
    assert report.tasks == 3 and len(report.task_ids) == 3
    assert np.max(np.abs(p - _reference(spec, h, theta))) < 1e-6


def test_braket_program_sets_translate_and_parse_locally():
    """The QPU path builds program sets; the local simulator runs them too (up to the network)."""
    from braket.devices import LocalSimulator

    from quinr.backends.braket_device import program_set_probs

    spec, shots = SPECS[1], 3000
    h, theta = _inputs(spec, 5, 8)
    driver = get_backend("braket.iqm_garnet").driver
    pset = driver.program_set(spec, h, theta, shots)
    assert pset.total_executables == 5
    result = LocalSimulator("braket_sv").run(pset).result()
    p = program_set_probs(result, spec.n_qubits)
    ref = _reference(spec, h, theta)
    assert p.shape == ref.shape
    assert np.all(np.abs(p - ref) <= 5 * np.sqrt(ref * (1 - ref) / shots) + 2.0 / shots)


@pytest.mark.parametrize("name", ["braket", "braket.dm"])
def test_braket_local_task_path_matches_the_direct_engine(name):
    """engine=tasks is LocalSimulator.run_batch (OpenQASM per task); engine=direct drives the
    same simulation engine without tasks. Both must give the same probabilities."""
    spec = SPECS[1]
    h, theta = _inputs(spec, 3, 6)
    noise = {"depolarizing": 0.03, "depolarizing2": 0.04} if name.endswith(".dm") else {}
    direct = get_backend(name, {**noise, "engine": "direct"})
    tasks = get_backend(name, {**noise, "engine": "tasks"})
    report = tasks.new_report(None)
    pd = direct.run(spec, h, theta, None, None, direct.new_report(None))
    pt = tasks.run(spec, h, theta, None, None, report)
    assert np.max(np.abs(pd - pt)) < 1e-9
    assert report.tasks == 3 and len(report.task_ids) == 3
    sampled = tasks.run(spec, h, theta, 2000, None, tasks.new_report(2000))
    assert np.allclose(sampled.sum(1), 1.0)
    assert np.all(np.abs(sampled - pt) <= 5 * np.sqrt(pt * (1 - pt) / 2000) + 1e-3)
