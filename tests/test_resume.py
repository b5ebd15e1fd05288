"""Checkpointed, resumable decoding: a decode killed half-way resumes without resubmitting."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from quinr_testutils import smooth_rgb

import quinr.backends.checkpoint as checkpoint
from quinr import encode
from quinr.backends import get_backend
from quinr.cli import main
from quinr.codec import decode_on_backend
from quinr.errors import BackendError
from quinr.model import ModelConfig
from quinr.train import TrainConfig

CHUNK = 8


@pytest.fixture
def slow_env(tmp_path, monkeypatch):
    """A catalogue entry 'slowtorch': the torch sampler, 8 circuits a task, 0.25 s a task."""
    cat = tmp_path / "catalogue"
    cat.mkdir()
    (cat / "slowtorch.toml").write_text(
        'name = "slowtorch"\ndriver = "torch_exact"\nkind = "simulator"\n'
        'description = "torch, slowed per task (resume drills)"\nexact = true\nmax_qubits = 20\n'
        f'max_shots = 1000000\nmax_circuits_per_task = {CHUNK}\nnoise = "none"\n\n'
        '[options]\ntask_delay = 0.25\n'
    )
    monkeypatch.setenv("QUINR_BACKENDS_PATH", str(cat))
    png = tmp_path / "img.png"
    Image.fromarray(smooth_rgb(8, 8, seed=2)).save(png)
    q = tmp_path / "img.qinr"
    encode(str(png), q, model=ModelConfig(n_qubits=3, embed_dim=5), train=TrainConfig(steps=5))
    return tmp_path, q


def _chunks(run: Path) -> list[Path]:
    return sorted((run / "chunks").glob("*.npy"))


def test_sigkilled_decode_resumes_without_resubmitting(slow_env):
    tmp, q = slow_env
    run = tmp / "run"
    cmd = [sys.executable, "-m", "quinr.cli", "decode", str(q), "-o", str(tmp / "killed.png"), "--backend", "slowtorch",
           "--shots", "300", "--seed", "3", "--run-dir", str(run)]
    proc = subprocess.Popen(cmd, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and (not run.exists() or len(_chunks(run)) < 3):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {p.stem for p in _chunks(run)}
    assert proc.returncode == -signal.SIGKILL and 3 <= len(finished) < 64 // CHUNK  # really killed half-way
    assert main(["decode", str(q), "-o", str(tmp / "resumed.png"), "--backend", "slowtorch", "--shots", "300",
                 "--seed", "3", "--run-dir", str(run)]) == 0
    assert main(["decode", str(q), "-o", str(tmp / "straight.png"), "--backend", "slowtorch", "--shots", "300",
                 "--seed", "3", "--run-dir", str(tmp / "fresh")]) == 0
    resumed = np.asarray(Image.open(tmp / "resumed.png"))
    assert np.array_equal(resumed, np.asarray(Image.open(tmp / "straight.png")))
    subs = [json.loads(line) for line in (run / "submissions.jsonl").read_text().splitlines()]
    keys = [f"c{s['call']:04d}_k{s['chunk']:06d}" for s in subs]
    assert all(keys.count(k) == 1 for k in finished)  # nothing finished before the kill was submitted again
    assert len(set(keys)) == 64 // CHUNK and len(keys) - len(set(keys)) <= 1  # at most the chunk in flight
    assert len(_chunks(run)) == 64 // CHUNK


def test_failing_chunks_are_retried_then_reported_and_resumed(slow_env, monkeypatch):
    tmp, q = slow_env
    monkeypatch.setattr(checkpoint, "BACKOFF_S", 0.0)
    be = get_backend("slowtorch", {"task_delay": 0.0})
    real = type(be).run
    failures = {"left": 1}

    def flaky(self, spec, h, theta, shots, seed, report):
        if failures["left"] > 0:
            failures["left"] -= 1
            raise ConnectionError("network blip")
        return real(self, spec, h, theta, shots, seed, report)

    monkeypatch.setattr(type(be), "run", flaky)
    sig, _ = decode_on_backend(str(q), be, shots=100, seed=1, run_dir=tmp / "r1")
    subs = [json.loads(line) for line in (tmp / "r1" / "submissions.jsonl").read_text().splitlines()]
    assert [s["attempt"] for s in subs if s["chunk"] == 0] == [1, 2]  # the blip was retried

    failures["left"] = 10**6  # a backend that is down: the decode stops and names the chunk
    with pytest.raises(BackendError, match="failed 3 times"):
        decode_on_backend(str(q), be, shots=100, seed=1, run_dir=tmp / "r2")
    failures["left"] = 0
    again, _ = decode_on_backend(str(q), be, shots=100, seed=1, run_dir=tmp / "r2")
    assert np.array_equal(again.data, sig.data)
    with pytest.raises(BackendError, match="different decode"):
        decode_on_backend(str(q), be, shots=200, seed=1, run_dir=tmp / "r2")
