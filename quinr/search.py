"""``quinr search``: a budgeted search of the network for one signal, its frontier, and a
rate-control table built from it.

Why: rate control (:mod:`quinr.rate`) picks the network from a table measured on two reference
signals. A user with another class of signal (their own sensor's range images, a photo
collection) gets better choices from a table measured on one of their own signals. The search
trains each candidate network once (quantization needs no retraining), writes it at the ``--bits
auto`` file and at a ladder of byte budgets around it with the bit allocator, decodes every file
from its bytes, and keeps the points. Candidates run smallest first; one starts only when its
estimated time fits what is left of the budget (the estimate times two short trainings, which
separate a step from a training's fixed cost, and one decode pass on this machine), so the search
ends within the budget up to the error of that estimate. Results are saved after every candidate: a rerun with the same output resumes.

The table it writes (:func:`write_table`) is what ``quinr encode --target-bpp ... --rate-table
FILE`` reads (:func:`quinr.rate.load_table`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from .codec import allocate, decode, fine_tune, write_model
from .config import PAPER_LINK, PAPER_READOUT, ModelConfig, model_options
from .errors import ConfigError
from .files import atomic_write, read_bytes
from .model import INIT_FREQ, QuINR
from .networks import Network, full, options_text, text
from .rate import network_model
from .signal import Signal, SignalKind, coordinates, psnr
from .train import DEFAULT_LR, StepInfo, TrainConfig, fit, resolve_batch

#: Budgets of the ladder, as fractions of the network's ``--bits auto`` file (what
#: benchmarks/rate_table.py measured the shipped table with).
LADDER = (0.6, 0.7, 0.8, 0.9, 1.1, 1.25, 1.5)
#: The largest ladder fraction: a budget four times the ``auto`` file is past every network's
#: 16-bit file, so a larger one would only write that file again.
MAX_LADDER = 4.0
#: The two probe trainings of :func:`estimate_seconds` (steps each): 3 and 9 steps were within
#: the machine's jitter of each other, and the estimate of a 3,000-step training came out 1.2-1.9x low.
PROBE_STEPS = (5, 25)
#: What writing one file costs, in passes over the signal (its bit allocation's samples and its
#: decode): 4.0-4.6 measured for three blocks of Nq 6 on kodim02 (9.8-11.3 s at 2.45 s a pass).
PASSES_PER_FILE = 4.5
#: The networks searched by default: those of the shipped table, and two wider ones.
DEFAULT_NETWORKS: tuple[Network, ...] = (
    (4, 6, 2, 1, 1), (6, 12, 2, 1, 1), (6, (26, 6), 2, 1, 2), (6, 12, 2, 1, 2), (6, (26, 9, 9), 2, 1, 3),
    (6, 12, 2, 1, 3), (6, (60, 12, 12), 2, 1, 3), (6, 12, 2, 1, 4), (8, 16, 2, 1, 2), (8, 16, 2, 1, 3),
)
#: The format name and version of a rate-control table file: version 2 when a preset carries a
#: readout or link (which a version-1 reader would ignore, building another network), else 1.
TABLE_FORMAT, TABLE_VERSION = "quinr-rate-table", 1
TABLE_VERSION_OPTIONS = 2


@dataclass(frozen=True)
class Candidate:
    """One network of the search and how it is trained."""

    network: Network  # Nq, M (or one per block), R, E, blocks
    steps: int = 1000
    qat_steps: int = 0
    init_freq: float | tuple[float, ...] = INIT_FREQ  # TrainConfig.init_freq
    lr: float = DEFAULT_LR  # TrainConfig.lr
    seed: int = 0  # of the initialisation and the mini-batches
    readout: str = PAPER_READOUT  # ModelConfig.readout
    link: str = PAPER_LINK  # ModelConfig.link

    @property
    def key(self) -> str:
        freq = "" if self.init_freq == INIT_FREQ else "/f" + ",".join(
            f"{v:g}" for v in (self.init_freq if isinstance(self.init_freq, tuple) else (self.init_freq,)))
        lr = "" if self.lr == DEFAULT_LR else f"/lr{self.lr:g}"
        seed = f"/s{self.seed}" if self.seed else ""  # seed 0's keys stay as they were: old results resume
        return (text(self.network) + f"@{self.steps}" + (f"+qat{self.qat_steps}" if self.qat_steps else "")
                + options_text(self.options) + freq + lr + seed)

    @property
    def options(self) -> dict[str, str]:
        """The model options that are not the paper's (what a row and a table preset carry)."""
        return model_options(self.readout, self.link)

    def model(self, signal: Signal) -> ModelConfig:
        return network_model(self.network, signal, **self.options)

    def train(self) -> TrainConfig:
        return TrainConfig(steps=self.steps, qat_steps=self.qat_steps, seed=self.seed, init_freq=self.init_freq,
                           lr=self.lr)


def candidates(networks: tuple[Network, ...] = DEFAULT_NETWORKS, steps: int = 1000,
               qat_steps: int = 0, init_freq: float | tuple[float, ...] = INIT_FREQ,
               lr: float = DEFAULT_LR, seeds: tuple[int, ...] = (0,), readouts: tuple[str, ...] = (PAPER_READOUT,),
               links: tuple[str, ...] = (PAPER_LINK,)) -> list[Candidate]:
    """Candidates from ``NQ:M:R[:E[:B]]`` items (:mod:`quinr.networks`: E defaults to 1, B to 1 or
    the number of per-block Ms), checked as networks; each network once per readout, link (one
    that changes nothing, as any of a single block, counts as the paper's) and seed (several
    seeds: the frontier keeps the best file at every rate)."""
    if not seeds:
        raise ConfigError("the search needs at least one seed")
    for seed in seeds:
        TrainConfig(steps=steps, qat_steps=qat_steps, init_freq=init_freq, lr=lr, seed=seed)  # checked first
    out = []
    for item in networks:
        if not 3 <= len(item) <= 5:
            raise ConfigError(f"a network is NQ:M:R[:E[:B]], got {text(item)}")
        item = full(item)
        options = {}
        for readout in readouts:
            for link in links:  # a link that changes nothing is the "z" network (ModelConfig): once
                cfg = network_model(item, **model_options(readout, link))
                options[cfg.readout, cfg.link] = None
        out += [Candidate(item, steps, qat_steps, init_freq, lr, seed, readout, link)
                for readout, link in options for seed in dict.fromkeys(seeds)]
    return out


@dataclass(frozen=True)
class Point:
    """One written file of the search."""

    candidate: str
    rule: str
    n_bytes: int
    bpp: float
    psnr: float
    bits: tuple[int, ...]


@dataclass
class SearchResult:
    rows: list[dict[str, Any]]  # one per candidate measured (resumed ones included)
    skipped: list[tuple[str, str]]  # (candidate, why)
    seconds: float

    @property
    def points(self) -> list[Point]:
        return [Point(r["candidate"], f["rule"], f["bytes"], f["bpp"], f["psnr"], tuple(f["bits"]))
                for r in self.rows for f in r["files"] if "bytes" in f]

    def frontier(self) -> list[Point]:
        """The points no other point beats: fewer or equal bytes and a higher PSNR."""
        out: list[Point] = []
        for p in sorted(self.points, key=lambda p: (p.n_bytes, -p.psnr)):
            if not out or p.psnr > out[-1].psnr:
                out.append(p)
        return out


def fingerprint(signal: Signal) -> str:
    """What a results file is tied to: the signal's values, grid and kind."""
    h = hashlib.sha256(signal.data.tobytes())
    h.update(f"{signal.data.shape} {signal.data.dtype} {signal.kind.value} {signal.vmin} {signal.vmax}".encode())
    return h.hexdigest()[:16]


def estimate_seconds(signal: Signal, cand: Candidate, ladder: tuple[float, ...] = LADDER) -> float:
    """Time of :func:`measure` on this machine: two timed trainings of a few steps give the time
    of a step and a training's fixed cost (its set-up and final measurement, which a probe of a
    few steps alone would spread over them: it overestimated 1,000 steps by 3-4x), plus the
    periodic measurement of the best checkpoint (on a large signal, a pass over a fixed subset
    every ``eval_every`` steps: about a tenth of a training), plus :data:`PASSES_PER_FILE` passes
    over the signal per file (its decode and the bit allocator's samples)."""
    cfg, train = cand.model(signal), cand.train()
    net = QuINR(cfg, seed=cand.seed, init_freq=cand.init_freq)
    coords, values = _tensors(signal)

    def timed(steps: int) -> float:
        t0 = time.perf_counter()
        fit(net, coords, values, replace(train, steps=steps, qat_steps=0, eval_every=1000))
        return time.perf_counter() - t0

    timed(PROBE_STEPS[0])  # warm-up: caches, first allocations
    short, long = (timed(k) for k in PROBE_STEPS)
    extra = PROBE_STEPS[1] - PROBE_STEPS[0]
    per_step = (long - short) / extra if long > short else long / PROBE_STEPS[1]  # (noise: the plain ratio)
    fixed = max(short - PROBE_STEPS[0] * per_step, 0.0)
    sample = coords[: min(len(coords), 16384)]
    t0 = time.perf_counter()
    with torch.no_grad():
        net.predict(sample)
    per_pass = (time.perf_counter() - t0) * len(coords) / len(sample)
    files = 1 + len(ladder)
    trainings = 1 + (files if cand.qat_steps else 0)
    steps = cand.steps + files * cand.qat_steps
    per_eval = 0.0  # full batch: each step's loss is the measurement
    if resolve_batch(train.batch_size, len(coords)) is not None:
        per_eval = per_pass * min(len(coords), train.eval_coordinates or len(coords)) / len(coords)
    return fixed * trainings + (per_step + per_eval / train.eval_every) * steps + PASSES_PER_FILE * files * per_pass


def measure(signal: Signal, cand: Candidate, callback: Callable[[StepInfo], None] | None = None,
            ladder: tuple[float, ...] = LADDER) -> dict[str, Any]:
    """Train ``cand`` once on ``signal``; write and decode its ``--bits auto`` file and the
    ladder's files (each budget's file fine-tuned through its own bits first when the candidate
    has ``qat_steps``)."""
    cfg = cand.model(signal)
    torch.manual_seed(cand.seed)
    net = QuINR(cfg, seed=cand.seed, init_freq=cand.init_freq)
    coords, values = _tensors(signal)
    t0 = time.perf_counter()
    train = cand.train()
    fit(net, coords, values, train, callback)  # fit itself never fine-tunes: qat_steps are the files'
    net.canonicalize_()
    files = [written(signal, net, "auto", train)]
    auto_bytes = files[0]["bytes"]
    files += [written(signal, net, f"bytes:{round(k * auto_bytes)}", train) for k in ladder]
    return {"candidate": cand.key, "network": list(cand.network), **cand.options, "weights": cfg.n_params(),
            "steps": cand.steps,
            "qat_steps": cand.qat_steps, "seed": cand.seed, "seconds": time.perf_counter() - t0, "files": files}


def written(signal: Signal, net: QuINR, rule: str, train: TrainConfig | None = None) -> dict[str, Any]:
    """One file of a trained network by a ``--bits`` rule, decoded and measured (or why there is
    none); with ``train.qat_steps``, a copy of the network is fine-tuned at the rule's depths first
    (:func:`quinr.codec.fine_tune`)."""
    try:
        per = allocate(net, signal, rule)
        if train is not None and train.qat_steps:
            net = copy.deepcopy(net)
            per = fine_tune(net, signal, *_tensors(signal), train, per, rule)
    except ConfigError as exc:  # a budget below the network's smallest file
        return {"rule": rule, "error": str(exc)}
    data = write_model(net, signal, per)
    return {"rule": rule, "bytes": len(data), "bpp": 8 * len(data) / signal.pixels,
            "psnr": psnr(signal, decode(data)), "bits": list(per)}


def search(signal: Signal, cands: list[Candidate], seconds: float, out: str | Path | None = None, *,
           on_candidate: Callable[[str, int, int], None] | None = None,
           callback: Callable[[StepInfo], None] | None = None, ladder: tuple[float, ...] = LADDER) -> SearchResult:
    """Measure the candidates that fit in ``seconds`` (smallest first), resuming from ``out``;
    ``ladder``: the budgets written besides the ``--bits auto`` file, as fractions of its size."""
    if not ladder or not all(isinstance(k, (int, float)) and 0 < k <= MAX_LADDER for k in ladder):
        raise ConfigError(f"the ladder needs fractions of the auto file in (0, {MAX_LADDER:g}], got {ladder!r}")
    if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds > 0):
        raise ConfigError(f"the search needs a positive, finite time budget, got {seconds!r}")
    digest = fingerprint(signal)
    rows = _resumed(out, digest) if out is not None else []
    done = {r["candidate"] for r in rows}
    unique = {c.key: c for c in cands}  # a network listed twice is measured once
    order = sorted(unique.values(), key=lambda c: (c.model(signal).n_params(), c.key))
    start = time.perf_counter()
    skipped: list[tuple[str, str]] = []
    estimates: dict[str, float] = {}
    for i, cand in enumerate(order):
        if on_candidate is not None:
            on_candidate(cand.key, i, len(order))
        if cand.key in done:
            continue
        probe = replace(cand, seed=0).key  # a network's time does not depend on its seed: probed once
        if probe not in estimates:
            estimates[probe] = estimate_seconds(signal, cand, ladder)
        need = estimates[probe]
        left = seconds - (time.perf_counter() - start)
        if need > left:
            skipped.append((cand.key, f"needs about {need:.0f} s, {max(0.0, left):.0f} s left"))
            continue
        rows.append({**measure(signal, cand, callback, tuple(ladder)), "estimate": need, "signal": digest})
        if out is not None:
            atomic_write(Path(out), "".join(json.dumps(r) + "\n" for r in rows).encode())
    if on_candidate is not None:
        on_candidate("", len(order), len(order))
    return SearchResult(rows, skipped, time.perf_counter() - start)


def write_table(result: SearchResult, signal: Signal, path: str | Path) -> dict[str, Any]:
    """The search as a rate-control table (:func:`quinr.rate.load_table`): per network, PSNR
    against file bytes per stored weight, smallest network first."""
    presets = []
    for r in sorted(result.rows, key=lambda r: r["weights"]):
        pts = sorted((f["bytes"] / r["weights"], f["psnr"]) for f in r["files"] if "bytes" in f)
        if len(pts) >= 2:
            options = model_options(**{k: r[k] for k in ("readout", "link") if k in r})
            presets.append({"network": r["network"], **options, "curve": [[round(x, 4), round(y, 3)] for x, y in pts]})
    if not presets:
        raise ConfigError("the search measured no network with two files or more: nothing to write as a table")
    version = TABLE_VERSION_OPTIONS if any("readout" in p or "link" in p for p in presets) else TABLE_VERSION
    table = {"format": TABLE_FORMAT, "version": version,
             "kind": "range" if signal.kind is SignalKind.F32 else "image", "signal": fingerprint(signal),
             "presets": presets}
    atomic_write(Path(path), (json.dumps(table, indent=1) + "\n").encode())
    return table


def _tensors(signal: Signal) -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.from_numpy(coordinates(*signal.grid)),
            torch.from_numpy(signal.normalized().reshape(-1, signal.channels)))


def _resumed(out: str | Path, digest: str) -> list[dict[str, Any]]:
    p = Path(out)
    if not p.exists():
        return []
    rows = []
    for n, line in enumerate(read_bytes(p, "search results", 1 << 26).decode("utf-8", "replace").splitlines(), 1):
        try:
            row = json.loads(line)
            ok = isinstance(row, dict) and isinstance(row.get("candidate"), str) and isinstance(row.get("files"), list)
        except json.JSONDecodeError:
            ok = False
        if not ok:
            raise ConfigError(f"{p}: line {n} is not a search result; give another --out")
        if row.get("signal") != digest:
            raise ConfigError(f"{p} holds the search of another signal; give another --out")
        rows.append(row)
    return rows
