"""quinr itself, as a rate-distortion sweep sees it: a grid of networks (Nq, M, R), each trained once
and written at every bit depth of the sweep (quantization needs no retraining); the results file
is the Pareto frontier of all points, every point kept under ``all_points``."""

from __future__ import annotations

import time
from typing import Any

from ..bitstream import FORMAT_VERSION
from ..config import LINKS, PAPER_LINK, PAPER_READOUT, READOUTS, model_options
from ..networks import keywords, parse_networks
from .registry import CodecOption, RDCodec


def grid_items(text: str) -> tuple[tuple[Any, ...], ...]:
    """``NQ:M:R[:E[:B]]`` items (:mod:`quinr.networks`; M may be one size per block, ``A+B``)."""
    return parse_networks(text)


def bit_items(text: str) -> tuple[int | str, ...]:
    return tuple(b.strip() if b.strip() == "auto" else int(b) for b in text.split(",") if b.strip())


def choice_of(choices: tuple[str, ...]):
    """A parser of one of ``choices`` (ValueError otherwise)."""

    def parse(text: str) -> str:
        if text not in choices:
            raise ValueError(text)
        return text

    return parse


def network(item: tuple[Any, ...]) -> dict[str, Any]:
    """A grid item as :class:`~quinr.config.ModelConfig` keywords."""
    return keywords(item)


class QuinrCodec(RDCodec):
    name = "quinr"
    frontier = True
    options = {
        "grid": CodecOption(((6, 12, 2), (8, 24, 2), (8, 32, 3), (10, 40, 2)), grid_items,
                            "networks: Nq:M:R items, optionally :E (entangling layers) and :B (stacked blocks)",
                            "NQ:M:R[:E[:B]],...", points=True),
        "bits": CodecOption((8, 10, 12, 16, "auto"), bit_items, "bit depths each network is written at; 'auto' = "
                            "per-tensor depths", "B,..."),
        "steps": CodecOption(300, int, "training steps per network", "N"),
        "batch": CodecOption(4096, int, "coordinates per training step", "N"),
        "lr": CodecOption(None, float, "learning rate of the circuit (default: the paper's 0.1)", "LR"),
        "readout": CodecOption(PAPER_READOUT, choice_of(READOUTS), "how the last block is read out (as encode --readout)",
                               "|".join(READOUTS)),
        "link": CodecOption(PAPER_LINK, choice_of(LINKS), "what blocks after the first read (as encode --link)", "|".join(LINKS)),
    }

    def plan(self, inp, settings, seed):
        tasks = []
        for item in settings["grid"]:
            net = network(item)
            extra = {k: v for k, v in net.items() if k in ("layers", "blocks") and v != 1}  # old keys stay valid
            if "embed_dims" in net:
                extra["embed_dims"] = list(net["embed_dims"])
            if settings["lr"] is not None:
                extra["lr"] = settings["lr"]
            extra.update(model_options(settings["readout"], settings["link"]))  # old keys stay valid
            tasks.append(("quinr", {"n_qubits": net["n_qubits"], "embed_dim": net["embed_dim"],
                                    "reuploads": net["reuploads"], **extra, "bits": list(settings["bits"]),
                                    "steps": settings["steps"], "batch": settings["batch"], "seed": seed,
                                    "format": FORMAT_VERSION}))
        return tasks

    def run(self, inp, params: dict[str, Any], step=None) -> list[dict[str, Any]]:
        import torch

        from ..codec import decode, write_model
        from ..model import ModelConfig, QuINR

        sig = inp.signal
        cfg = ModelConfig(in_features=len(sig.grid), out_features=sig.channels, n_qubits=params["n_qubits"],
                          embed_dim=params["embed_dim"], reuploads=params["reuploads"], layers=params.get("layers", 1),
                          blocks=params.get("blocks", 1), embed_dims=tuple(params.get("embed_dims", ())),
                          **{k: params[k] for k in ("readout", "link") if k in params})
        torch.manual_seed(params["seed"])
        net = QuINR(cfg, seed=params["seed"])
        seconds = fit_to_signal(net, inp, params, step, **({"lr": params["lr"]} if "lr" in params else {}))
        net.canonicalize_()
        return written_points(inp, net, params["bits"], write_model, decode, seconds)

    def describe(self, results, settings):
        return (f"quINR, Pareto frontier over Nq/M/R grid {list(settings['grid'])} x bits {list(settings['bits'])}, "
                f"{settings['steps']} steps" + (f", lr {settings['lr']}" if settings["lr"] is not None else "")
                + "".join(f", {k} {v}" for k, v in model_options(settings["readout"], settings["link"]).items()))


def fit_to_signal(net: Any, inp: Any, params: dict[str, Any], step=None, **train: Any) -> float:
    """Train ``net`` on the sweep's signal with quinr's trainer (``params``' steps, batch and seed;
    ``train``: other :class:`~quinr.train.TrainConfig` settings); returns the seconds it took.
    Shared by quinr and its equal-size control, so both get the same training."""
    import torch

    from ..signal import coordinates
    from ..train import TrainConfig, fit

    t0 = time.perf_counter()
    sig = inp.signal
    coords = torch.from_numpy(coordinates(*sig.grid))
    values = torch.from_numpy(sig.normalized().reshape(-1, sig.channels))
    fit(net, coords, values, TrainConfig(steps=params["steps"], batch_size=params["batch"], seed=params["seed"], **train),
        None if step is None else lambda info: step(info.step, params["steps"]))
    return time.perf_counter() - t0


def written_points(inp: Any, net: Any, bit_list: list, write: Any, decode: Any, seconds: float) -> list[dict[str, Any]]:
    """One trained network written at every bit depth of the sweep (``"auto"``: per-tensor depths,
    :func:`quinr.allocation.choose_bits`) by ``write(net, signal, per_tensor_bits)``, each file
    decoded by ``decode`` and measured: the network's points."""
    from ..allocation import choose_bits
    from .registry import metrics

    sig = inp.signal
    n = len(net.named_tensors())
    weights = sum(t.numel() for _, t in net.named_tensors())
    points = []
    for bits in bit_list:
        per = choose_bits(net, sig) if bits == "auto" else (int(bits),) * n
        data = write(net, sig, per)
        points.append({"bpp": 8.0 * len(data) / sig.pixels, "bytes": len(data), "bits": max(per),
                       "auto_bits": bits == "auto", "params": weights, "train_seconds": seconds,
                       **metrics(inp, decode(data))})
    return points
