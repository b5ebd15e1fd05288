"""The equal-size classical control: a SIREN with as many stored weights as a quinr network.

Every R-D plot should answer "what does the quantum part buy?". COIN answers a different question
(its networks are 5-30x larger and stored as fp16). The control here is matched to quinr point by
point: for each network of the quinr sweep (``--siren-grid``, by default quinr's own grid) a SIREN
(``layers`` sine layers, w0 = 30, a linear output) whose width gives the closest number of
weights; trained by quinr's own trainer (:func:`quinr.train.fit`: AdamW, the cosine schedule, the
same steps and mini-batches, the best checkpoint); written at the same bit depths (``auto``
included) with the same per-tensor quantization and entropy coding
(:func:`quinr.bitstream.pack_tensors`). Only the learning rate is its own: the quantum circuit's
0.1 diverges a SIREN (see docs/results.md for how it was chosen).

File (big-endian): ``b"SIRC"``, version u8, kind u8, height u16, width u16, channels u8, in
features u8, layers u8, width u16, w0 f32, vmin f32, vmax f32, the weights block, crc32.
"""

from __future__ import annotations

import math
import struct
import zlib
from typing import Any

import torch

from ..config import LINKS, PAPER_LINK
from ..errors import BitstreamError
from ..signal import Signal, SignalKind, coordinates
from .coin import Siren
from .quinr_codec import bit_items, choice_of, fit_to_signal, grid_items, network, written_points
from .registry import CodecOption, RDCodec, float_list

_MAGIC = b"SIRC"
_VERSION = 1
_HEADER = struct.Struct(">4sBBHHBBBHfff")
#: Decoder limits (checked before anything is allocated).
MAX_LAYERS, MAX_WIDTH = 16, 1024
#: The control's learning rates (AdamW, cosine schedule): a sweep trains each network at both and
#: keeps the better points, since the best rate depends on the signal (kodim02: 1e-2; the KITTI
#: range image: 3e-3; 1e-3 and 3e-2 lose on both, docs/results.md).
SIREN_LRS = (3e-3, 1e-2)


class ControlSiren(Siren):
    """COIN's SIREN (``layers`` sine layers of ``width`` units, w0 = 30, SIREN's initialisation, a
    linear output layer) with the trainer's and the bit allocator's interface (``forward(x,
    evaluator)``, ``predict``, ``named_tensors``)."""

    def __init__(self, in_features: int, out_features: int, layers: int, width: int, w0: float = 30.0,
                 seed: int = 0) -> None:
        super().__init__(layers, width, out_features, w0, seed, in_features)

    def forward(self, x: torch.Tensor, evaluator: Any = None) -> torch.Tensor:
        return super().forward(x)

    def predict(self, x: torch.Tensor, evaluator: Any = None, chunk: int = 1 << 16) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([self(x[i : i + chunk]) for i in range(0, x.shape[0], chunk)])

    def named_tensors(self) -> list[tuple[str, torch.Tensor]]:
        return list(self.named_parameters())


def _layers(text: str) -> int:
    layers = int(text)
    if not 1 <= layers <= MAX_LAYERS:
        raise ValueError(text)
    return layers


def n_params(in_features: int, out_features: int, layers: int, width: int) -> int:
    return in_features * width + width + (layers - 1) * (width * width + width) + width * out_features + out_features


def matched_width(target: int, in_features: int, out_features: int, layers: int) -> int:
    """The width whose SIREN has the number of weights closest to ``target`` (ties: the smaller)."""
    return min(range(1, MAX_WIDTH + 1), key=lambda w: (abs(n_params(in_features, out_features, layers, w) - target), w))


def write(net: ControlSiren, signal: Signal, bits: tuple[int, ...]) -> bytes:
    """The control's file at ``bits`` per tensor (the quinr file's weights block)."""
    from ..bitstream import pack_tensors
    from ..quant import quantize

    h, w = (signal.grid[0], signal.grid[-1]) if len(signal.grid) == 2 else (1, signal.grid[0])
    layers, width = len(net.hidden), net.last.weight.shape[1]
    head = _HEADER.pack(_MAGIC, _VERSION, int(signal.kind), h, w, signal.channels, len(signal.grid), layers, width,
                        net.w0, signal.vmin, signal.vmax)
    tensors = [quantize(t.detach().cpu().numpy(), b) for (_, t), b in zip(net.named_tensors(), bits, strict=True)]
    body = head + pack_tensors(tensors, bits, 3)
    return body + struct.pack(">I", zlib.crc32(body))


def decode(data: bytes) -> Signal:
    """Rebuild the control network from its file, checking the header before any allocation."""
    from ..bitstream import read_tensors
    from ..quant import dequantize

    if len(data) < _HEADER.size + 4:
        raise BitstreamError("not a SIREN control file: too short")
    magic, version, kind, h, w, c, dims, layers, width, w0, vmin, vmax = _HEADER.unpack_from(data)
    if magic != _MAGIC or version != _VERSION:
        raise BitstreamError("not a SIREN control file (magic or version)")
    if kind not in (0, 1, 2) or not (h >= 1 and w >= 1 and 1 <= c <= 4 and dims in (1, 2) and 1 <= layers <= MAX_LAYERS
                                     and 1 <= width <= MAX_WIDTH and math.isfinite(w0) and 0 < w0 <= 1e4
                                     and math.isfinite(vmin) and math.isfinite(vmax)):
        raise BitstreamError("SIREN control header out of range")
    net = ControlSiren(dims, c, layers, width, w0)
    shapes = [(name, tuple(p.shape)) for name, p in net.named_tensors()]
    tensors, bits = read_tensors(data, _HEADER.size, shapes, 3)
    grid = (h, w) if dims == 2 else (w,)
    with torch.no_grad():
        for (_, p), t, b in zip(net.named_tensors(), tensors, bits, strict=True):
            p.copy_(torch.from_numpy(dequantize(t, b)).view_as(p))
        out = net.predict(torch.from_numpy(coordinates(*grid)))
    return Signal.from_normalized(out.numpy().reshape(*grid, c), SignalKind(kind), vmin, vmax)


class SirenCodec(RDCodec):
    """The equal-size classical control (see the module docstring). Unset options follow quinr's."""

    name = "siren"
    frontier = True
    follows = "quinr"
    options = {
        "grid": CodecOption(None, grid_items, "quinr networks to match in weights (default: quinr's grid)", "NQ:M:R,...",
                            points=True),
        "bits": CodecOption(None, bit_items, "bit depths (default: quinr's)", "B,..."),
        "steps": CodecOption(None, int, "training steps (default: quinr's)", "N"),
        "batch": CodecOption(None, int, "coordinates per step (default: quinr's)", "N"),
        "layers": CodecOption(2, _layers, f"sine layers (1..{MAX_LAYERS})", "N"),
        "lr": CodecOption(SIREN_LRS, float_list, "learning rate(s); several: the best point of each", "LR,..."),
        "link": CodecOption(None, choice_of(LINKS), "the quinr networks' block link, which sets their weights (quinr's)",
                            "|".join(LINKS)),
    }

    def plan(self, inp, settings, seed):
        from ..config import ModelConfig

        sig = inp.signal
        tasks, widths = [], set()
        for item in settings["grid"]:
            cfg = ModelConfig(in_features=len(sig.grid), out_features=sig.channels, **network(item),
                              link=settings["link"] or PAPER_LINK)
            width = matched_width(cfg.n_params(), len(sig.grid), sig.channels, settings["layers"])
            if width in widths:  # two quinr networks of nearly the same size: one control
                continue
            widths.add(width)
            for lr in settings["lr"]:
                tasks.append(("siren", {"layers": settings["layers"], "width": width, "matches": list(item),
                                        "lr": lr, "bits": list(settings["bits"]), "steps": settings["steps"],
                                        "batch": settings["batch"], "seed": seed}))
        return tasks

    def run(self, inp, params, step=None):
        sig = inp.signal
        torch.manual_seed(params["seed"])
        net = ControlSiren(len(sig.grid), sig.channels, params["layers"], params["width"], seed=params["seed"])
        seconds = fit_to_signal(net, inp, params, step, lr=params["lr"])
        return written_points(inp, net, params["bits"], write, decode, seconds)

    def describe(self, results, settings):
        return (f"equal-size SIREN control ({settings['layers']} sine layers, w0=30, width matched to each quinr "
                f"network's weights), {settings['steps']} steps, lr {list(settings['lr'])}, quinr's quantization and "
                "entropy coding")
