"""Checkpointed, resumable decoding: a decode killed half-way resumes without resubmitting."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from quinr_testutils import offline_env, smooth_rgb

import quinr.backend_evaluator as checkpoint
from quinr import encode
from quinr.backends import get_backend
from quinr.backends.taskqueue import TaskQueue
from quinr.circuit import CircuitSpec
from quinr.cli import main
from quinr.errors import BackendError, TaskFailedError
from quinr.hardware import decode_on_backend
from quinr.model import ModelConfig
from quinr.noise import NoiseSpec
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
    priced = (cat / "slowtorch.toml").read_text().replace('"slowtorch"', '"paidtorch"') + (
        '\n[pricing]\nmodel = "task+shot"\nper_task = 0.3\nper_shot = 0.001\ndate = "2026-11-24"\nsource = "test"\n')
    (cat / "paidtorch.toml").write_text(priced)
    monkeypatch.setenv("QUINR_BACKENDS_PATH", str(cat))
    png = tmp_path / "img.png"
    Image.fromarray(smooth_rgb(8, 8, seed=2)).save(png)
    q = tmp_path / "img.qinr"
    encode(str(png), q, model=ModelConfig(n_qubits=3, embed_dim=5), train=TrainConfig(steps=5))
    return tmp_path, q


def _chunks(run: Path) -> list[Path]:
    return sorted((run / "chunks").glob("*.npy"))


def _journal(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "submissions.jsonl").read_text().splitlines()]


def _key(e: dict) -> str:
    return f"c{e['call']:04d}_k{e['chunk']:06d}"


def _in_flight(run: Path) -> set[str]:
    """Chunks whose task the provider accepted and whose results are not on disk yet."""
    try:
        events = _journal(run)
    except (OSError, ValueError):
        return set()
    done = {p.stem for p in _chunks(run)}
    return {_key(e) for e in events if e["event"] == "submitted"} - done


def test_sigkilled_decode_resumes_without_resubmitting(slow_env):
    """The client dies while a task is at the (emulated) provider; the resumed decode collects
    that task by id, and the provider received exactly one task per chunk."""
    tmp, q = slow_env
    run, queue = tmp / "run", tmp / "queue"
    args = ["decode", str(q), "--backend", "paidtorch", "--shots", "300", "--seed", "3", "--max-cost", "50",
            "-O", f"queue={queue}"]
    proc = subprocess.Popen([sys.executable, "-m", "quinr.cli", *args, "-o", str(tmp / "killed.png"), "--run-dir", str(run)],
                            env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (run.exists() and _in_flight(run)):
        time.sleep(0.01)
    with pytest.raises(BackendError, match="in use by another decode"):  # a second process may not join in
        decode_on_backend(str(q), "paidtorch", shots=300, seed=3, max_cost=50, options={"queue": str(queue)}, run_dir=run)
    while time.time() < deadline and not (len(_chunks(run)) >= 3 and _in_flight(run)):
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)  # at once: a task is at the provider
    proc.wait()
    finished, flying = {p.stem for p in _chunks(run)}, _in_flight(run)
    assert proc.returncode == -signal.SIGKILL and 3 <= len(finished) < 64 // CHUNK  # really killed half-way
    assert len(flying) == 1  # ... with a task in flight

    # a finished chunk tampered with, and one holding NaN whose journal line was forged to match:
    # neither may be used; both are collected again by their task ids (nothing is resubmitted)
    tampered, poisoned = sorted(finished)[:2]
    np.save(run / "chunks" / f"{tampered}.npy", np.full_like(np.load(run / "chunks" / f"{tampered}.npy"), 1 / 64))
    nan = np.load(run / "chunks" / f"{poisoned}.npy")
    nan[0, 0] = np.nan
    np.save(run / "chunks" / f"{poisoned}.npy", nan)
    forged = hashlib.sha256((run / "chunks" / f"{poisoned}.npy").read_bytes()).hexdigest()
    lines = [json.loads(x) for x in (run / "submissions.jsonl").read_text().splitlines()]
    for e in lines:
        if e["event"] == "done" and _key(e) == poisoned:
            e["sha256"] = forged
    (run / "submissions.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))

    assert main([*args, "-o", str(tmp / "resumed.png"), "--run-dir", str(run)]) == 0
    assert main([*args[:-1], f"queue={tmp / 'queue2'}", "-o", str(tmp / "straight.png"), "--run-dir", str(tmp / "fresh")]) == 0
    resumed = np.asarray(Image.open(tmp / "resumed.png"))
    assert np.array_equal(resumed, np.asarray(Image.open(tmp / "straight.png")))

    submits = [_key(e) for e in _journal(run) if e["event"] == "submit"]
    assert sorted(submits) == sorted(set(submits)) and len(submits) == 64 // CHUNK  # no chunk submitted twice
    tasks = TaskQueue(queue).submitted()  # what the provider received
    assert sorted(TaskQueue(queue).tags(t)["quinr-chunk"] for t in tasks) == sorted(submits)
    manifest = json.loads((run / "manifest.json").read_text())
    assert sorted(manifest["task_ids"]) == tasks and manifest["tasks"] == 64 // CHUNK  # the record covers both processes
    paid = 8 * 0.3 + 64 * 300 * 0.001  # every task once, at the profile's rates
    assert manifest["estimated_cost"] == pytest.approx(paid) and manifest["billed_cost"] == pytest.approx(paid)
    assert manifest["billed_tasks"] == 64 // CHUNK
    assert len(_chunks(run)) == 64 // CHUNK
    notes = " ".join(manifest["notes"])
    assert f"chunk {tampered} on disk was not used: its sha256 differs" in notes
    assert f"chunk {poisoned} on disk was not used: it holds values that are not finite" in notes


def test_collection_failures_retry_the_same_task_and_failed_tasks_are_resubmitted(slow_env, monkeypatch):
    tmp, q = slow_env
    monkeypatch.setattr(checkpoint, "BACKOFF_S", 0.0)
    queue = tmp / "queue"
    be = get_backend("slowtorch", {"task_delay": 0.0, "queue": str(queue)})
    real = type(be.driver).collect
    faults: list[BaseException] = [ConnectionError("network blip"), TaskFailedError("task FAILED: device calibration")]

    def faulty(self, task_id, spec, theta, rows):
        if faults:
            raise faults.pop(0)
        return real(self, task_id, spec, theta, rows)

    monkeypatch.setattr(type(be.driver), "collect", faulty)
    sig, report = decode_on_backend(str(q), be, shots=100, seed=1, run_dir=tmp / "r1")
    events = [(e["event"], e.get("task_id")) for e in _journal(tmp / "r1") if e["chunk"] == 0 and e["call"] == 0]
    first, second = events[1][1], events[4][1]
    assert first != second
    assert events == [("submit", None), ("submitted", first), ("failed", first), ("submit", None),
                      ("submitted", second), ("done", None)]  # the blip re-collected, the failure resubmitted
    assert len(TaskQueue(queue).submitted()) == 64 // CHUNK + 1 == report.tasks

    faults[:] = [ConnectionError("provider unreachable")] * 3  # collection keeps failing: stop, keep the task
    with pytest.raises(BackendError, match="rerun the same command to collect it"):
        decode_on_backend(str(q), be, shots=100, seed=1, run_dir=tmp / "r2")
    before = len(TaskQueue(queue).submitted())
    again, _ = decode_on_backend(str(q), be, shots=100, seed=1, run_dir=tmp / "r2")
    assert len(TaskQueue(queue).submitted()) == before + 64 // CHUNK - 1  # chunk 0 collected, not resubmitted
    assert np.array_equal(again.data, sig.data)


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
    subs = [e for e in _journal(tmp / "r1") if e["event"] == "submit"]
    assert [s["attempt"] for s in subs if s["chunk"] == 0] == [1, 2]  # the blip was retried

    failures["left"] = 10**6  # a backend that is down: the decode stops and names the chunk
    with pytest.raises(BackendError, match="failed 3 times"):
        decode_on_backend(str(q), be, shots=100, seed=1, run_dir=tmp / "r2")
    failures["left"] = 0
    again, _ = decode_on_backend(str(q), be, shots=100, seed=1, run_dir=tmp / "r2")
    assert np.array_equal(again.data, sig.data)
    with pytest.raises(BackendError, match="different decode"):
        decode_on_backend(str(q), be, shots=200, seed=1, run_dir=tmp / "r2")


@pytest.mark.parametrize("name", ["braket.iqm_garnet", "ibm.torino"])
def test_qpu_checkpointed_decode_and_collection_stop_at_the_network_boundary(slow_env, name):
    """A QPU's tasks are collected by id; without credentials both the checkpointed decode and a
    collection stop before any network call, and the journal records no submission."""
    tmp, q = slow_env
    run = tmp / "qpu_run"
    code = textwrap.dedent(f'''
        import numpy as np
        from quinr.backends import get_backend
        from quinr.circuit import CircuitSpec
        from quinr.cli import main
        from quinr.errors import BackendError
        be = get_backend("{name}")
        assert be.driver.remote_tasks()
        spec = CircuitSpec(3, 5)
        try:
            be.collect("earlier-task-id", spec, np.zeros(spec.n_theta), 4, be.new_report(100))
        except BackendError as exc:
            print("COLLECT REFUSED:", exc)
        rc = main(["decode", "{q}", "-o", "{tmp / 'qpu.png'}", "--backend", "{name}", "--shots", "100",
                   "--max-cost", "5", "--crop", "0,0,2,2", "--run-dir", "{run}"])
        print("RC", rc)
        rc = main(["decode", "{q}", "-o", "{tmp / 'qpu.png'}", "--backend", "{name}", "--shots", "100",
                   "--max-cost", "5", "--crop", "0,0,2,2"])  # in the run cache
        print("CACHED RC", rc)
    ''')
    cache = tmp / "runcache"
    env = {**offline_env(tmp), "QUINR_CACHE_DIR": str(cache)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert "COLLECT REFUSED:" in out.stdout, out.stderr[-2000:]
    assert "RC 2" in out.stdout or "RC 1" in out.stdout, out.stdout + out.stderr[-2000:]
    assert any(w in out.stdout + out.stderr for w in ("credentials", "save_account", "account"))
    events = [e["event"] for e in _journal(run)]
    assert events == ["submit", "refused"]  # nothing reached a provider, and a rerun will not warn of a lost task
    assert not _chunks(run)
    assert "CACHED RC 1" in out.stdout and "are kept in" not in out.stdout + out.stderr
    assert not cache.exists() or not any(cache.iterdir())  # nothing was paid for: nothing is kept


@pytest.mark.parametrize("name, stop", [("braket.iqm_garnet", "no AWS credentials"),
                                          ("ibm.torino", "cannot reach IBM Quantum backend")])
def test_qpu_readout_mitigation_asks_the_device_before_submitting(tmp_path, name, stop):
    """A QPU's readout calibration comes from the device (Braket's standardized properties, IBM's
    backend properties), fetched before anything is submitted: offline, the check stops at the
    credentials."""
    code = textwrap.dedent(f'''
        from quinr.backends import get_backend
        from quinr.errors import BackendError
        be = get_backend("{name}")
        try:
            be.check_mitigation("readout")
        except BackendError as exc:
            print("STOPPED:", exc)
    ''')
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=offline_env(tmp_path), timeout=120)
    assert f"STOPPED: {stop}" in out.stdout, out.stdout + out.stderr[-2000:]


def test_the_queue_is_a_faithful_remote_device(slow_env):
    """Tasks run in the detached worker give exactly the in-process result, and a task the
    worker cannot run comes back as FAILED."""
    tmp, q = slow_env
    queue = tmp / "queue"
    direct, _ = decode_on_backend(str(q), "torch", shots=200, seed=4)
    remote, report = decode_on_backend(str(q), "torch", shots=200, seed=4, options={"queue": str(queue)})
    assert np.array_equal(direct.data, remote.data)
    assert report.task_ids == TaskQueue(queue).submitted() and report.billed_cost is None  # torch is free
    tq = TaskQueue(queue)
    spec = CircuitSpec(3, 5)
    bad = tq.submit(spec, np.zeros((2, 4)), np.zeros(spec.n_theta), 10, 0, NoiseSpec(), "dm", "cpu", 0.0, {})  # h too narrow
    with pytest.raises(TaskFailedError, match="FAILED"):
        tq.collect(bad, timeout=60)
    with pytest.raises(BackendError, match="no task"):
        tq.collect("0-unknown")


def test_a_billed_decode_without_a_run_dir_survives_sigterm_and_sigkill(slow_env):
    """A billed decode without --run-dir checkpoints in the run cache, under a name derived from the
    decode: stopped by SIGTERM it says where its paid results are; killed outright it cannot say
    anything, yet the same command run again still collects every task instead of paying again."""
    tmp, q = slow_env
    queue = tmp / "queue"
    args = [sys.executable, "-m", "quinr.cli", "decode", str(q), "-o", str(tmp / "o.png"), "--backend", "paidtorch",
            "--shots", "300", "--seed", "3", "--max-cost", "50", "-O", f"queue={queue}"]
    cache = Path(os.environ["XDG_CACHE_HOME"]) / "quinr" / "runs"
    for sig in (signal.SIGTERM, signal.SIGKILL):
        proc = subprocess.Popen(args, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 120
        while time.time() < deadline and not (cache.exists() and any(len(_chunks(r)) >= 2 for r in cache.iterdir())):
            time.sleep(0.01)
        proc.send_signal(sig)
        err = proc.communicate(timeout=120)[1]
        if sig == signal.SIGTERM:
            assert proc.returncode == 130 and "interrupted -- the results of the" in err and "rerun the same command" in err
        else:
            assert proc.returncode == -signal.SIGKILL
    paid = TaskQueue(queue).submitted()
    assert 2 <= len(paid) < 64 // CHUNK
    done = subprocess.run(args, env=dict(os.environ), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    tasks = TaskQueue(queue).submitted()
    chunks = sorted(TaskQueue(queue).tags(t)["quinr-chunk"] for t in tasks)
    assert chunks == sorted(set(chunks)) and len(chunks) == 64 // CHUNK  # every chunk paid for exactly once
    assert list(cache.iterdir()) == []  # the finished decode leaves nothing in the cache
