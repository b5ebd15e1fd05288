"""Run records: committed records replay bit for bit, and no secret ever lands in a record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from quinr_testutils import smooth_rgb

from quinr import encode
from quinr.cli import main
from quinr.hardware import decode_on_backend, replay_record
from quinr.model import ModelConfig
from quinr.records import safe_options
from quinr.train import TrainConfig

RUNS = Path(__file__).resolve().parents[1] / "hardware_runs"
RECORDS = sorted(p.parent for p in RUNS.glob("*/manifest.json"))
REQUIRED = {"schema", "command", "quinr_version", "git_commit", "input", "backend", "emulated", "calibration_date",
            "options", "noise", "mitigation", "shots", "seed", "task_ids", "estimated_cost", "billed_cost",
            "sdk_versions", "circuits", "tasks"}


def test_there_are_committed_records_on_two_emulators_with_and_without_mitigation():
    manifests = [json.loads((r / "manifest.json").read_text()) for r in RECORDS]
    backends = {m["backend"]["name"] for m in manifests}
    assert {"aer.fake_torino", "braket.dm", "torch"} <= backends
    assert {m["mitigation"] for m in manifests} == {None, "readout", "readout+zne"}
    assert all(m["emulated"] for m in manifests)  # labelled: nothing here ran on a QPU
    for m in manifests:
        assert set(m) >= REQUIRED, sorted(REQUIRED - set(m))
    assert all((r / "reference.npy").exists() for r in RECORDS)  # replay simulates no circuit


@pytest.mark.parametrize("record", RECORDS, ids=lambda p: p.name)
def test_replay_of_every_committed_record_reproduces_its_metrics_exactly(record):
    res = replay_record(record)
    assert res["identical"], (res["recorded"], res["replayed"])


SECRETS = {
    "AWS_ACCESS_KEY_ID": "AKIAFAKEFAKEFAKE1234",
    "AWS_SECRET_ACCESS_KEY": "fakeSecretKeyDoNotLeak/0123456789abcdef",
    "AWS_SESSION_TOKEN": "FakeSessionTokenXYZ987",
    "QISKIT_IBM_TOKEN": "fake-ibm-token-abcdef123456",
    "IBM_CLOUD_API_KEY": "fake-ibm-cloud-api-key-777",
}


def test_no_secret_ever_lands_in_a_record(tmp_path, monkeypatch):
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v)
    png = tmp_path / "img.png"
    Image.fromarray(smooth_rgb(6, 6, seed=1)).save(png)
    q = tmp_path / "img.qinr"
    encode(str(png), q, model=ModelConfig(n_qubits=3, embed_dim=4), train=TrainConfig(steps=3))
    account = "crn:v1:bluemix:public:quantum-computing:us-east:a/fakeaccount0042::"
    run = tmp_path / "run"
    rc = main(["decode", str(q), "-o", str(tmp_path / "o.png"), "--backend", "aer", "--shots", "100", "--seed", "1",
               "-O", f"instance={account}", "--run-dir", str(run)])
    assert rc == 0
    files = [p for p in run.rglob("*") if p.is_file()]
    assert {"manifest.json", "results.npz", "metrics.json", "input.qinr", "decoded.png"} <= {p.name for p in files}
    for p in files:
        blob = p.read_bytes()
        for value in [*SECRETS.values(), account, "fakeaccount0042"]:
            assert value.encode() not in blob, f"{value} leaked into {p.name}"
    assert json.loads((run / "manifest.json").read_text())["options"]["instance"] == "<redacted>"
    assert replay_record(run)["identical"]


def test_option_redaction_and_cli_replay(tmp_path, capsys):
    assert safe_options({"api_token": "x", "device": "cpu", "instance": "crn"}) == {
        "api_token": "<redacted>", "device": "cpu", "instance": "<redacted>"}
    png = tmp_path / "img.png"
    Image.fromarray(smooth_rgb(6, 6, seed=2)).save(png)
    q = tmp_path / "img.qinr"
    encode(str(png), q, model=ModelConfig(n_qubits=3, embed_dim=4), train=TrainConfig(steps=3))
    decode_on_backend(str(q), "torch", shots=50, seed=3, options={"noise": "readout=0.05"}, mitigate="readout",
                      run_dir=tmp_path / "r")
    assert main(["replay", str(tmp_path / "r")]) == 0 and "identical" in capsys.readouterr().out
    (tmp_path / "r" / "metrics.json").write_text(json.dumps({"psnr_vs_exact_decode": 1.0}))
    assert main(["replay", str(tmp_path / "r")]) == 1 and "DIFFERENT" in capsys.readouterr().out


def test_replaying_a_glob_of_the_records_folder_skips_its_readme(tmp_path, capsys):
    import shutil

    from quinr.cli import main

    rec = tmp_path / "rec"
    shutil.copytree(RECORDS[0], rec)
    (tmp_path / "README.md").write_text("# records\n")
    assert main(["replay", str(rec), str(tmp_path / "README.md")]) == 0
    out = capsys.readouterr().out
    assert "README.md: skipped (a file, not a run record)" in out and f"{rec}: identical" in out
    assert main(["replay", str(tmp_path / "README.md")]) == 1  # named alone, it is an error
