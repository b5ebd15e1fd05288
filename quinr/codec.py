"""The public API: :func:`encode` a signal to a ``.qinr`` bitstream, :func:`decode` it back.

The encoder measures quality the way a user will see it: it writes the file, decodes its own
bytes with :func:`decode` (on the CPU, exactly as ``quinr decode`` does by default), and reports
bpp from the real file size and PSNR from that decoded signal.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import bitstream
from . import grid as grids
from .allocation import AUTO_BITS_DROP_DB, TOP_BITS, Scorer, bits_for_psnr, choose_bits, fit_bytes
from .bitstream import Header
from .errors import BitstreamError, ConfigError, FileError
from .files import atomic_write, check_output, read_bytes
from .model import Evaluator, ModelConfig, QuINR
from .quant import check_bits, dequantize, quantize
from .signal import MAX_PIXELS, Signal, check_pixels, coordinates, load_signal, psnr
from .train import StepInfo, TrainConfig, TrainResult, fit, qat_config, resolve_device, signal_loss

#: The extension of a quinr bitstream (``encode -o`` must use it).
SUFFIX = ".qinr"
#: Largest bitstream file read (bytes); a valid header implies far less.
MAX_FILE_BYTES = 1 << 30


@dataclass(frozen=True)
class EncodeResult:
    """What :func:`encode` measured. ``bpp`` and ``psnr`` come from the written file."""

    data: bytes
    path: Path | None
    bpp: float
    psnr: float
    peak: float
    n_params: int
    bits: int
    model: ModelConfig
    train: TrainResult
    train_seconds: float
    total_seconds: float
    decoded: Signal
    #: with noise-aware training: PSNR of the file decoded through the training noise model
    noisy_psnr: float | None = None
    #: bit depth of every stored tensor
    tensor_bits: tuple[int, ...] = ()

    @property
    def n_bytes(self) -> int:
        return len(self.data)


def _trained(cfg: ModelConfig, coords: torch.Tensor, values: torch.Tensor, train: TrainConfig,
             device: torch.device, callback: Callable[[StepInfo], None] | None) -> tuple[QuINR, TrainResult, int]:
    """The network trained from ``train.seed``, or, with ``train.restarts``, the best of that many
    trainings from consecutive seeds (each with its share of a time budget), and the count of
    steps reported to ``callback``, which counts on across them."""
    best: tuple[float, QuINR, TrainResult] | None = None
    each = train if train.restarts == 1 else dataclasses.replace(
        train, restarts=1, time_budget=None if train.time_budget is None else train.time_budget / train.restarts)
    for k in range(train.restarts):
        run = dataclasses.replace(each, seed=train.seed + k)
        torch.manual_seed(run.seed)
        net = QuINR(cfg, seed=run.seed, init_freq=run.init_freq, gain_init=run.gain_init).to(device)
        done = k * train.steps

        def counted(info: StepInfo, done: int = done) -> None:
            callback(dataclasses.replace(info, step=done + info.step))  # type: ignore[misc]

        result = fit(net, coords, values, run, None if callback is None else counted)
        if train.restarts == 1:
            return net, result, len(result.losses)
        score = signal_loss(net, coords, values, run)
        if best is None or score < best[0]:
            best = (score, net, result)
    assert best is not None
    return best[1], best[2], done + len(result.losses)


def encode(
    source: str | Path | Signal,
    output: str | Path | None = None,
    *,
    model: ModelConfig | None = None,
    train: TrainConfig | None = None,
    bits: int | str | tuple[int, ...] = 16,
    callback: Callable[[StepInfo], None] | None = None,
    max_pixels: int | None = None,
    frame: int | None = None,
) -> EncodeResult:
    """Compress a signal (a path or a :class:`Signal`) into a quINR bitstream.

    Args:
        source: image / ``.npy`` path, or a loaded signal.
        output: where to write the ``.qinr`` file (``None``: keep it in memory only).
        model: network shape; ``out_features`` is set from the signal's channels.
        train: fitting settings (steps, lr, seed, device, ...).
        bits: bits per stored weight (per-tensor uniform quantization): one depth, one per tensor,
            or a rule (:func:`allocate`): ``"auto"`` / ``"auto:DB"``, per-tensor depths within DB
            (default 0.05) of the 16-bit file's PSNR; ``"bytes:N"``, the best file of at most N
            bytes; ``"psnr:DB"``, the smallest file of at least DB. The weights are then entropy
            coded.
        callback: called after every training step (progress bars).
        max_pixels: refuse a larger image before decoding its pixels (default
            :data:`quinr.signal.DEFAULT_MAX_PIXELS`).
        frame: the frame of a multi-frame image (an animated GIF, a multi-page TIFF) to encode.

    The output is checked before training (its folder exists and is writable, it ends in
    ``.qinr``, it is not the input) and written atomically.
    """
    t0 = time.perf_counter()
    signal = source if isinstance(source, Signal) else load_signal(source, max_pixels=max_pixels, frame=frame)
    if output is not None:
        check_output(output, inputs=[] if isinstance(source, Signal) else [source], suffixes=(SUFFIX,),
                     what="bitstream")
    if isinstance(bits, str):
        bits = parse_bits(bits)
    if isinstance(bits, int):
        check_bits(bits)
    train = train or TrainConfig()
    if isinstance(train.noise, str):  # device=NAME: a calibration only the backend layer can read
        from .backends import training_noise

        train = dataclasses.replace(train, noise=training_noise(train.noise))
    c = signal.channels
    cfg = dataclasses.replace(model or ModelConfig(), out_features=c, in_features=len(signal.grid))
    device = resolve_device(train.device)
    coords = torch.from_numpy(coordinates(*signal.grid))
    values = torch.from_numpy(signal.normalized().reshape(-1, c))
    t1 = time.perf_counter()
    net, result, done = _trained(cfg, coords, values, train, device, callback)
    train_seconds = time.perf_counter() - t1
    net.canonicalize_()
    rule = bits if isinstance(bits, str) else None
    per = allocate(net, signal, rule) if rule is not None else per_tensor(bits, cfg)  # type: ignore[arg-type]
    if train.qat_steps:
        t2 = time.perf_counter()

        def after(info: StepInfo) -> None:  # the fine-tuning's steps continue the training's count
            if callback is not None:
                callback(dataclasses.replace(info, step=done + info.step))

        per = fine_tune(net, signal, coords, values, train, per, rule, after)
        train_seconds += time.perf_counter() - t2
    data = write_model(net, signal, per)
    path = None
    if output is not None:
        path = atomic_write(Path(output), data)
    decoded = decode(data, max_pixels=signal.pixels)
    noisy_psnr = None
    if train.noise is not None:
        from .train import train_evaluator

        noisy_psnr = psnr(signal, decode_with(read_bitstream(data), train_evaluator(train), device=str(device)))
    return EncodeResult(
        data=data,
        path=path,
        bpp=8.0 * len(data) / signal.pixels,
        psnr=psnr(signal, decoded),
        peak=signal.peak,
        n_params=cfg.n_params(),
        bits=max(per),
        tensor_bits=per,
        model=cfg,
        train=result,
        train_seconds=train_seconds,
        total_seconds=time.perf_counter() - t0,
        decoded=decoded,
        noisy_psnr=noisy_psnr,
    )


def write_model(net: QuINR, signal: Signal, bits: int | tuple[int, ...]) -> bytes:
    """The bitstream of a trained (canonicalized) network for ``signal``, at ``bits`` per weight
    (one depth, or one per tensor): one training gives the files of every bit depth (what
    ``quinr rd`` sweeps)."""
    grid = signal.grid
    n = len(net.cfg.tensor_shapes())
    per = per_tensor(bits, net.cfg)
    if len(per) != n:
        raise ConfigError(f"need {n} per-tensor bit depths, got {len(per)}")
    for b in per:
        check_bits(b)
    height = grid[0] if len(grid) == 2 else 1  # a one-dimensional signal: height 1, its length in width
    header = Header(signal.kind, height, grid[-1], signal.channels, signal.vmin, signal.vmax, net.cfg, max(per), per)
    tensors = [quantize(t.detach().cpu().numpy(), b) for (_, t), b in zip(net.named_tensors(), per, strict=True)]
    return bitstream.write(header, tensors)


def per_tensor(bits: int | tuple[int, ...], cfg: ModelConfig) -> tuple[int, ...]:
    """One bit depth per stored tensor: ``bits`` itself, or one depth repeated."""
    return (bits,) * len(cfg.tensor_shapes()) if isinstance(bits, int) else tuple(bits)


def fine_tune(net: Any, signal: Signal, coords: torch.Tensor, values: torch.Tensor, train: TrainConfig,
              per: tuple[int, ...], rule: str | None = None,
              callback: Callable[[StepInfo], None] | None = None) -> tuple[int, ...]:
    """Quantization-aware fine-tuning of a trained ``net`` at the depths ``per`` (``train``'s
    ``qat_steps``, :func:`quinr.train.qat_config`); returns the depths to write: ``per``, or, for a
    budget or a target rule (``bytes:N``, ``psnr:DB``), the rule's choice for the tuned weights."""
    fit(net, coords, values, qat_config(train), callback, bits=per)
    return allocate(net, signal, rule) if rule is not None and not rule.startswith("auto") else per


def parse_bits(text: str | int) -> int | str:
    """``--bits``: an integer, ``auto`` or ``auto:DB`` (within DB of the 16-bit PSNR), ``bytes:N``
    (the best file of at most N bytes) or ``psnr:DB`` (the smallest file of at least DB)."""
    if isinstance(text, int) or str(text).lstrip("-").isdigit():
        return int(text)
    kind, colon, value = str(text).partition(":")
    if (kind == "auto" and not colon) or (kind == "bytes" and value.isdigit() and int(value) > 0):
        return str(text)
    if kind in ("auto", "psnr") and _is_float(value):
        number = float(value)
        if math.isfinite(number) and (number >= 0 if kind == "auto" else number > 0):
            return str(text)
        raise ConfigError(f"bits {kind}:DB needs a finite DB {'>= 0' if kind == 'auto' else '> 0'}, got {value!r}")
    raise ConfigError(f"bits must be an integer, 'auto', 'auto:DB', 'bytes:N' or 'psnr:DB', got {text!r}")


def file_sizes(net: QuINR, signal: Signal) -> tuple[Callable[[tuple[int, ...]], int], Callable[[tuple[int, ...]], int]]:
    """Two functions of a per-tensor allocation: the size of the real file (written, cached) and
    a fast prediction of it (each tensor's stored bits costed once per depth, plus the overhead
    measured on one real file), for the bit allocator's search."""
    sizes: dict[tuple[int, ...], int] = {}
    weights = [t.detach().cpu().numpy() for _, t in net.named_tensors()]
    costs: dict[tuple[int, int], int] = {}

    def size(per: tuple[int, ...]) -> int:
        if per not in sizes:
            sizes[per] = len(write_model(net, signal, per))
        return sizes[per]

    def payload(per: tuple[int, ...]) -> int:
        for k, b in enumerate(per):
            if (k, b) not in costs:
                costs[(k, b)] = bitstream.stored_bits(quantize(weights[k], b), b)
        return sum(costs[(k, b)] for k, b in enumerate(per))

    start = (8,) * len(weights)
    overhead = size(start) - (payload(start) + 7) // 8  # header, padding, coder state

    def estimate(per: tuple[int, ...]) -> int:
        return overhead + (payload(per) + 7) // 8

    return size, estimate


def allocate(net: QuINR, signal: Signal, rule: str) -> tuple[int, ...]:
    """Per-tensor bit depths of a trained network by a ``--bits`` rule (:func:`parse_bits`); see
    :mod:`quinr.allocation`. ``psnr:DB`` out of the network's reach gives 16 bits everywhere."""
    kind, _, value = rule.partition(":")
    if kind == "auto":
        return choose_bits(net, signal, float(value) if value else AUTO_BITS_DROP_DB)
    scorer = Scorer(net, signal)
    size, estimate = file_sizes(net, signal)
    if kind == "bytes":
        return fit_bytes(net, signal, int(value), size, scorer, estimate)
    return bits_for_psnr(net, signal, float(value), estimate, scorer=scorer) or (TOP_BITS,) * scorer.n


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_source(source: str | Path | bytes) -> bytes:
    """The bytes of a bitstream given as bytes or as the path of a regular file."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    try:
        return read_bytes(source, "quinr bitstream", MAX_FILE_BYTES)
    except FileError as exc:
        raise BitstreamError(str(exc)) from None


def read_bitstream(source: str | Path | bytes) -> bitstream.Bitstream:
    """Read and validate a bitstream from a path or bytes (a path must name a regular file)."""
    return bitstream.read(read_source(source))


def info(source: str | Path | bytes) -> Header:
    """The validated header of a bitstream."""
    return read_bitstream(source).header


#: The decoder's precision: the stored (float32) weights are evaluated in float64, the circuit
#: with complex128 amplitudes, so every decoder that follows the spec agrees to ~1e-12 whatever
#: the platform (docs/bitstream.md, "Precision"). Training runs in float32.
DECODE_DTYPE = torch.float64


def load_model(bs: bitstream.Bitstream, device: str | torch.device = "cpu") -> QuINR:
    """Rebuild the network of a bitstream with its dequantized weights, in the decoder's float64."""
    cfg = bs.header.model
    net = QuINR(cfg)
    with torch.no_grad():
        for (_, param), qt, bits in zip(net.named_tensors(), bs.tensors, bs.header.bits_of(), strict=True):
            param.copy_(torch.from_numpy(dequantize(qt, bits)))
    return net.to(device=resolve_device(str(device)), dtype=DECODE_DTYPE)


def decode(
    source: str | Path | bytes,
    *,
    device: str = "cpu",
    evaluator: Evaluator | None = None,
    crop: tuple[int, ...] | None = None,
    scale: float | None = None,
    max_pixels: int | None = None,
) -> Signal:
    """Decode a bitstream (path or bytes) to a :class:`Signal`.

    ``evaluator`` replaces the exact simulator (e.g. a backend adapter that samples shots);
    ``crop`` ((x, y, w, h), or (x, w) in one dimension) and ``scale`` decode a window or a resampled size (see
    :func:`decode_grid`); a grid over ``max_pixels`` is refused before anything is allocated.
    """
    bs = read_bitstream(source)
    decode_grid(bs.header, crop, scale, max_pixels)
    return decode_with(bs, evaluator, crop, scale, device=device)


def decode_grid(hdr: Header, crop: tuple[int, ...] | None = None, scale: float | None = None,
                max_pixels: int | None = None) -> tuple[np.ndarray, tuple[int, ...]]:
    """Coordinates and grid of a full, rescaled and/or cropped decode (see :mod:`quinr.grid`).

    ``scale`` resamples the whole signal (each axis ``round(n * scale)``); ``crop`` (``(x, y, w,
    h)``, or ``(x, w)`` for a one-dimensional signal) then keeps that window of the possibly
    rescaled grid. The window's size is checked against ``max_pixels`` (default
    :data:`quinr.signal.DEFAULT_MAX_PIXELS`) before any coordinate is made.
    """
    full = grids.scaled(hdr.grid, scale)
    sl = grids.window(full, crop)
    out = grids.shape_of(sl)
    check_pixels(out, max_pixels, "the decode")
    coords = coordinates(*full, dtype=np.float64).reshape(*full, len(full))[sl]
    return np.ascontiguousarray(coords.reshape(-1, len(full))), out


def decode_with(bs: bitstream.Bitstream, evaluator: Evaluator | None, crop: tuple[int, ...] | None = None,
                scale: float | None = None, *, device: str = "cpu") -> Signal:
    """Decode a read bitstream through ``evaluator`` (``None``: the exact simulator)."""
    hdr = bs.header
    coords_np, out = decode_grid(hdr, crop, scale, MAX_PIXELS)
    net = load_model(bs, device)
    coords = torch.from_numpy(coords_np).to(next(net.parameters()).device)
    values = net.predict(coords, evaluator).cpu().numpy().astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise BitstreamError("the file's weights make the network output values that are not finite")
    return Signal.from_normalized(values.reshape(*out, hdr.channels), hdr.kind, hdr.vmin, hdr.vmax)
