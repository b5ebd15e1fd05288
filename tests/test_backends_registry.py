"""Resolving names, user profiles, third-party drivers, and every refusal before a run."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from quinr_testutils import offline_env

from quinr.backends import get_backend, get_profile, load_profiles
from quinr.backends.registry import catalogue_dirs, parse_options
from quinr.budget import BudgetGuard
from quinr.circuit import CircuitSpec
from quinr.errors import BackendError, BudgetError, MissingSDKError, UnknownBackendError

SPEC = CircuitSpec(3, 4)
H = np.zeros((2, 4))
THETA = np.zeros(SPEC.n_theta)


def _profile(name: str, **extra) -> str:
    body = {
        "name": f'"{name}"', "driver": '"torch_exact"', "kind": '"simulator"', "description": '"test"',
        "exact": "true", "max_qubits": "4", "max_shots": "1000", "max_circuits_per_task": "10", "noise": '"none"',
    }
    body.update(extra)
    return "\n".join(f"{k} = {v}" for k, v in body.items()) + "\n"


def test_unknown_backend_lists_close_matches_and_every_valid_name():
    with pytest.raises(UnknownBackendError) as exc:
        get_backend("aer.fake_torin")
    msg = str(exc.value)
    assert "Did you mean aer.fake_torino" in msg
    for name in load_profiles():
        assert name in msg


def test_user_profiles_from_the_environment_path_override_and_extend(tmp_path, monkeypatch):
    (tmp_path / "mytorch.toml").write_text(_profile("mytorch"))
    (tmp_path / "aer.toml").write_text("overrides = true\n" + _profile("aer", max_qubits="2"))
    monkeypatch.setenv("QUINR_BACKENDS_PATH", str(tmp_path))
    assert tmp_path in catalogue_dirs()
    assert get_profile("mytorch").max_qubits == 4
    assert get_profile("aer").driver == "torch_exact"  # the user's file wins (it says it overrides)
    assert get_profile("aer").overrides_builtin and not get_profile("mytorch").overrides_builtin
    be = get_backend("mytorch")
    assert be.run(SPEC, H, THETA, None, None, be.new_report(None)).shape == (2, 8)


def test_user_config_directory_is_searched(tmp_path, monkeypatch):
    d = tmp_path / "quinr" / "backends"
    d.mkdir(parents=True)
    (d / "cfg.toml").write_text(_profile("cfg"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert get_profile("cfg").source == str(d / "cfg.toml")


def test_missing_sdk_names_the_pip_command(tmp_path, monkeypatch):
    (tmp_path / "needs.toml").write_text(_profile("needs", requires='["no_such_sdk_xyz"]', pip='"pip install no-such-sdk"'))
    monkeypatch.setenv("QUINR_BACKENDS_PATH", str(tmp_path))
    with pytest.raises(MissingSDKError, match="pip install no-such-sdk"):
        get_backend("needs")


@pytest.mark.parametrize(
    "content, message",
    [
        ('name = "bad"\n', "missing"),
        (_profile("bad", kind='"toaster"'), "kind"),
        (_profile("bad", colour='"red"'), "unknown keys"),
        (_profile("bad", max_qubits="0"), "max_qubits"),
        (_profile("other"), "file name"),
        (_profile("bad") + '[pricing]\nmodel = "task+shot"\nper_task = 1.0\n', "pricing.date"),
        ("not toml [", "cannot read"),
    ],
)
def test_invalid_profiles_are_refused_with_the_file_named(tmp_path, monkeypatch, content, message):
    (tmp_path / "bad.toml").write_text(content)
    monkeypatch.setenv("QUINR_BACKENDS_PATH", str(tmp_path))
    with pytest.raises(BackendError, match=message):
        load_profiles()


def test_third_party_driver_from_the_entry_point_group(tmp_path, monkeypatch):
    (tmp_path / "thirdparty_quinr.py").write_text(textwrap.dedent('''
        import numpy as np
        from quinr.backends import Driver

        class UniformDriver(Driver):
            OPTIONS = {}
            def run(self, spec, h, theta, shots, seed, report):
                report.circuits += h.shape[0]
                return np.full((h.shape[0], spec.n_states), 1.0 / spec.n_states)
    '''))
    dist = tmp_path / "thirdparty_quinr-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-quinr\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[quinr.backends]\nuniform = thirdparty_quinr:UniformDriver\n")
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "uniform.toml").write_text(_profile("uniform", driver='"uniform"'))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("QUINR_BACKENDS_PATH", str(profiles))
    be = get_backend("uniform")
    assert np.allclose(be.run(SPEC, H, THETA, None, None, be.new_report(None)), 1 / 8)


@pytest.mark.parametrize(
    "name, shots, options, message",
    [
        ("aer.fake_manila", None, {}, "cannot return exact probabilities"),
        ("torch", 0, {}, "positive"),
        ("torch", -5, {}, "positive"),
        ("aer", 10**9, {}, "at most"),
        ("aer.fake_manila", 100, {}, "5 qubits; this circuit needs 6"),
    ],
)
def test_capability_violations_are_refused_before_anything_runs(name, shots, options, message):
    be = get_backend(name, options)
    spec = CircuitSpec(6, 4) if "qubits" in message else SPEC
    with pytest.raises(BackendError, match=message):
        be.check(spec, shots)


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("aer", {"colour": "red"}, "unknown option 'colour'.*valid options: .*method"),
        ("aer", {"method": "mps"}, "statevector or density_matrix"),
        ("aer", {"depolarizing": "0.1"}, "density_matrix"),
        ("aer", {"optimization_level": "high"}, "must be of type int"),
        ("braket", {"simulator": "sv1"}, "braket_sv or braket_dm"),
        ("braket.iqm_garnet", {"device_arn": "not-an-arn"}, "not a Braket device ARN"),
        ("default.qubit", {"shots": "10"}, "unknown option"),
        # noise a backend cannot run
        ("aer", {"noise": "depolarizing=0.01"}, "density_matrix"),
        ("braket", {"noise": "readout=0.01"}, "braket_dm"),
        ("aer.fake_manila", {"noise": "readout=0.01"}, "its own noise"),
        ("aer.dm", {"noise": "global=0.1"}, "torch simulator"),
        ("aer.dm", {"noise": "depolarizing=7"}, "must be in"),
        ("torch", {"noise_mode": "fast"}, "noise_mode"),
    ],
)
def test_bad_options_are_refused_when_the_backend_is_built(name, options, message):
    with pytest.raises(BackendError, match=message):
        get_backend(name, options)


def test_parse_options():
    assert parse_options(["a=1", "b = x=y"]) == {"a": "1", "b": "x=y"}
    with pytest.raises(BackendError, match="key=value"):
        parse_options(["novalue"])


@pytest.mark.parametrize("name", ["braket.iqm_garnet", "ibm.torino"])
def test_remote_qpus_fail_fast_without_credentials(tmp_path, name):
    code = textwrap.dedent(f'''
        import numpy as np
        from quinr.backends import get_backend
        from quinr.circuit import CircuitSpec
        from quinr.budget import BudgetGuard
        from quinr.errors import BackendError
        spec = CircuitSpec(3, 4)
        be = get_backend("{name}")
        be.guard = BudgetGuard(be, [2], 100, max_cost=5.0)  # a billed backend runs only under a budget guard
        try:
            be.run(spec, np.zeros((2, 4)), np.zeros(spec.n_theta), 100, None, be.new_report(100))
        except BackendError as exc:
            print("REFUSED:", exc)
    ''')
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=offline_env(tmp_path), timeout=120)
    assert "REFUSED:" in out.stdout, out.stderr[-2000:]
    assert "credentials" in out.stdout or "account" in out.stdout or "save_account" in out.stdout
    assert time.perf_counter() - t0 < 60


def test_pricing_estimates_follow_the_profiles():
    garnet = get_profile("braket.iqm_garnet").pricing
    assert garnet.estimate(circuits=4096, shots=1000, tasks=41) == pytest.approx(41 * 0.30 + 4096 * 1000 * 0.00145)
    ibm = get_profile("ibm.torino").pricing
    assert ibm.device_seconds(4096, 1000, 2) == pytest.approx(2 * 2.0 + 4096 * 1000 * 0.00035)
    assert ibm.estimate(4096, 1000, 2) == pytest.approx(1.60 * (4.0 + 4096 * 1000 * 0.00035))
    assert get_profile("aer").pricing.estimate(10, 10, 1) == 0.0
    assert garnet.billed and not get_profile("aer").billed


def test_billed_cost_prices_the_usage_providers_report():
    from quinr.backends.braket_device import braket_usage

    garnet = get_profile("braket.iqm_garnet").pricing
    meta = {"status": "COMPLETED", "shots": 1000, "numSuccessfulShots": 64000, "actionMetadata": {"executableCount": 64}}
    assert braket_usage(meta) == {"tasks": 1, "shots": 64000}
    assert garnet.bill(braket_usage(meta)) == pytest.approx(0.30 + 64000 * 0.00145)
    assert braket_usage({**meta, "status": "FAILED"}) == {} and braket_usage({"status": "COMPLETED"}) == {}
    ibm = get_profile("ibm.torino").pricing
    assert ibm.bill({"seconds": 12.5}) == pytest.approx(12.5 * 1.60)
    assert ibm.bill({"tasks": 1, "shots": 100}) == 0.0  # usage of the wrong kind is not guessed at
    assert get_profile("aer").pricing.bill({"tasks": 1, "shots": 100}) == 0.0


def test_the_guard_counts_what_the_provider_reports_it_billed(tmp_path, monkeypatch):
    """Per-second pricing is an estimate until the provider reports the seconds it billed: a task
    that cost more than its charge counts what it cost, so the budget stops the decode sooner; a
    report of less frees nothing, and one that cannot be priced stops it."""
    pricing = ('\n[pricing]\nmodel = "per-second"\nper_second = 1.6\nseconds_per_task = 2.0\n'
               'seconds_per_execution = 0.00035\ndate = "2026-11-01"\nsource = "test"\n')
    (tmp_path / "persec.toml").write_text(_profile("persec", max_circuits_per_task="4") + pricing)
    monkeypatch.setenv("QUINR_BACKENDS_PATH", str(tmp_path))
    be = get_backend("persec")
    per_task = be.profile.pricing.estimate(4, 100, 1)  # 1.6 * (2 + 4 * 100 * 0.00035)
    over = 2.0 + 1.2 / 1.6 + 0.14  # the first task billed 1.2 more than its charge: past the budget's slack of 1.0
    for usage, runs in (({"seconds": 2.0}, 3), ({"tasks": 1, "shots": 400}, 3), ({"seconds": over}, 2),
                        ({"seconds": float("nan")}, 1)):
        guard = BudgetGuard(be, [4, 4, 4], 100, max_cost=3 * per_task + 1.0)
        guard.charge(4)
        guard.reconcile(4, usage)
        for _ in range(runs - 1):
            guard.charge(4)
        if runs < 3:
            with pytest.raises(BudgetError, match="provider reported billing .* more than estimated"):
                guard.charge(4)
        else:
            assert guard.spent == pytest.approx(3 * per_task)  # less than charged frees nothing


def test_a_run_on_a_billed_profile_reports_its_estimated_cost(tmp_path, monkeypatch):
    pricing = '\n[pricing]\nmodel = "task+shot"\nper_task = 0.3\nper_shot = 0.001\ndate = "2026-11-01"\nsource = "test"\n'
    (tmp_path / "paid.toml").write_text(_profile("paid", max_circuits_per_task="4") + pricing)
    monkeypatch.setenv("QUINR_BACKENDS_PATH", str(tmp_path))
    be = get_backend("paid")
    assert be.profile.billed
    report = be.new_report(100)
    with pytest.raises(BudgetError, match="billed"):  # a billed backend runs nothing without a budget guard
        be.run(SPEC, np.zeros((3, 4)), THETA, 100, 1, report)
    be.guard = BudgetGuard(be, [3], 100, max_cost=1.0)
    be.run(SPEC, np.zeros((3, 4)), THETA, 100, 1, report)
    assert report.circuits == 3 and report.tasks == 1
    assert report.estimated_cost == pytest.approx(0.3 + 3 * 100 * 0.001)
    assert report.to_dict()["pricing"].startswith("0.3/task + 0.001/shot USD")


def test_the_documented_driver_is_one_file_and_one_profile(tmp_path, monkeypatch, capsys):
    """docs/backends.md's worked example, taken from the page itself: a new SDK driver is one
    driver file and one profile, and passes the contract against the torch simulator."""
    import re

    from quinr.cli import main
    from quinr.sim import probabilities

    doc = (Path(__file__).resolve().parents[1] / "docs" / "backends.md").read_text()
    section = doc[doc.index("## Adding an SDK driver"):doc.index("## Third-party drivers")]
    code, toml = re.findall(r"```python\n(.*?)```", section, re.S)[0], re.findall(r"```toml\n(.*?)```", section, re.S)[0]
    (tmp_path / "quinr_statevector.py").write_text(code)
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "qiskit.statevector.toml").write_text(toml)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("QUINR_BACKENDS_PATH", str(tmp_path / "profiles"))
    be = get_backend("qiskit.statevector")
    spec = CircuitSpec(3, 7, 2, 2, shuffle_seed=2)
    rng = np.random.default_rng(1)
    h, theta = rng.uniform(-1, 1, (4, 7)), rng.uniform(-np.pi, np.pi, spec.n_theta)
    p = be.run(spec, h, theta, None, None, be.new_report(None))
    ref = probabilities(spec, torch.tensor(h).float(), torch.tensor(theta).float()).double().numpy()
    assert np.max(np.abs(p - ref)) < 1e-6
    assert main(["backends", "qiskit.statevector"]) == 0 and "atol" in capsys.readouterr().out
    with pytest.raises(BackendError, match="must be <= 1e-06"):
        get_backend("qiskit.statevector", {"atol": "0.5"})
