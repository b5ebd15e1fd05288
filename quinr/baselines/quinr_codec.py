"""quinr itself, as a rate-distortion sweep sees it: a grid of networks (Nq, M, R), each trained once
and written at every bit depth of the sweep (quantization needs no retraining); the results file
is the Pareto frontier of all points, every point kept under ``all_points``."""

from __future__ import annotations

import time
from typing import Any

from ..bitstream import FORMAT_VERSION
from .registry import CodecOption, RDCodec


def _grid(text: str) -> tuple[tuple[int, int, int], ...]:
    grid = tuple(tuple(int(v) for v in item.split(":")) for item in text.split(",") if item.strip())
    if not grid or any(len(g) != 3 for g in grid):
        raise ValueError(text)
    return grid


def _bits(text: str) -> tuple[int | str, ...]:
    return tuple(b.strip() if b.strip() == "auto" else int(b) for b in text.split(",") if b.strip())


class QuinrCodec(RDCodec):
    name = "quinr"
    frontier = True
    options = {
        "grid": CodecOption(((6, 12, 2), (8, 24, 2), (8, 32, 3), (10, 40, 2)), _grid,
                            "networks: Nq:M:R items", "NQ:M:R,...", points=True),
        "bits": CodecOption((8, 10, 12, 16, "auto"), _bits, "bit depths each network is written at; 'auto' = "
                            "per-tensor depths", "B,..."),
        "steps": CodecOption(300, int, "training steps per network", "N"),
        "batch": CodecOption(4096, int, "coordinates per training step", "N"),
    }

    def plan(self, inp, settings, seed):
        return [("quinr", {"n_qubits": nq, "embed_dim": m, "reuploads": r, "bits": list(settings["bits"]),
                           "steps": settings["steps"], "batch": settings["batch"], "seed": seed,
                           "format": FORMAT_VERSION})
                for nq, m, r in settings["grid"]]

    def run(self, inp, params: dict[str, Any], step=None) -> list[dict[str, Any]]:
        import torch

        from ..codec import choose_bits, decode, write_model
        from ..model import ModelConfig, QuINR
        from ..signal import coordinates
        from ..train import TrainConfig, fit
        from .registry import metrics

        t0 = time.perf_counter()
        sig = inp.signal
        cfg = ModelConfig(in_features=len(sig.grid), out_features=sig.channels, n_qubits=params["n_qubits"],
                          embed_dim=params["embed_dim"], reuploads=params["reuploads"])
        torch.manual_seed(params["seed"])
        net = QuINR(cfg, seed=params["seed"])
        coords = torch.from_numpy(coordinates(*sig.grid))
        values = torch.from_numpy(sig.normalized().reshape(-1, sig.channels))
        fit(net, coords, values, TrainConfig(steps=params["steps"], batch_size=params["batch"], seed=params["seed"]),
            None if step is None else lambda info: step(info.step, params["steps"]))
        net.canonicalize_()
        seconds = time.perf_counter() - t0
        points = []
        for bits in params["bits"]:
            per = choose_bits(net, sig) if bits == "auto" else bits
            data = write_model(net, sig, per)
            points.append({"bpp": 8.0 * len(data) / sig.pixels, "bytes": len(data),
                           "bits": max(per) if bits == "auto" else bits, "auto_bits": bits == "auto",
                           "params": cfg.n_params(), "train_seconds": seconds, **metrics(inp, decode(data))})
        return points

    def describe(self, results, settings):
        return (f"quINR, Pareto frontier over Nq/M/R grid {list(settings['grid'])} x bits {list(settings['bits'])}, "
                f"{settings['steps']} steps")
