"""``quinr search``: a budgeted search, its frontier, its resume, and the rate-control table it
writes for ``encode --rate-table``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from quinr_testutils import smooth_rgb

from quinr.cli import main
from quinr.errors import ConfigError
from quinr.rate import encode_to, load_table
from quinr.search import candidates, search, write_table
from quinr.signal import Signal, SignalKind
from quinr.train import TrainConfig

NETS = ((2, 4, 1), (3, 6, 2))
LADDER = (0.8,)  # one budget besides the auto file: the tests stay quick


def _signal() -> Signal:
    return Signal(smooth_rgb(12, 16, seed=5), SignalKind.U8, 0, 255)


def test_search_measures_each_network_and_its_frontier_is_pareto(tmp_path):
    sig = _signal()
    out = tmp_path / "s.jsonl"
    seen = []
    res = search(sig, candidates(NETS, steps=25), 600, out, on_candidate=lambda k, i, n: seen.append((k, i, n)),
                 ladder=(0.7, 1.2))
    assert [r["candidate"] for r in res.rows] == ["2:4:1:1:1@25", "3:6:2:1:1@25"]  # smallest first
    assert seen[-1] == ("", 2, 2) and not res.skipped
    for r in res.rows:
        written = [f for f in r["files"] if "bytes" in f]
        assert written and written[0]["rule"] == "auto"
        for f in written[1:]:  # every ladder file fits its budget
            assert f["bytes"] <= int(f["rule"].split(":")[1])
    front = res.frontier()
    assert front and all(a.n_bytes < b.n_bytes and a.psnr < b.psnr for a, b in zip(front, front[1:], strict=False))
    for p in res.points:  # nothing off the frontier beats it
        assert not any(q.n_bytes <= p.n_bytes and q.psnr < p.psnr for q in front if q == p)
        assert any(q.n_bytes <= p.n_bytes and q.psnr >= p.psnr for q in front)
    lines = out.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["candidate"] == "2:4:1:1:1@25"


def test_a_rerun_resumes_and_another_signal_is_refused(tmp_path):
    sig = _signal()
    out = tmp_path / "s.jsonl"
    first = search(sig, candidates(NETS[:1], steps=15), 600, out, ladder=LADDER)
    again = search(sig, candidates(NETS, steps=15), 600, out, ladder=LADDER)
    assert again.rows[0] == first.rows[0]  # kept, not retrained
    assert len(again.rows) == 2
    other = Signal(smooth_rgb(12, 16, seed=6), SignalKind.U8, 0, 255)
    with pytest.raises(ConfigError, match="another signal"):
        search(other, candidates(NETS, steps=15), 600, out, ladder=LADDER)
    out.write_text("not json\n")
    with pytest.raises(ConfigError, match="line 1"):
        search(sig, candidates(NETS, steps=15), 600, out, ladder=LADDER)


def test_several_seeds_train_each_network_from_each_and_the_frontier_takes_the_best(tmp_path):
    """``--seed 0,3``: every network trained from each seed, under its own key (a seed-3 rerun
    does not reuse seed 0's results); the frontier is the best file at every rate over both,
    which is what an encoder that restarts from those seeds would write."""
    sig = _signal()
    out = tmp_path / "s.jsonl"
    search(sig, candidates(NETS[:1], steps=20), 600, out, ladder=LADDER)
    res = search(sig, candidates(NETS[:1], steps=20, seeds=(0, 3, 3)), 600, out, ladder=LADDER)
    assert [(r["candidate"], r["seed"]) for r in res.rows] == [("2:4:1:1:1@20", 0), ("2:4:1:1:1@20/s3", 3)]
    a, b = ({f["rule"]: f["psnr"] for f in r["files"] if "bytes" in f} for r in res.rows)
    assert a != b  # really another initialisation
    best = max(a["auto"], b["auto"])
    assert max(p.psnr for p in res.frontier()) >= best
    with pytest.raises(ConfigError, match="seed"):
        candidates(NETS, seeds=())
    with pytest.raises(ConfigError, match="seed"):
        candidates(NETS, seeds=(-1,))


def test_a_network_that_does_not_fit_the_budget_is_skipped_with_its_estimate():
    res = search(_signal(), candidates(NETS, steps=100000), 1.0)
    assert not res.rows
    assert [k for k, _ in res.skipped] == ["2:4:1:1:1@100000", "3:6:2:1:1@100000"]
    assert all("needs about" in why for _, why in res.skipped)
    for bad in (0, -1, float("inf"), float("nan")):
        with pytest.raises(ConfigError, match="time budget"):
            search(_signal(), candidates(NETS), bad)
    with pytest.raises(ConfigError, match="ladder"):
        search(_signal(), candidates(NETS), 10, ladder=(0.5, -1.0))
    with pytest.raises(ConfigError, match="NQ:M:R"):
        candidates(((2, 4),))
    with pytest.raises(ConfigError, match="steps"):
        candidates(NETS, steps=0)


def test_the_estimate_separates_a_trainings_fixed_cost_from_its_steps(monkeypatch):
    """A training that costs a fixed 0.3 s (set-up, final measurement) plus 0.01 s a step: the
    estimate of 200 steps is near 0.3 + 2 s, not the 3-step probe's time spread over 200 steps
    (0.11 s a step: 22 s), which is how the estimate overshot 3-4x."""
    import time

    import quinr.search as S

    def fake_fit(net, coords, values, cfg, callback=None):
        time.sleep(0.3 + 0.01 * cfg.steps)

    monkeypatch.setattr(S, "fit", fake_fit)
    cand = candidates(NETS[:1], steps=200)[0]
    est = S.estimate_seconds(_signal(), cand, ladder=(0.8,))
    assert 2.0 < est < 4.0, est


def test_the_table_drives_rate_control_and_is_checked(tmp_path):
    sig = _signal()
    res = search(sig, candidates(NETS, steps=25), 600, ladder=(1.2,))  # two files of each network
    path = tmp_path / "table.json"
    table = write_table(res, sig, path)
    assert table["kind"] == "image" and len(table["presets"]) == 2
    presets = load_table(path, sig)
    assert [p.network for p in presets] == [(2, 4, 1, 1, 1), (3, 6, 2, 1, 1)]
    budget = max(f["bytes"] for r in res.rows for f in r["files"] if "bytes" in f)
    r = encode_to(sig, max_bytes=budget, presets=presets, train=TrainConfig(steps=20))
    assert r.preset in presets and len(r.result.data) <= budget
    rng = Signal(np.random.default_rng(0).random((8, 8, 1)).astype(np.float32), SignalKind.F32, 0.0, 1.0)
    with pytest.raises(ConfigError, match="measured on a image"):
        load_table(path, rng)
    for bad in ('{"format": "other"}', "[1, 2", json.dumps({**table, "presets": [{"network": [2, 4], "curve": []}]})):
        path.write_text(bad)
        with pytest.raises(ConfigError, match="table"):
            load_table(path)


def test_the_command_writes_results_and_table_and_encode_uses_it(tmp_path, capsys):
    src = tmp_path / "img.png"
    Image.fromarray(smooth_rgb(12, 16, seed=5)).save(src)
    out, table = tmp_path / "r.jsonl", tmp_path / "t.json"
    code = main(["search", str(src), "--minutes", "5", "--networks", "2:4:1,3:6:2", "--steps", "20",
                 "--ladder", "0.8", "--out", str(out), "--table", str(table), "--json", "--quiet"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["networks"]) == 2 and report["frontier"] and report["table"] == str(table)
    budget = report["frontier"][-1]["bytes"]
    code = main(["encode", str(src), "-o", str(tmp_path / "x.qinr"), "--max-bytes", str(budget), "--steps", "20",
                 "--rate-table", str(table), "--json", "--quiet"])
    assert code == 0
    enc = json.loads(capsys.readouterr().out)
    assert enc["bytes"] <= budget and "rate-control table" in enc["rate_control"]["network"]
    assert main(["encode", str(src), "-o", str(tmp_path / "y.qinr"), "--rate-table", str(table)]) == 1
    assert "--rate-table" in capsys.readouterr().err
    assert main(["search", str(src), "--minutes", "1", "--networks", "2:x:1"]) == 1
    assert "NQ:M:R" in capsys.readouterr().err
    # one network asked, resumed from the results; the other row of the file is counted apart
    assert main(["search", str(src), "--minutes", "5", "--networks", "2:4:1", "--steps", "20", "--ladder", "0.8",
                 "--out", str(out), "--quiet"]) == 0
    said = capsys.readouterr().out
    assert "searched 1 of 1 networks" in said and "also counts 1 from earlier runs" in said


def test_candidate_init_freq_is_in_its_key_and_training():
    """A search with its own first-layer bounds keeps its results apart from the default's
    (whose keys stay as they were, so older results files resume) and trains with them."""
    plain, wide = candidates(((4, 6, 2),)), candidates(((4, 6, 2),), init_freq=(3.0, 12.0))
    assert plain[0].key == "4:6:2:1:1@1000" and wide[0].key == "4:6:2:1:1@1000/f3,12"
    assert wide[0].train().init_freq == (3.0, 12.0) and plain[0].train().init_freq == 3.0
    with pytest.raises(ConfigError, match="init_freq"):
        candidates(((4, 6, 2),), init_freq=(0.0, 1.0))


def test_candidate_lr_is_in_its_key_and_training():
    """A search at another learning rate keeps its results apart from the default's, trains at
    it, and refuses a rate that is not a positive number before anything runs."""
    plain, fast = candidates(((4, 6, 2),)), candidates(((4, 6, 2),), init_freq=(3.0, 12.0), lr=0.2)
    assert plain[0].key == "4:6:2:1:1@1000" and fast[0].key == "4:6:2:1:1@1000/f3,12/lr0.2"
    assert fast[0].train().lr == 0.2 and plain[0].train().lr == 0.1
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ConfigError, match="lr must be positive"):
            candidates(((4, 6, 2),), lr=bad)


def test_cli_init_freq(tmp_path, capsys):
    img = tmp_path / "img.png"
    Image.fromarray(smooth_rgb(6, 8, seed=2)).save(img)
    q = tmp_path / "x.qinr"
    net = ["--qubits", "2", "--embed", "2", "--reuploads", "1", "--steps", "3", "--quiet"]
    assert main(["encode", str(img), "-o", str(q), *net, "--init-freq", "2,5"]) == 0 and q.exists()
    assert main(["encode", str(img), "-o", str(tmp_path / "y.qinr"), *net, "--init-freq", "2,5,1"]) == 1
    err = capsys.readouterr().err
    assert "init_freq gives 3 bounds for a signal of 2 coordinate axes" in err and "Traceback" not in err
    with pytest.raises(SystemExit):
        main(["encode", str(img), "-o", str(q), *net, "--init-freq", "fast"])
