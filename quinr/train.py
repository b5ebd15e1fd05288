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
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import torch

from .checks import check_seed
from .errors import ConfigError
from .model import INIT_FREQ, Evaluator, QuINR, check_init_freq
from .noise import NoiseSpec, names_device
from .noise import parse as parse_noise
from .sim.density import NOISE_MODES, noisy_evaluator
from .sim.device import DeviceModel

#: Coordinates per forward/backward chunk inside one full-batch step.
TRAIN_CHUNK = 1 << 15
#: The default batch rule (``batch_size="auto"``): full batch up to AUTO_FULL_BATCH coordinates,
#: above it steps of AUTO_BATCH coordinates. A full-batch step of kodim02 (393,216 coordinates)
#: costs about 6 s on two cores, so 500 of them take most of an hour; 500 steps of 4,096 take
#: about two minutes and, with the best full-image checkpoint, lose little (docs/performance.md).
AUTO_FULL_BATCH = 16384
AUTO_BATCH = 4096


#: The AdamW learning rate of the circuit angles and output affine: the paper's 1e-1.
DEFAULT_LR = 0.1
#: At most this many trainings of one encode (``TrainConfig.restarts``).
MAX_RESTARTS = 64


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
        batch_size: coordinates per step; ``None`` = all of them (full batch); ``"auto"`` (the
            default) = full batch up to :data:`AUTO_FULL_BATCH` coordinates, else
            :data:`AUTO_BATCH`.
        time_budget: stop after this many seconds of training (the cosine schedule then runs on
            elapsed time, ending when the budget does); ``None`` = run every step.
        eval_every: with mini-batches, measure the loss of the whole signal this often for the
            best checkpoint (and at the last step).
        eval_coordinates: with mini-batches, that measurement uses a fixed, seeded subset of at most
            this many coordinates (``None``: all of them). A full pass over kodim02 costs as much
            as about 20 training steps, so measuring every coordinate took a third of a default
            encode; the 65,536-coordinate subset picked the same checkpoint there (the identical
            file; docs/performance.md).
        qat_steps: after the bits are chosen, fine-tune this many steps through the weights
            quantized at those bits (quantization-aware fine-tuning, :func:`fit`'s ``bits``), at
            ``lr * qat_lr_ratio``; 0 = off. The file then keeps the quantized weights that the
            fine-tuning measured, not the rounding of weights trained without knowing it.
        qat_lr_ratio: learning rate of that fine-tuning as a fraction of ``lr`` (and ``lr_embed``).
        restarts: train the network this many times, from seeds ``seed``, ``seed + 1``, ..., and
            keep the one with the lowest loss (:func:`quinr.codec.encode`; :func:`fit` trains the
            network it is given once). On kodim02 three blocks of Nq 6 end 0.16 dB apart across
            seeds after 3,000 steps, so the best of three buys about what the seed spread is, for
            three times the training time (docs/results.md). A ``time_budget`` is shared by them.
        compile: run the model through ``torch.compile`` (exact, noise-free training only). On
            two CPU cores it makes a step about 1.2x faster after about 40 s of compilation, so it
            pays only for runs of more than about 2,000 steps; off by default.
        seed: seed of the initialisation and of mini-batch sampling.
        init_freq: initial first-layer frequency bound, radians per unit coordinate, or one per
            coordinate axis (rows, columns): the KITTI range image, 16 times wider than high, fits
            0.36 dB better with (3, 12) than with 3 (docs/model.md).
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
    lr: float = DEFAULT_LR
    lr_embed: float | None = None
    weight_decay: float = 0.01
    schedule: str = "cosine"
    final_lr_ratio: float = 0.01
    batch_size: int | str | None = "auto"
    eval_every: int = 25
    eval_coordinates: int | None = 65536
    seed: int = 0
    init_freq: float | tuple[float, ...] = INIT_FREQ
    gain_init: str = "offset"
    device: str = "cpu"
    noise: NoiseSpec | DeviceModel | str | None = None
    noise_mode: str = "global"
    time_budget: float | None = None
    qat_steps: int = 0
    qat_lr_ratio: float = 0.1
    compile: bool = False
    restarts: int = 1

    @property
    def total_steps(self) -> int:
        """The steps an encode runs (every restart's, then the fine-tuning's): what its progress counts to."""
        return self.steps * self.restarts + self.qat_steps

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
        if isinstance(self.restarts, bool) or not isinstance(self.restarts, int) or not 1 <= self.restarts <= MAX_RESTARTS:
            raise ConfigError(f"restarts must be an integer in [1, {MAX_RESTARTS}], got {self.restarts!r}")
        if isinstance(self.qat_steps, bool) or not isinstance(self.qat_steps, int) or self.qat_steps < 0:
            raise ConfigError(f"qat_steps must be a non-negative integer, got {self.qat_steps!r}")
        if not (isinstance(self.qat_lr_ratio, (int, float)) and 0 < self.qat_lr_ratio <= 1):
            raise ConfigError(f"qat_lr_ratio must be in (0, 1], got {self.qat_lr_ratio!r}")
        for name in ("lr", "lr_embed"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and v > 0):
                raise ConfigError(f"{name} must be positive, got {v!r}")
        if self.weight_decay < 0:
            raise ConfigError("weight_decay must be >= 0")
        if self.schedule not in ("cosine", "constant"):
            raise ConfigError(f"schedule must be 'cosine' or 'constant', got {self.schedule!r}")
        if self.batch_size != "auto" and self.batch_size is not None and (
                isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1):
            raise ConfigError("batch size must be a positive integer or 'auto' (full batch: --batch-size full, None "
                              f"in the API), got {self.batch_size!r}")
        if self.time_budget is not None and not (isinstance(self.time_budget, (int, float))
                                                 and math.isfinite(self.time_budget) and self.time_budget > 0):
            raise ConfigError(f"time_budget must be a positive number of seconds, got {self.time_budget!r}")
        if self.eval_every < 1:
            raise ConfigError("eval_every must be positive")
        if self.eval_coordinates is not None and (isinstance(self.eval_coordinates, bool)
                                                  or not isinstance(self.eval_coordinates, int) or self.eval_coordinates < 1):
            raise ConfigError(f"eval_coordinates must be a positive integer or None, got {self.eval_coordinates!r}")
        check_seed(self.seed)
        check_seed(self.seed + self.restarts - 1, "the last restart's seed (seed + restarts - 1)")
        if isinstance(self.init_freq, list):
            object.__setattr__(self, "init_freq", tuple(self.init_freq))
        check_init_freq(self.init_freq)


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
    seed: int = 0  # of the training kept (one of several with TrainConfig.restarts)


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
    if not isinstance(model, QuINR):  # a classical control network (quinr.baselines.siren): one group
        return [{"params": list(model.parameters()), "lr": cfg.lr, "weight_decay": 0.0}]
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


def signal_loss(model: QuINR, coords: torch.Tensor, values: torch.Tensor, cfg: TrainConfig) -> float:
    """The loss over every coordinate, as training measures it (through its noise, if any): what
    restarts are compared by, since each training picked its best checkpoint on its own subset."""
    device = next(model.parameters()).device
    return _full_loss(model, coords.to(device), values.to(device), False, train_evaluator(cfg))


def fit(
    model: QuINR,
    coords: torch.Tensor,
    values: torch.Tensor,
    cfg: TrainConfig,
    callback: Callable[[StepInfo], None] | None = None,
    bits: tuple[int, ...] | None = None,
) -> TrainResult:
    """Fit ``model`` to ``values`` (N, C) at ``coords`` (N, 2); leaves the best weights loaded.

    With ``bits`` (one depth per stored tensor) every loss is taken at the weights quantized at
    those depths and its gradient applied to the float weights (the straight-through estimator:
    quantization-aware fine-tuning); the best checkpoint is the one whose quantized weights
    measured best.
    """
    if coords.shape[0] != values.shape[0] or coords.shape[0] == 0:
        raise ConfigError("coords and values must be non-empty and of the same length")
    device = next(model.parameters()).device
    coords, values = coords.to(device), values.to(device)
    opt = torch.optim.AdamW(_param_groups(model, cfg))
    base_lrs = [g["lr"] for g in opt.param_groups]
    gen = torch.Generator(device="cpu").manual_seed(cfg.seed + 1)
    batch = resolve_batch(cfg.batch_size, coords.shape[0])
    full = batch is None
    start, last, measured = time.perf_counter(), 0, -1
    best_loss, best_step, best_state = math.inf, -1, None
    losses: list[float] = []
    ev = train_evaluator(cfg)
    net = _compiled(model) if cfg.compile and ev is None else model
    # the best checkpoint's measure: the whole signal, or a fixed seeded subset of a large one
    every = torch.arange(coords.shape[0], device=device)
    if not full and cfg.eval_coordinates is not None and coords.shape[0] > cfg.eval_coordinates:
        pick = torch.Generator(device="cpu").manual_seed(cfg.seed + 2)
        every = torch.randperm(coords.shape[0], generator=pick)[: cfg.eval_coordinates].to(device)
    eval_coords, eval_values = coords[every], values[every]

    def consider(loss: float, step: int) -> None:
        nonlocal best_loss, best_step, best_state
        if loss < best_loss:
            best_loss, best_step = loss, step
            best_state = copy.deepcopy(model.state_dict())

    if bits is not None and not full:  # the quantized weights as they came are a candidate: never worse
        with quantized(model, bits):
            consider(_full_loss(net, eval_coords, eval_values, False, ev), 0)
    for step in range(cfg.steps):
        elapsed = time.perf_counter() - start
        if cfg.time_budget is not None and step > 0 and elapsed >= cfg.time_budget:
            break
        factor = _lr_factor(cfg, step, None if cfg.time_budget is None else elapsed / cfg.time_budget)
        for g, base in zip(opt.param_groups, base_lrs, strict=True):
            g["lr"] = base * factor
        opt.zero_grad(set_to_none=True)
        if full:
            with quantized(model, bits):
                loss = _full_loss(net, coords, values, True, ev)
            consider(loss, step)  # the loss of the weights before this update
        else:
            idx = torch.randint(0, coords.shape[0], (batch,), generator=gen).to(device)
            with quantized(model, bits):
                loss = _full_loss(net, coords[idx], values[idx], True, ev)
        if not math.isfinite(loss):
            raise ConfigError(f"training diverged at step {step} (loss {loss}); lower the learning rate")
        losses.append(loss)
        opt.step()
        last = step + 1
        if not full and (last % cfg.eval_every == 0 or last == cfg.steps):
            with quantized(model, bits):
                measure = _full_loss(net, eval_coords, eval_values, False, ev)
            consider(measure, last)
            measured = last
        if callback is not None:
            callback(StepInfo(step + 1, loss, best_loss, base_lrs[-1] * factor))
    if measured != last:  # the final weights (full batch, or a time budget's early stop)
        with quantized(model, bits):
            measure = _full_loss(net, eval_coords, eval_values, False, ev)
        consider(measure, last)
    assert best_state is not None
    model.load_state_dict(best_state)
    return TrainResult(best_loss, best_step, losses, cfg.seed)


def fake_quantize(t: torch.Tensor, bits: int) -> torch.Tensor:
    """The values :func:`quinr.quant.quantize` then ``dequantize`` give (the same float64 grid
    between float32 ends, the same half-to-even rounding), computed in torch."""
    levels = (1 << bits) - 1
    x = t.detach().double()
    lo, hi = x.min().float().double(), x.max().float().double()  # the file stores the ends as float32
    if not hi > lo:
        return lo.expand_as(x).to(t.dtype).clone()
    q = torch.round((x - lo) / (hi - lo) * levels).clamp_(0, levels)
    return (lo + q * ((hi - lo) / levels)).to(t.dtype)


@contextmanager
def quantized(model: QuINR, bits: tuple[int, ...] | None) -> Iterator[None]:
    """Within the block the model's stored tensors hold their values quantized at ``bits`` (one
    depth per tensor, the file's grid); the float values come back after it. ``None``: no change."""
    if bits is None:
        yield
        return
    tensors = [t for _, t in model.named_tensors()]
    if len(bits) != len(tensors):
        raise ConfigError(f"need {len(tensors)} per-tensor bit depths, got {len(bits)}")
    saved = [t.detach().clone() for t in tensors]
    with torch.no_grad():
        for t, b in zip(tensors, bits, strict=True):
            t.copy_(fake_quantize(t, b))
    try:
        yield
    finally:
        with torch.no_grad():
            for t, s in zip(tensors, saved, strict=True):
                t.copy_(s)


def qat_config(cfg: TrainConfig) -> TrainConfig:
    """The settings of the quantization-aware fine-tuning that follows a training by ``cfg``."""
    return replace(cfg, steps=cfg.qat_steps, lr=cfg.lr * cfg.qat_lr_ratio, time_budget=None,
                   lr_embed=None if cfg.lr_embed is None else cfg.lr_embed * cfg.qat_lr_ratio,
                   eval_every=min(cfg.eval_every, cfg.qat_steps), qat_steps=0, compile=False)


def _compiled(model: QuINR):
    """``torch.compile`` of the model, refused in one line where this machine cannot compile."""
    try:
        return torch.compile(model)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds; the user needs one line
        raise ConfigError(f"--compile: torch.compile is not available here ({type(exc).__name__}: {exc}); "
                          "train without it") from None


def resolve_batch(batch_size: int | str | None, coordinates: int) -> int | None:
    """Coordinates per step for ``coordinates`` in all (None: full batch), by the rule of
    :class:`TrainConfig`'s ``batch_size``."""
    if batch_size == "auto":
        batch_size = None if coordinates <= AUTO_FULL_BATCH else AUTO_BATCH
    return None if batch_size is None or batch_size >= coordinates else int(batch_size)


def _lr_factor(cfg: TrainConfig, step: int, used: float | None = None) -> float:
    """The schedule at ``step``; with a time budget, at the larger of the step's and the
    elapsed time's share of the run."""
    if cfg.schedule == "constant" or cfg.steps == 1:
        return 1.0
    t = step / (cfg.steps - 1)
    if used is not None:
        t = min(1.0, max(t, used))
    return cfg.final_lr_ratio + (1.0 - cfg.final_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * t))
