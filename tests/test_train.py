import math

import pytest
import torch

from quinr.errors import ConfigError
from quinr.model import ModelConfig, QuINR
from quinr.signal import coordinates
from quinr.train import StepInfo, TrainConfig, _lr_factor, fit


def _ramp(h=10, w=12):
    c = torch.from_numpy(coordinates(h, w))
    return c, ((c[:, 1:2] + 1) / 2 * 0.8 + 0.1)


def test_fitting_a_ramp_reaches_high_psnr_and_keeps_the_best_checkpoint():
    c, y = _ramp()
    net = QuINR(ModelConfig(out_features=1, n_qubits=4, embed_dim=8), seed=0)
    seen: list[StepInfo] = []
    res = fit(net, c, y, TrainConfig(steps=120), seen.append)
    assert len(seen) == 120 and seen[-1].step == 120
    assert res.best_loss == min(res.losses + [res.best_loss])
    assert 10 * math.log10(1 / res.best_loss) > 25
    with torch.no_grad():
        final = float(((net(c) - y) ** 2).mean())
    assert final == pytest.approx(res.best_loss, rel=1e-4)  # the best weights are loaded


def test_full_batch_chunking_gives_the_same_gradient_as_one_pass(monkeypatch):
    import quinr.train as train_mod

    c, y = _ramp(16, 16)
    cfg = ModelConfig(out_features=1, n_qubits=3, embed_dim=6)
    a, b = QuINR(cfg, seed=1), QuINR(cfg, seed=1)
    train_mod._full_loss(a, c, y, backward=True)
    monkeypatch.setattr(train_mod, "TRAIN_CHUNK", 7)
    train_mod._full_loss(b, c, y, backward=True)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.allclose(p.grad, q.grad, atol=1e-6)


def test_cosine_schedule_ends_at_the_final_ratio():
    cfg = TrainConfig(steps=11, final_lr_ratio=0.05)
    assert _lr_factor(cfg, 0) == pytest.approx(1.0)
    assert _lr_factor(cfg, 10) == pytest.approx(0.05)
    assert _lr_factor(TrainConfig(steps=11, schedule="constant"), 7) == 1.0


def test_default_embed_learning_rate_is_lr_over_w0():
    from quinr.train import _param_groups

    net = QuINR(ModelConfig(n_qubits=3, embed_dim=4))
    groups = _param_groups(net, TrainConfig(lr=0.3))
    assert groups[0]["lr"] == pytest.approx(0.01) and groups[2]["lr"] == 0.3
    assert groups[0]["weight_decay"] == 0.01 and groups[2]["weight_decay"] == 0.0


@pytest.mark.parametrize(
    "kwargs", [{"lr": -1.0}, {"lr": math.nan}, {"schedule": "step"}, {"batch_size": 0}, {"eval_every": 0}, {"weight_decay": -1},
               {"eval_coordinates": 0}, {"eval_coordinates": True}]
)
def test_invalid_train_configs(kwargs):
    with pytest.raises(ConfigError):
        TrainConfig(**kwargs)


def test_divergence_is_reported_not_hidden():
    c, y = _ramp()
    y = y * math.nan
    with pytest.raises(ConfigError, match="diverged"):
        fit(QuINR(ModelConfig(out_features=1, n_qubits=3, embed_dim=4)), c, y, TrainConfig(steps=2))


def test_the_default_batch_rule_is_full_batch_for_small_signals_and_4096_above():
    from quinr.train import AUTO_BATCH, AUTO_FULL_BATCH, resolve_batch

    assert TrainConfig().batch_size == "auto"
    assert resolve_batch("auto", 64) is None and resolve_batch("auto", AUTO_FULL_BATCH) is None
    assert resolve_batch("auto", AUTO_FULL_BATCH + 1) == AUTO_BATCH
    assert resolve_batch("auto", 393_216) == 4096
    assert resolve_batch(None, 393_216) is None and resolve_batch(500, 100) is None and resolve_batch(50, 100) == 50
    for bad in ("full", 0, -3, True, 2.5):  # None is full batch
        with pytest.raises(ConfigError, match="batch size must be a positive integer"):
            TrainConfig(batch_size=bad)


def test_a_time_budget_stops_training_and_ends_the_schedule():
    cfg = ModelConfig(in_features=2, out_features=1, n_qubits=3, embed_dim=4)
    coords = torch.from_numpy(coordinates(6, 6))
    values = (coords[:, :1] + 1) / 2
    seen: list[StepInfo] = []
    res = fit(QuINR(cfg, seed=0), coords, values, TrainConfig(steps=1_000_000, time_budget=0.5),
              callback=seen.append)
    assert 1 <= len(res.losses) < 1_000_000 and len(seen) == len(res.losses)
    assert seen[-1].lr < 0.5 * TrainConfig().lr  # the cosine schedule ran on time, towards its end
    assert 0 <= res.best_step <= len(res.losses)
    for bad in (0, -1.0, math.nan, math.inf):
        with pytest.raises(ConfigError, match="time_budget"):
            TrainConfig(time_budget=bad)


def test_checkpoints_are_chosen_on_a_fixed_subset_of_a_large_signal():
    """With mini-batches the best checkpoint is measured on a seeded subset (eval_coordinates):
    the same subset every time (deterministic), and the chosen weights are the subset's best."""
    c, y = _ramp(16, 20)  # 320 coordinates
    runs = []
    for _ in range(2):
        net = QuINR(ModelConfig(out_features=1, n_qubits=3, embed_dim=6), seed=0)
        res = fit(net, c, y, TrainConfig(steps=40, batch_size=32, eval_every=5, eval_coordinates=64))
        runs.append((res.best_step, res.best_loss, net))
    assert runs[0][:2] == runs[1][:2]
    full = QuINR(ModelConfig(out_features=1, n_qubits=3, embed_dim=6), seed=0)
    every = fit(full, c, y, TrainConfig(steps=40, batch_size=32, eval_every=5, eval_coordinates=None))
    with torch.no_grad():
        whole = float(((full(c) - y) ** 2).mean())
    assert every.best_loss == pytest.approx(whole, rel=1e-4)  # None: the whole signal, as before
    assert runs[0][1] != pytest.approx(every.best_loss, rel=1e-6)  # the subset is another measure


@pytest.mark.slow
def test_compiled_training_matches_eager():
    c, y = _ramp()
    out = []
    for compiled in (False, True):
        net = QuINR(ModelConfig(out_features=1, n_qubits=3, embed_dim=6), seed=0)
        out.append(fit(net, c, y, TrainConfig(steps=10, compile=compiled)).losses)
    assert max(abs(a - b) for a, b in zip(*out, strict=True)) < 1e-4


def test_restarts_keep_the_best_of_several_trainings(tmp_path, capsys):
    """``restarts=3`` trains from seeds 4, 5 and 6 and keeps the training with the lowest loss on
    the whole signal: the very file that seed alone writes, and no worse than the other two."""
    import numpy as np
    from PIL import Image
    from quinr_testutils import smooth_rgb

    from quinr import encode
    from quinr.cli import main

    png = tmp_path / "img.png"
    Image.fromarray(smooth_rgb(10, 12, seed=3)).save(png)
    net = ModelConfig(n_qubits=3, embed_dim=5)
    alone = {s: encode(str(png), model=net, train=TrainConfig(steps=30, seed=s)) for s in (4, 5, 6)}
    steps: list[int] = []
    best = encode(str(png), model=net, train=TrainConfig(steps=30, seed=4, restarts=3),
                  callback=lambda info: steps.append(info.step))
    assert best.train.seed in alone and steps == list(range(1, 91))  # progress counts on across them
    assert best.data == alone[best.train.seed].data
    assert best.psnr >= max(r.psnr for r in alone.values()) - 0.02
    assert len({r.data for r in alone.values()}) == 3  # three different trainings to choose from
    tuned, cfg = [], TrainConfig(steps=10, restarts=2, qat_steps=4)
    encode(str(png), model=net, train=cfg, bits=8, callback=lambda info: tuned.append(info.step))
    assert tuned == list(range(1, 25)) and cfg.total_steps == 24  # the fine-tuning continues the count
    assert main(["encode", str(png), "-o", str(tmp_path / "x.qinr"), "--qubits", "3", "--embed", "5",
                 "--steps", "10", "--restarts", "2", "--seed", "1"]) == 0
    assert "the best of 2 trainings, seeds 1-2" in capsys.readouterr().out
    assert main(["encode", str(png), "-o", str(tmp_path / "y.qinr"), "--restarts", "0"]) == 1
    err = capsys.readouterr().err
    assert "restarts must be an integer in [1, 64]" in err and err.count("\n") == 1
    with pytest.raises(ConfigError, match="last restart's seed"):
        TrainConfig(seed=2**32 - 1, restarts=2)
    assert np.isfinite(best.psnr)
