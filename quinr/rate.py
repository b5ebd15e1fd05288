"""Rate control: a file of a size or a quality the user asks for, not of an Nq, M, R, E and blocks.

``quinr encode --target-bpp B``, ``--max-bytes N`` and ``--target-psnr DB`` (and
:func:`encode_to`). The network comes from :data:`PRESETS`, a table measured on kodim02 and the
KITTI range image (docs/results.md, "Rate control"): the network that gave the best PSNR on the
reference signal at the same file bytes per stored weight. A larger network squeezed to fewer
bits can beat a smaller one at full precision, and the table knows where. Then the bits: after
training, :func:`quinr.allocation.fit_bytes`
picks the per-tensor depths of the best file that fits the budget, filling it to within one bit
of one tensor, so a size target lands by construction (the result says how close). A PSNR target
cannot be predicted from another signal's numbers, so it is measured: the smallest preset that
reached it on the reference signal is trained, and when the file falls short the next larger
one is tried (``tries`` trainings at most), each written at the fewest bits that reach the
target (:func:`quinr.allocation.bits_for_psnr`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .codec import EncodeResult, encode
from .config import PAPER_LINK, PAPER_READOUT, ModelConfig, model_options
from .errors import ConfigError
from .files import atomic_write, check_output
from .networks import Network, field, from_json
from .networks import keywords as network_keywords
from .networks import text as network_text
from .signal import Signal, SignalKind, load_signal
from .train import TrainConfig

#: A PSNR target counts as reached within this (the bits are chosen on a sample of pixels).
PSNR_TOLERANCE = 0.05
#: The training steps the shipped table was measured with (of 4,096 coordinates): what a rate
#: target trains for unless told otherwise, so that the table's predictions hold.
TABLE_STEPS = 1000


def network_model(network: Network, signal: Signal | None = None, **extra: Any) -> ModelConfig:
    """The network of an ``NQ:M:R[:E[:B]]`` item (:mod:`quinr.networks`; checked as
    :class:`ModelConfig` checks it, an error naming the item), with the coordinate and channel
    counts of ``signal`` when given (else one channel, the least a signal has: the encoder sets
    the real count and checks again) and any other :class:`ModelConfig` keywords in ``extra``."""
    io = {"out_features": 1} if signal is None else {"in_features": len(signal.grid), "out_features": signal.channels}
    try:
        return ModelConfig(**io, **network_keywords(network), **extra)
    except ConfigError as exc:
        raise ConfigError(f"network {network_text(network)}: {exc}") from None


@dataclass(frozen=True)
class Preset:
    """One network of the rate-control table and how it measured (benchmarks/rate_table.py:
    trained once, :data:`TABLE_STEPS` steps of 4,096 coordinates, then written at a ladder of byte budgets by
    the bit allocator): PSNR against file bytes per stored weight, on the reference image
    (kodim02) and the reference range image (KITTI 00/000000)."""

    network: Network  # Nq, M (or one per block), R, E, blocks
    image: tuple[tuple[float, float], ...]  # (bytes per weight, PSNR dB), ascending
    range: tuple[tuple[float, float], ...]
    readout: str = PAPER_READOUT  # ModelConfig.readout
    link: str = PAPER_LINK  # ModelConfig.link

    def model(self, signal: Signal) -> ModelConfig:
        return network_model(self.network, signal, **model_options(self.readout, self.link))

    def curve(self, signal: Signal) -> tuple[tuple[float, float], ...]:
        return self.range if signal.kind is SignalKind.F32 else self.image

    def expected_psnr(self, signal: Signal, max_bytes: int) -> float:
        """What this network gave on the reference signal at the same bytes per weight (linear in
        between the measured files; -inf below the smallest one, the largest one's above it)."""
        bpw = max_bytes / self.model(signal).n_params()
        pts = self.curve(signal)
        if bpw < pts[0][0]:
            return -math.inf
        for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
            if bpw <= x1:
                return y0 + (y1 - y0) * (bpw - x0) / (x1 - x0)
        return pts[-1][1]

    def smallest_bytes(self, signal: Signal) -> int:
        return math.ceil(self.curve(signal)[0][0] * self.model(signal).n_params())

    def describe(self) -> str:
        nq, m, r, e, b = self.network
        return (f"Nq {nq}, M {field(m)}, R {r}" + (f", E {e}" if e != 1 else "") + (f", {b} blocks" if b != 1 else "")
                + "".join(f", {k} {v}" for k, v in model_options(self.readout, self.link).items()))


#: The rate-control table, smallest network first, and of two networks of the same size the one
#: with one M per block first (docs/results.md, "Rate control", has the run that measured it).
PRESETS: tuple[Preset, ...] = (
    Preset((4, 6, 2, 1, 1),
           image=((1.765, 19.03), (1.985, 20.72), (2.206, 21.32), (2.426, 21.34), (3.309, 21.35)),
           range=((1.703, 5.8), (1.953, 19.31), (2.188, 21.38), (2.438, 21.75), (2.688, 21.76), (2.984, 21.77))),
    Preset((6, 12, 2, 1, 1),
           image=((1.067, 15.61), (1.242, 18.92), (1.417, 21.44), (1.6, 22.13), (1.775, 22.18), (1.95, 22.2)),
           range=((1.172, 9.66), (1.362, 19.47), (1.56, 21.86), (1.75, 22.24), (1.948, 22.34))),
    Preset((6, (26, 6), 2, 1, 2),  # one M per block (format version 5): the same 282 weights as (12, 12)
           image=((0.887, 16.64), (1.035, 21.68), (1.184, 23.74), (1.33, 23.97), (1.479, 24.16), (1.628, 24.18)),
           range=((0.921, 15.66), (1.072, 20.5), (1.227, 22.83), (1.378, 23.62), (1.532, 23.66), (1.687, 23.67),
                  (2.299, 23.69))),
    Preset((6, 12, 2, 1, 2),
           image=((0.879, 18.9), (1.028, 22.3), (1.174, 23.37), (1.323, 23.84), (1.468, 23.94), (1.613, 23.95)),
           range=((0.968, 18.95), (1.129, 22.11), (1.255, 22.93), (1.45, 23.4), (1.612, 23.42))),
    Preset((6, (26, 9, 9), 2, 1, 3),  # the same 444 weights as (12, 12, 12)
           image=((0.878, 18.91), (1.025, 23.23), (1.171, 24.53), (1.318, 24.73), (1.464, 24.8), (1.61, 24.81),
                  (2.196, 24.82)),
           range=((0.864, 17.9), (1.009, 22.37), (1.152, 23.99), (1.298, 24.2), (1.441, 24.25), (1.584, 24.26),
                  (1.8, 24.27))),
    Preset((6, 12, 2, 1, 3),
           image=((0.894, 17.74), (1.043, 22.81), (1.191, 23.91), (1.34, 24.47), (1.489, 24.56), (1.637, 24.58)),
           range=((0.866, 18.58), (1.009, 22.66), (1.155, 23.84), (1.3, 24.34), (1.443, 24.39), (1.586, 24.4), (2.164, 24.41))),
    Preset((6, (60, 12, 12), 2, 1, 3),  # 588 weights: wider first block, for 0.016-0.02 bpp on kodim02
           image=((0.828, 22.09), (0.966, 23.63), (1.104, 24.66), (1.241, 25.03), (1.379, 25.09), (1.517, 25.11)),
           range=((0.832, 20.4), (0.971, 23.81), (1.108, 24.4), (1.248, 25.04), (1.387, 25.14), (1.526, 25.15),
                  (2.079, 25.16))),
    Preset((6, 12, 2, 1, 4),
           image=((0.845, 18.25), (0.985, 22.97), (1.125, 24.6), (1.267, 24.99), (1.408, 25.07), (1.548, 25.09), (1.759, 25.1)),
           range=((0.852, 18.71), (0.993, 21.67), (1.135, 23.35), (1.279, 23.93), (1.42, 23.99), (1.563, 24.0), (2.13, 24.02))),
)


@dataclass(frozen=True)
class RateResult:
    """What rate control produced: the encode's result, what was asked, how close it landed."""

    result: EncodeResult
    preset: Preset | None  # None when the caller gave the network
    asked: str
    landed: str
    miss: float  # relative size error (size targets) or dB short of the target (0 when reached)
    trainings: int


def choose_preset(signal: Signal, max_bytes: int, presets: tuple[Preset, ...] = PRESETS) -> Preset:
    """The preset that did best on the reference signal at this many bytes per weight (the
    smallest network when none was measured that small: fitting its bits then says whether it
    can)."""
    best = max(presets, key=lambda p: p.expected_psnr(signal, max_bytes))
    return best if best.expected_psnr(signal, max_bytes) > -math.inf else presets[0]


def load_table(path: str | Path, signal: Signal | None = None) -> tuple[Preset, ...]:
    """A rate-control table written by ``quinr search --table`` (:func:`quinr.search.write_table`),
    checked; measured on one kind of signal, so ``signal`` must be of that kind."""
    import json

    from .files import read_bytes

    p = Path(path)
    try:
        doc = json.loads(read_bytes(p, "rate-control table", 1 << 22))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ConfigError(f"{p} is not JSON: not a rate-control table") from None
    if not isinstance(doc, dict) or doc.get("format") != "quinr-rate-table" or doc.get("version") not in (1, 2):
        raise ConfigError(f"{p} is not a quinr rate-control table (version 1 or 2)")
    kind = doc.get("kind")
    if kind not in ("image", "range"):
        raise ConfigError(f"{p}: kind must be image or range, got {kind!r}")
    if signal is not None and (kind == "range") != (signal.kind is SignalKind.F32):
        other = "range image" if kind == "range" else "image"
        raise ConfigError(f"{p} was measured on a {other}; this signal is not one: search on one like it")
    presets = []
    for n, item in enumerate(doc.get("presets") or [], 1):
        try:
            network = from_json(item["network"])
            options = {k: item.get(k, paper) for k, paper in (("readout", PAPER_READOUT), ("link", PAPER_LINK))}
            curve = tuple((float(x), float(y)) for x, y in item["curve"])
            ok = len(network) == 5 and len(curve) >= 2 and all(math.isfinite(x) and x > 0 and math.isfinite(y)
                                                               for x, y in curve)
            ok = ok and all(a[0] < b[0] for a, b in zip(curve, curve[1:], strict=False))
            if ok:
                network_model(network, signal, **options)  # a network quinr can build
        except (KeyError, TypeError, ValueError, ConfigError):
            ok = False
        if not ok:
            raise ConfigError(f"{p}: preset {n} needs a network of 5 fields (NQ, M or one M per block, R, E, B), "
                              "a readout and link quinr knows (if any) and a curve of two or more [bytes per weight, dB] points, bytes ascending")
        presets.append(Preset(network, image=curve, range=curve, **options))  # type: ignore[arg-type]
    if not presets:
        raise ConfigError(f"{p} has no presets")
    return tuple(presets)


def _reference_psnr(p: Preset, signal: Signal) -> float:
    return max(psnr for _, psnr in p.curve(signal))


def encode_to(
    source: str | Path | Signal,
    output: str | Path | None = None,
    *,
    target_bpp: float | None = None,
    max_bytes: int | None = None,
    target_psnr: float | None = None,
    model: ModelConfig | None = None,
    train: Any = None,
    tries: int = 3,
    callback: Any = None,
    max_pixels: int | None = None,
    presets: tuple[Preset, ...] = PRESETS,
) -> RateResult:
    """Encode ``source`` at one target: ``target_bpp``, ``max_bytes`` or ``target_psnr`` (exactly
    one). ``model`` fixes the network (only the bits are then chosen); ``presets`` replaces the
    shipped table (:func:`load_table`); ``train`` defaults to :data:`TABLE_STEPS` steps, the
    training the table's predictions assume."""
    given = [k for k, v in (("target_bpp", target_bpp), ("max_bytes", max_bytes), ("target_psnr", target_psnr))
             if v is not None]
    if len(given) != 1:
        raise ConfigError(f"give exactly one of target_bpp, max_bytes, target_psnr (got {', '.join(given) or 'none'})")
    signal = source if isinstance(source, Signal) else load_signal(source, max_pixels=max_pixels)
    if train is None:
        train = TrainConfig(steps=TABLE_STEPS)
    if output is not None:
        check_output(output, inputs=[] if isinstance(source, Signal) else [source], suffixes=(".qinr",),
                     what="bitstream")
    if target_psnr is not None:
        return _to_psnr(signal, output, float(target_psnr), model, train, tries, callback, presets)
    if target_bpp is not None:
        if not (math.isfinite(target_bpp) and target_bpp > 0):
            raise ConfigError(f"target bpp must be a positive number, got {target_bpp}")
        max_bytes = math.floor(target_bpp * signal.pixels / 8)
        asked = f"{target_bpp:g} bpp ({max_bytes} bytes)"
    else:
        asked = f"{max_bytes} bytes"
    assert max_bytes is not None
    if max_bytes < 1:
        raise ConfigError(f"a budget of {max_bytes} bytes holds no file")
    preset = None if model is not None else choose_preset(signal, max_bytes, presets)
    net = model if model is not None else preset.model(signal)  # type: ignore[union-attr]
    res = encode(signal, None, model=net, train=train, bits=f"bytes:{max_bytes}", callback=callback)
    miss = len(res.data) / max_bytes - 1.0
    landed = f"{len(res.data)} bytes, {res.bpp:.4f} bpp ({100 * miss:+.1f} % against the budget), {res.psnr:.2f} dB"
    return _written(RateResult(res, preset, asked, landed, miss, 1), output)


def _to_psnr(signal: Signal, output, target: float, model, train, tries: int, callback,
             presets: tuple[Preset, ...]) -> RateResult:
    if not (math.isfinite(target) and target > 0):
        raise ConfigError(f"target PSNR must be a finite number of dB above 0, got {target}")
    if model is not None:
        candidates: list[Preset | None] = [None]
    else:
        start = next((i for i, p in enumerate(presets) if _reference_psnr(p, signal) >= target), len(presets) - 1)
        candidates = list(presets[start : start + max(1, tries)])
    best: tuple[EncodeResult, Preset | None] | None = None
    runs = 0
    for preset in candidates:
        net = model if preset is None else preset.model(signal)
        res = encode(signal, None, model=net, train=train, bits=f"psnr:{target}", callback=callback)
        runs += 1
        reached = res.psnr >= target - PSNR_TOLERANCE
        if best is None or reached or res.psnr > best[0].psnr:
            best = (res, preset)
        if reached:
            break
    assert best is not None
    res, preset = best
    short = target - res.psnr if res.psnr < target - PSNR_TOLERANCE else 0.0
    landed = f"{res.psnr:.2f} dB at {len(res.data)} bytes, {res.bpp:.4f} bpp" + (
        f" ({short:.2f} dB short: the largest network tried cannot reach it)" if short else "")
    return _written(RateResult(res, preset, f"{target:g} dB", landed, short, runs), output)


def _written(r: RateResult, output: str | Path | None) -> RateResult:
    if output is None:
        return r
    path = atomic_write(Path(output), r.result.data)
    return replace(r, result=replace(r.result, path=path))
