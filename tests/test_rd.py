"""COIN and JPEG2000 baselines, and the resumable rate-distortion sweep."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image
from quinr_testutils import smooth_rgb

import quinr.rd as rd
from quinr.baselines import coin
from quinr.baselines.jpeg2000 import encode_float_at_bpp
from quinr.baselines.registry import CodecOption, RDCodec, int_list
from quinr.cli import main
from quinr.errors import BitstreamError, ConfigError, SignalError
from quinr.rd import RDConfig, pareto, run_rd
from quinr.signal import Signal, SignalKind

TINY = RDConfig(quinr_grid=((3, 4, 1), (4, 8, 1)), quinr_bits=(8, 16), quinr_steps=5, quinr_batch=None,
                coin_configs=("5x14",), coin_iters=20, jpeg2000_bpp=(0.5, 1.0))


@pytest.fixture
def image(tmp_path):
    p = tmp_path / "img.png"
    Image.fromarray(smooth_rgb(16, 20, seed=4)).save(p)
    return p


def test_coin_matches_the_papers_architecture_and_file():
    sig = Signal(smooth_rgb(16, 20, seed=1), SignalKind.U8, 0.0, 255.0)
    assert sum(p.numel() for p in coin.Siren(5, 20, 3).parameters()) == 1803  # COIN's 5 x 20
    res = coin.encode(sig, "5x14", iters=40)
    assert res.n_params == 927 and len(res.data) == 22 + 2 * 927  # header + fp16 weights
    assert res.bpp == 8 * len(res.data) / 320 and res.best_iter >= 20  # best of the second half
    assert np.array_equal(coin.decode(res.data).data, res.decoded.data)
    with pytest.raises(BitstreamError):
        coin.decode(res.data[:-2])
    with pytest.raises(BitstreamError):
        coin.decode(b"JUNK" + res.data[4:])
    with pytest.raises(ConfigError, match="unknown COIN"):
        coin.encode(sig, "3x3")


def test_jpeg2000_range_images_in_8_and_16_bits():
    y, x = np.mgrid[0:64, 0:128]
    ranges = (5 + 40 * (1 + np.sin(x / 9.0) * np.cos(y / 7.0)) / 2).astype(np.float32)
    sig = Signal(ranges[..., None], SignalKind.F32, 0.0, float(ranges.max()))
    r8, r16 = (encode_float_at_bpp(sig, 2.0, depth=d) for d in (8, 16))
    assert r8.decoded.kind is SignalKind.F32 and r8.decoded.shape == sig.shape
    assert r16.psnr > r8.psnr + 3  # 8-bit quantisation caps the quality at high rates
    assert r8.bpp <= 2.0 * 1.05 + 8 * 8 / sig.pixels
    with pytest.raises(SignalError):
        encode_float_at_bpp(Signal(smooth_rgb(), SignalKind.U8, 0.0, 255.0), 1.0)


def test_identical_files_are_one_point():
    pts = [{"bpp": 0.1, "psnr": 20.0}, {"bpp": 0.1, "psnr": 20.0}, {"bpp": 0.2, "psnr": 22.0}]
    assert rd._distinct(pts) == [pts[0], pts[2]]


def test_pareto_keeps_only_undominated_points():
    pts = [{"bpp": 1, "psnr": 20}, {"bpp": 2, "psnr": 19}, {"bpp": 0.5, "psnr": 18}, {"bpp": 3, "psnr": 25}]
    assert [p["bpp"] for p in pareto(pts)] == [0.5, 1, 3]


def test_sweep_writes_compressai_json_and_plot_and_resumes(image, tmp_path, monkeypatch):
    out = tmp_path / "rd"
    files = run_rd(image, out, TINY)
    assert set(files) == {"quinr", "siren", "coin", "jpeg2000", "plot"}
    q = json.loads(files["quinr"].read_text())
    assert q["name"] == "quinr" and len(q["all_points"]) == 4
    assert q["results"]["bpp"] == sorted(q["results"]["bpp"]) and len(q["results"]["psnr"]) == len(q["results"]["bpp"])
    assert q["meta"]["bpp"].startswith("8 x file bytes")
    j2k = json.loads(files["jpeg2000"].read_text())["results"]
    pairs = list(zip(j2k["bpp"], j2k["psnr"], strict=True))
    assert 1 <= len(pairs) <= 2 and len(set(pairs)) == len(pairs)  # two rates, one point per distinct file
    assert files["plot"].stat().st_size > 1000
    calls = []
    import quinr.rd as rd

    real = rd.run_task
    monkeypatch.setattr(rd, "run_task", lambda inp, task, step=None: calls.append(task.codec) or real(inp, task))
    run_rd(image, out, TINY)
    assert calls == []  # everything was finished: nothing recomputed
    victim = next((out / "points" / "coin").iterdir())
    victim.unlink()
    again = run_rd(image, out, TINY)
    assert calls == ["coin"] and json.loads(again["quinr"].read_text()) == q


def test_sweep_of_a_range_image_reports_lidar_metrics(tmp_path):
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:64, 0:1024]
    img = (10 + 5 * np.sin(x / 40.0) + y / 8.0).astype(np.float32)
    img[rng.random(img.shape) < 0.2] = 0.0  # empty pixels
    np.save(tmp_path / "ri.npy", img)
    cfg = RDConfig(codecs=("jpeg2000",), jpeg2000_bpp=(0.3, 1.0))
    files = run_rd(tmp_path / "ri.npy", tmp_path / "out", cfg, engine="local", workers=2)
    assert {"jpeg2000-8bit", "jpeg2000-16bit"} <= set(files)
    res = json.loads(files["jpeg2000-16bit"].read_text())
    assert res["meta"]["lidar"] and len(res["results"]["chamfer_m"]) == 2 and min(res["results"]["chamfer_m"]) >= 0
    assert res["meta"]["psnr_peak"] == pytest.approx(float(img.max()))


def test_engines_and_bad_settings(image, tmp_path):
    with pytest.raises(ConfigError, match="unknown engine"):
        run_rd(image, tmp_path, TINY, engine="spark")
    with pytest.raises(ConfigError, match="unknown codecs"):
        RDConfig(codecs=("bpg",))
    with pytest.raises(ConfigError, match="unknown engine"):
        run_rd(image, tmp_path, TINY, engine="dask")  # replaced by Ray (cloudpickle pins: see quinr.rd)


def test_cli_rd(image, tmp_path, capsys):
    rc = main(["rd", str(image), "--codecs", "quinr,jpeg2000", "--quinr-grid", "3:4:1", "--quinr-bits", "8,12",
               "--quinr-steps", "3", "--jpeg2000-bpp", "0.5,1", "--out", str(tmp_path / "o"), "--quiet"])
    text = capsys.readouterr().out
    assert rc == 0 and "quinr:" in text and "jpeg2000:" in text and "rd.png" in text
    assert main(["rd", str(image), "--quinr-grid", "3:4", "--out", str(tmp_path / "p"), "--quiet"]) == 1


def test_auto_bits_shrink_the_file_at_equal_psnr(image, tmp_path, capsys):
    from quinr import encode
    from quinr.model import ModelConfig
    from quinr.train import TrainConfig

    model, train = ModelConfig(n_qubits=5, embed_dim=10), TrainConfig(steps=60)
    plain = encode(str(image), model=model, train=train, bits=16)
    auto = encode(str(image), model=model, train=train, bits="auto")
    assert len(auto.data) < 0.8 * len(plain.data)
    assert auto.psnr > plain.psnr - 0.1
    assert len(set(auto.tensor_bits)) > 1 and max(auto.tensor_bits) <= 16
    rc = main(["encode", str(image), "-o", str(tmp_path / "a.qinr"), "--qubits", "4", "--embed", "8", "--steps", "5",
               "--bits", "auto:0.2", "--quiet"])
    assert rc == 0 and "bits per tensor" in capsys.readouterr().out
    assert main(["encode", str(image), "-o", str(tmp_path / "b.qinr"), "--bits", "lots", "--quiet"]) == 1


class Raw8Codec(RDCodec):
    """A codec defined outside quinr: raw 8-bit samples, its rate set by a decimation option."""

    name = "raw8"
    options = {"steps": CodecOption((1, 2), int_list, "decimation steps", "K,...", points=True)}

    def plan(self, inp, settings, seed):
        return [("raw8", {"step": k}) for k in settings["steps"]]

    def run(self, inp, params):
        from quinr.rd import metrics

        sig, k = inp.signal, params["step"]
        kept = sig.data[::k, ::k]
        back = np.repeat(np.repeat(kept, k, 0), k, 1)[: sig.grid[0], : sig.grid[1]]
        return [{"bpp": 8.0 * kept.size / sig.pixels, **metrics(inp, Signal(back, sig.kind, sig.vmin, sig.vmax))}]

    def describe(self, results, settings):
        return "raw 8-bit samples, decimated"


def test_a_new_codec_is_one_class_in_the_registry(image, tmp_path, monkeypatch, capsys):
    from quinr.baselines import registry

    monkeypatch.setitem(registry.BUILTIN, "raw8", Raw8Codec)
    rc = main(["rd", str(image), "--codecs", "raw8,jpeg2000", "--raw8-steps", "1,2,4", "--jpeg2000-bpp", "1",
               "--out", str(tmp_path / "o"), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    doc = json.loads((tmp_path / "o" / "raw8.json").read_text())
    assert doc["description"] == "raw 8-bit samples, decimated" and len(doc["results"]["bpp"]) == 3
    assert doc["results"]["psnr"][-1] == float("inf")  # step 1 keeps every sample


def test_codecs_that_cannot_encode_a_signal_are_skipped(tmp_path, capsys):
    t = np.linspace(0, 1, 200, dtype=np.float32)
    np.save(tmp_path / "tones.npy", (0.5 * np.sin(2 * np.pi * 2 * t)).astype(np.float32))
    rc = main(["rd", str(tmp_path / "tones.npy"), "--quinr-grid", "3:4:1", "--quinr-bits", "8", "--quinr-steps", "3",
               "--out", str(tmp_path / "o"), "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0 and "coin: skipped (COIN here encodes images" in out and "jpeg2000: skipped" in out
    assert json.loads((tmp_path / "o" / "quinr.json").read_text())["meta"]["pixels"] == 200


def test_serial_sweep_reports_every_training_step(image, tmp_path):
    seen: dict[str, list[tuple[int, int]]] = {}
    run_rd(image, tmp_path / "rd", TINY, step=lambda task, done, total: seen.setdefault(task.key, []).append((done, total)))
    assert seen  # quinr and COIN train; JPEG2000 does not
    for steps in seen.values():
        assert steps[-1][0] == steps[-1][1] and [d for d, _ in steps] == list(range(1, len(steps) + 1))


def test_a_folder_sweep_gives_mean_curves_and_bd_rates_against_jpeg2000(tmp_path, capsys):
    from quinr.cli import main
    from quinr.dataset import run_rd_many

    folder = tmp_path / "set"
    folder.mkdir()
    for k in range(2):
        Image.fromarray(smooth_rgb(16, 20, seed=10 + k)).save(folder / f"s{k}.png")
    cfg = RDConfig(codecs=("quinr", "jpeg2000"), quinr_grid=((3, 4, 1),), quinr_bits=(8, 16), quinr_steps=5,
                   quinr_batch=None, jpeg2000_bpp=(0.5, 1.0, 2.0, 4.0))
    out = tmp_path / "rd"
    summary = run_rd_many(sorted(folder.iterdir()), out, cfg)
    assert summary["signals"] == ["s0", "s1"] and (out / "dataset.json").exists() and (out / "dataset.png").exists()
    means = {p["setting"]["bpp"]: p for p in summary["codecs"]["jpeg2000"]["mean_points"]}
    own = []  # each signal has its own resumable sweep; a mean point is the mean of theirs
    for s in ("s0", "s1"):
        pts = [json.loads(f.read_text()) for f in (out / s / "points" / "jpeg2000").glob("*.json")]
        own.append({d["params"]["bpp"]: d["points"][0] for d in pts})
    for rate, mean in means.items():
        assert mean["psnr"] == pytest.approx((own[0][rate]["psnr"] + own[1][rate]["psnr"]) / 2)
        assert mean["bpp"] == pytest.approx((own[0][rate]["bpp"] + own[1][rate]["bpp"]) / 2)
    vs = summary["codecs"]["quinr"]["vs_anchor"]
    assert set(vs["per_signal"]) == {"s0", "s1"} and "bd_rate_of_mean_curves" in vs
    for v in vs["per_signal"].values():
        assert v["bd_psnr"] is None or math.isfinite(v["bd_psnr"])
    # the command line: resumes (nothing recomputed) and prints the dataset's curves
    assert main(["rd", str(folder), "--codecs", "quinr,jpeg2000", "--quinr-grid", "3:4:1", "--quinr-bits", "8,16",
                 "--quinr-steps", "5", "--jpeg2000-bpp", "0.5,1,2,4", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "mean dB@bpp over 2" in text and "dataset.json" in text


def test_ray_engine_runs_a_folder_sweep_on_a_local_two_worker_cluster(tmp_path):
    """The cluster engine end to end: a local Ray cluster of two CPUs, a tiny folder sweep, the
    same resumable layout and the same results as the local process pool."""
    from quinr.dataset import run_rd_many

    folder = tmp_path / "set"
    folder.mkdir()
    for k in range(2):
        Image.fromarray(smooth_rgb(12, 16, seed=20 + k)).save(folder / f"r{k}.png")
    cfg = RDConfig(codecs=("quinr", "jpeg2000"), quinr_grid=((3, 4, 1), (4, 6, 1)), quinr_bits=(8, 16),
                   quinr_steps=4, quinr_batch=None, jpeg2000_bpp=(1.0, 2.0))
    inputs = sorted(folder.iterdir())
    by_ray = run_rd_many(inputs, tmp_path / "ray", cfg, engine="ray", workers=2)
    by_pool = run_rd_many(inputs, tmp_path / "pool", cfg, engine="local", workers=2)
    for codec in ("quinr", "jpeg2000"):
        a, b = by_ray["codecs"][codec]["mean_points"], by_pool["codecs"][codec]["mean_points"]
        assert len(a) == len(b) > 0
        for p, q in zip(a, b, strict=True):
            assert p["setting"] == q["setting"] and p["psnr"] == pytest.approx(q["psnr"], abs=1e-6)
    assert len(list((tmp_path / "ray" / "r0" / "points" / "quinr").glob("*.json"))) == 2


def test_local_engine_passes_on_the_training_steps_of_its_workers(image, tmp_path):
    seen: dict[str, list[int]] = {}
    cfg = RDConfig(codecs=("quinr",), quinr_grid=((3, 4, 1), (4, 6, 1)), quinr_bits=(8,), quinr_steps=6, quinr_batch=None)
    run_rd(image, tmp_path / "rd", cfg, engine="local", workers=2,
           step=lambda task, done, total: seen.setdefault(task.key, []).append(done))
    assert len(seen) == 2 and all(steps[-1] == 6 for steps in seen.values())  # the last step always arrives
