"""COIN (Dupont et al. 2021): a SIREN overfitted to the image, its weights stored as fp16.

Faithful to the reference code (``EmilienDupont/coin``) where it matters for the rate-distortion
comparison: sin(w0 x) with w0 = 30 in every hidden layer, a linear last layer, SIREN's
initialisation (U(+-1/dim_in) first, U(+-sqrt(6/dim_in)/w0) after), Adam at lr 2e-4, full-batch
MSE, the best model (by PSNR) found in the second half of training, then fp16 weights. Two
deliberate differences, both in COIN's favour or neutral: coordinates are quinr's (both axes in
[-1, 1]; COIN divides both by H-1, so landscape images span [-1, 2] in x), and the rate comes
from a real file (a 32-byte header + the fp16 weights) rather than from the parameter count.

The COIN paper's configurations are in :data:`COIN_CONFIGS` ("layers x width"; layers counts the
sine layers). Its 50,000 iterations take hours per image on a CPU; ``iters`` says how many ran.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..errors import BitstreamError, ConfigError
from ..signal import Signal, SignalKind, coordinates, psnr
from .registry import CodecOption, RDCodec, str_list

#: COIN's architectures, smallest first (the 5 x 14 point of its results has no listed
#: architecture; 5 x 14 matches its 0.0368 bpp).
COIN_CONFIGS: dict[str, tuple[int, int]] = {
    "5x14": (5, 14), "5x20": (5, 20), "5x30": (5, 30), "10x28": (10, 28), "10x40": (10, 40), "13x49": (13, 49),
}
_MAGIC = b"COIN"
_HEADER = struct.Struct("<4sBBHHHBBff")  # magic, version, kind, H, W, width, layers, channels, vmin, vmax
_VERSION = 1


class Siren(nn.Module):
    """SIREN with ``layers`` sine layers of ``width`` units and a linear output layer."""

    def __init__(self, layers: int, width: int, out_features: int, w0: float = 30.0, seed: int = 0,
                 in_features: int = 2) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        dims = [in_features] + [width] * layers
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True))
        self.last = nn.Linear(width, out_features)
        self.w0 = w0
        with torch.no_grad():
            for i, lin in enumerate([*self.hidden, self.last]):
                fan_in = lin.weight.shape[1]
                bound = 1.0 / fan_in if i == 0 else math.sqrt(6.0 / fan_in) / w0
                lin.weight.uniform_(-bound, bound, generator=gen)
                lin.bias.uniform_(-bound, bound, generator=gen)  # COIN's bias init (same bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for lin in self.hidden:
            x = torch.sin(self.w0 * lin(x))
        return self.last(x)


@dataclass(frozen=True)
class CoinResult:
    data: bytes
    decoded: Signal
    bpp: float
    psnr: float
    n_params: int
    iters: int
    best_iter: int


def encode(signal: Signal, config: str = "5x20", *, iters: int = 50_000, lr: float = 2e-4, seed: int = 0,
           callback=None, device: str = "cpu") -> CoinResult:
    """Fit COIN to ``signal`` (on the torch ``device``) and write its file; PSNR and bpp are
    measured on that file."""
    if config not in COIN_CONFIGS:
        raise ConfigError(f"unknown COIN configuration {config!r}; valid: {', '.join(COIN_CONFIGS)}")
    if iters < 2:
        raise ConfigError("COIN needs at least 2 iterations")
    layers, width = COIN_CONFIGS[config]
    h, w, c = signal.shape
    torch.manual_seed(seed)
    net = Siren(layers, width, c, seed=seed).to(device)
    coords = torch.from_numpy(coordinates(h, w)).to(device)
    target = torch.from_numpy(signal.normalized().reshape(-1, c)).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    best, best_iter, best_state = -math.inf, -1, None
    for it in range(iters):
        opt.zero_grad(set_to_none=True)
        pred = net(coords)
        loss = (pred - target).square().mean()
        loss.backward()
        opt.step()
        if it >= iters // 2:  # COIN keeps the best model of the second half
            with torch.no_grad():
                q = torch.round(pred.clamp(0, 1) * 255) / 255 if signal.kind is SignalKind.U8 else pred.clamp(0, 1)
                p = -10 * math.log10(max(float((q - target).square().mean()), 1e-20))
            if p > best:
                best, best_iter = p, it
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        if callback is not None:
            callback(it + 1, float(loss.detach()))
    assert best_state is not None
    net.load_state_dict(best_state)
    data = write(net.cpu(), signal, layers, width)
    decoded = decode(data)
    return CoinResult(data, decoded, 8.0 * len(data) / signal.pixels, psnr(signal, decoded),
                      sum(p.numel() for p in net.parameters()), iters, best_iter)


def write(net: Siren, signal: Signal, layers: int, width: int) -> bytes:
    h, w, c = signal.shape
    head = _HEADER.pack(_MAGIC, _VERSION, int(signal.kind), h, w, width, layers, c, signal.vmin, signal.vmax)
    weights = np.concatenate([p.detach().numpy().ravel() for p in net.parameters()]).astype("<f2")
    return head + weights.tobytes()


def decode(data: bytes) -> Signal:
    """Rebuild the SIREN from a COIN file (fp16 weights, evaluated in fp32) and render the signal."""
    if len(data) < _HEADER.size:
        raise BitstreamError("not a COIN file: too short")
    magic, version, kind, h, w, width, layers, c, vmin, vmax = _HEADER.unpack_from(data)
    if magic != _MAGIC or version != _VERSION:
        raise BitstreamError("not a COIN file (magic or version)")
    if kind not in (0, 1, 2) or not (h >= 1 and w >= 1 and 1 <= width <= 1024 and 1 <= layers <= 64 and 1 <= c <= 4):
        raise BitstreamError("COIN header out of range")
    net = Siren(layers, width, c)
    n = sum(p.numel() for p in net.parameters())
    if len(data) != _HEADER.size + 2 * n:
        raise BitstreamError(f"COIN file has {len(data) - _HEADER.size} weight bytes, the header needs {2 * n}")
    flat = torch.from_numpy(np.frombuffer(data, "<f2", offset=_HEADER.size).astype(np.float32))
    with torch.no_grad():
        i = 0
        for p in net.parameters():
            p.copy_(flat[i : i + p.numel()].view_as(p))
            i += p.numel()
        out = torch.cat([net(x) for x in torch.from_numpy(coordinates(h, w)).split(1 << 16)])
    return Signal.from_normalized(out.numpy().reshape(h, w, c), SignalKind(kind), vmin, vmax)


class CoinCodec(RDCodec):
    """COIN in a rate-distortion sweep: the paper's architectures at ``iters`` iterations."""

    name = "coin"
    options = {
        "configs": CodecOption(("5x14", "5x20", "5x30", "10x28"), str_list, "COIN architectures (layers x width)",
                               "LxW,...", points=True),
        "iters": CodecOption(50_000, int, "COIN iterations (the paper: 50,000)", "N"),
    }

    def unsupported(self, inp):
        return None if len(inp.signal.grid) == 2 else "COIN here encodes images (2-D grids)"

    def plan(self, inp, settings, seed):
        return [("coin", {"config": name, "iters": settings["iters"], "seed": seed}) for name in settings["configs"]]

    def run(self, inp, params, step=None):
        import time

        from .registry import metrics

        t0 = time.perf_counter()
        res = encode(inp.signal, params["config"], iters=params["iters"], seed=params["seed"],
                     callback=None if step is None else lambda it, _loss: step(it, params["iters"]))
        return [{"bpp": res.bpp, "bytes": len(res.data), "params": res.n_params, "best_iter": res.best_iter,
                 "train_seconds": time.perf_counter() - t0, **metrics(inp, res.decoded)}]

    def describe(self, results, settings):
        return f"COIN (SIREN w0=30, Adam 2e-4, fp16), {settings['iters']} iterations"
