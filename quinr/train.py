"""Per-signal fitting: MSE, AdamW, a learning-rate schedule, best-checkpoint keeping.

Full-batch steps are evaluated in chunks of coordinates whose gradients are accumulated, so memory
stays bounded for any image size while the step is still an exact full-batch step. With
``batch_size`` set, each step samples that many coordinates (seeded), and the full-image loss is
measured every ``eval_every`` steps to pick the best checkpoint.

Determinism: the model initialisation and the mini-batch sampling use their own seeded
generators, so the same inputs and seed give the same weights (and the same bitstream) on the
same machine and thread count.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .checks import check_seed
from .errors import ConfigError
from .model import Evaluator, QuINR
from .noise import NoiseSpec, names_device
from .noise import parse as parse_noise
from .sim.density import NOISE_MODES, noisy_evaluator
from .sim.device import DeviceModel

#: Coordinates per forward/backward chunk inside one full-batch step.
TRAIN_CHUNK = 1 << 15


@dataclass(frozen=True)
class TrainConfig:
    """Settings of the fitting loop.

    Args:
        steps: optimizer steps.
        lr: AdamW learning rate of the circuit angles and the output affine (paper: 1e-1).
        lr_embed: learning rate of the sine input layer(s); ``None`` uses ``lr / w0``, because
            the layer's weights are multiplied by w0 (= 30) before the sine.
        weight_decay: AdamW decoupled weight decay, applied to the input-layer weights only
            (decaying angles, biases or the output gain has no meaning for this model).
        schedule: "cosine" (to ``lr * final_lr_ratio``) or "constant".
        final_lr_ratio: end of the cosine schedule as a fraction of the start.
        batch_size: coordinates per step; ``None`` = all of them (full batch).
        eval_every: with mini-batches, measure the full-image loss this often for the best
            checkpoint (and at the last step).
        seed: seed of the initialisation and of mini-batch sampling.
        init_freq: initial first-layer frequency bound, radians per unit coordinate.
        gain_init: output-affine initialisation, "offset" or "gain" (see ``QuINR``).
        device: torch device ("cpu", "cuda", "cuda:1", ...).
        noise: train noise-aware: the model is fitted through this :class:`quinr.noise.NoiseSpec`
            (or its text form), so its output affine and angles compensate the noise of the
            backend it will be decoded on. ``None``: noise-free training.
        noise_mode: how the noise is simulated while training: "global" (the white-noise
            approximation on the fast statevector simulator, exact for readout and global
            depolarizing; default) or "dm" (exact density matrices; memory grows as
            batch x 4^Nq x gates, so small Nq and batches only).
    """

    steps: int = 500
    lr: float = 0.1
    lr_embed: float | None = None
    weight_decay: float = 0.01
    schedule: str = "cosine"
    final_lr_ratio: float = 0.01
    batch_size: int | None = None
    eval_every: int = 25
    seed: int = 0
    init_freq: float = 3.0
    gain_init: str = "offset"
    device: str = "cpu"
    noise: NoiseSpec | DeviceModel | str | None = None
    noise_mode: str = "global"

    def __post_init__(self) -> None:
        if isinstance(self.noise, DeviceModel):
            pass
        elif not (isinstance(self.noise, str) and names_device(self.noise)):  # device=NAME: resolved by the codec
            object.__setattr__(self, "noise", None if self.noise is None else parse_noise(self.noise))
            if self.noise is not None and self.noise.noiseless:
                object.__setattr__(self, "noise", None)
        if self.noise_mode not in NOISE_MODES:
            raise ConfigError(f"noise_mode must be one of {NOISE_MODES}, got {self.noise_mode!r}")
        if not isinstance(self.steps, int) or self.steps < 1:
            raise ConfigError(f"steps must be a positive integer, got {self.steps!r}")
        for name in ("lr", "lr_embed"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and v > 0):
                raise ConfigError(f"{name} must be positive, got {v!r}")
        if self.weight_decay < 0:
            raise ConfigError("weight_decay must be >= 0")
        if self.schedule not in ("cosine", "constant"):
            raise ConfigError(f"schedule must be 'cosine' or 'constant', got {self.schedule!r}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigError("batch_size must be positive")
        if self.eval_every < 1:
            raise ConfigError("eval_every must be positive")
        check_seed(self.seed)


@dataclass
class StepInfo:
    """What a progress callback receives after every step."""

    step: int
    loss: float
    best_loss: float
    lr: float


@dataclass
class TrainResult:
    best_loss: float
    best_step: int
    losses: list[float] = field(default_factory=list)


def resolve_device(name: str) -> torch.device:
    """A torch device, with a clear error when CUDA is asked for but absent."""
    try:
        dev = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"unknown device {name!r}: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available on this machine")
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"device {name!r}: only cpu and cuda are supported")
    return dev


def _param_groups(model: QuINR, cfg: TrainConfig) -> list[dict]:
    embed_w = [b.weight for b in model.blocks]
    embed_b = [b.bias for b in model.blocks]
    quantum = [b.theta for b in model.blocks] + [model.scale, model.offset]
    lr_embed = cfg.lr / model.cfg.w0 if cfg.lr_embed is None else cfg.lr_embed
    return [
        {"params": embed_w, "lr": lr_embed, "weight_decay": cfg.weight_decay},
        {"params": embed_b, "lr": lr_embed, "weight_decay": 0.0},
        {"params": quantum, "lr": cfg.lr, "weight_decay": 0.0},
    ]


def train_evaluator(cfg: TrainConfig) -> Evaluator | None:
    """The evaluator training runs through: exact, or noisy for noise-aware training."""
    if cfg.noise is None or isinstance(cfg.noise, DeviceModel):  # a device model is an evaluator
        return cfg.noise
    return noisy_evaluator(parse_noise(cfg.noise), cfg.noise_mode)


def _full_loss(model: QuINR, coords: torch.Tensor, values: torch.Tensor, backward: bool,
               evaluator: Evaluator | None = None) -> float:
    """Mean squared error over all coordinates, chunked; accumulates gradients if asked."""
    total = values.numel()
    acc = 0.0
    for i in range(0, coords.shape[0], TRAIN_CHUNK):
        with torch.set_grad_enabled(backward):
            pred = model(coords[i : i + TRAIN_CHUNK], evaluator)
            part = (pred - values[i : i + TRAIN_CHUNK]).square().sum() / total
        if backward:
            part.backward()
        acc += float(part.detach())
    return acc


def fit(
    model: QuINR,
    coords: torch.Tensor,
    values: torch.Tensor,
    cfg: TrainConfig,
    callback: Callable[[StepInfo], None] | None = None,
) -> TrainResult:
    """Fit ``model`` to ``values`` (N, C) at ``coords`` (N, 2); leaves the best weights loaded."""
    if coords.shape[0] != values.shape[0] or coords.shape[0] == 0:
        raise ConfigError("coords and values must be non-empty and of the same length")
    device = next(model.parameters()).device
    coords, values = coords.to(device), values.to(device)
    opt = torch.optim.AdamW(_param_groups(model, cfg))
    base_lrs = [g["lr"] for g in opt.param_groups]
    gen = torch.Generator(device="cpu").manual_seed(cfg.seed + 1)
    full = cfg.batch_size is None or cfg.batch_size >= coords.shape[0]
    best_loss, best_step, best_state = math.inf, -1, None
    losses: list[float] = []
    ev = train_evaluator(cfg)

    def consider(loss: float, step: int) -> None:
        nonlocal best_loss, best_step, best_state
        if loss < best_loss:
            best_loss, best_step = loss, step
            best_state = copy.deepcopy(model.state_dict())

    for step in range(cfg.steps):
        factor = _lr_factor(cfg, step)
        for g, base in zip(opt.param_groups, base_lrs, strict=True):
            g["lr"] = base * factor
        opt.zero_grad(set_to_none=True)
        if full:
            loss = _full_loss(model, coords, values, True, ev)
            consider(loss, step)  # the loss of the weights before this update
        else:
            idx = torch.randint(0, coords.shape[0], (cfg.batch_size,), generator=gen).to(device)
            loss = _full_loss(model, coords[idx], values[idx], True, ev)
        if not math.isfinite(loss):
            raise ConfigError(f"training diverged at step {step} (loss {loss}); lower the learning rate")
        losses.append(loss)
        opt.step()
        if not full and ((step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps):
            consider(_full_loss(model, coords, values, False, ev), step + 1)
        if callback is not None:
            callback(StepInfo(step + 1, loss, best_loss, base_lrs[-1] * factor))
    if full:
        consider(_full_loss(model, coords, values, False, ev), cfg.steps)
    assert best_state is not None
    model.load_state_dict(best_state)
    return TrainResult(best_loss, best_step, losses)


def _lr_factor(cfg: TrainConfig, step: int) -> float:
    if cfg.schedule == "constant" or cfg.steps == 1:
        return 1.0
    t = step / (cfg.steps - 1)
    return cfg.final_lr_ratio + (1.0 - cfg.final_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * t))
