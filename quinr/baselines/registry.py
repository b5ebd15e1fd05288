"""The codecs a rate-distortion sweep compares: one registry that ``quinr rd`` iterates.

Each codec is an :class:`RDCodec`: its name, what it says about itself in the results file, the
options it takes (each becomes ``quinr rd --<codec>-<option>`` and a ``<codec>_<option>`` setting
of :class:`quinr.rd.RDConfig`), which signals it can encode, how a sweep's settings become tasks,
and how one task becomes rate-distortion points. Adding a codec is one class and one line in
:data:`BUILTIN`; the sweep, its resumable layout, the engines, the plot and the command line need
no change.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import ConfigError
from ..signal import Signal


@dataclass
class RDInput:
    """The signal of a sweep (what every codec encodes) and, for LiDAR scans, what the range metrics
    need. Made by :func:`quinr.rd.load_input`."""

    signal: Signal
    name: str
    digest: str
    lidar: bool = False


def metrics(inp: RDInput, decoded: Signal) -> dict[str, float]:
    """PSNR (and MS-SSIM for images large enough to have one) of a decoded signal against the
    sweep's, and, for a LiDAR range image, range metrics."""
    from ..fidelity import ms_ssim
    from ..signal import psnr

    out = {"psnr": psnr(inp.signal, decoded)}
    if not inp.lidar and (m := ms_ssim(inp.signal, decoded)) is not None:
        out["ms_ssim"] = m
    if inp.lidar:
        from ..lidar import range_metrics

        m = range_metrics(inp.signal.data[..., 0], decoded.data[..., 0])
        out.update({k: m[k] for k in ("rmse_m", "mae_m", "mask_accuracy", "chamfer_m")})
    return out


#: Registered codecs (``"module:Class"`` or the class itself), in the order sweeps run and plots
#: list them.
BUILTIN: dict[str, str | type[RDCodec]] = {
    "quinr": "quinr.baselines.quinr_codec:QuinrCodec",
    "siren": "quinr.baselines.siren:SirenCodec",
    "coin": "quinr.baselines.coin:CoinCodec",
    "jpeg2000": "quinr.baselines.jpeg2000:Jpeg2000Codec",
}


@dataclass(frozen=True)
class CodecOption:
    """One setting of a codec in a sweep: its default, how the command line's text becomes a value
    (raising :class:`ValueError` on bad text), and whether ``--points N`` keeps its first N items."""

    default: Any
    parse: Callable[[str], Any]
    help: str
    metavar: str
    points: bool = False

    def from_text(self, codec: str, name: str, text: str) -> Any:
        try:
            return self.parse(text)
        except (ValueError, TypeError):
            raise ConfigError(f"--{codec}-{name} {text!r}: {self.help} ({self.metavar})") from None


class RDCodec:
    """A codec in a rate-distortion sweep (see the module docstring)."""

    name: ClassVar[str]
    #: option name -> declaration
    options: ClassVar[dict[str, CodecOption]] = {}
    #: results files whose points are reduced to their Pareto frontier (one network, many rates)
    frontier: ClassVar[bool] = False
    #: another codec whose settings this one's unset (None) options take (an equal-size control)
    follows: ClassVar[str | None] = None

    def unsupported(self, inp: RDInput) -> str | None:
        """Why this codec cannot encode the sweep's signal (None when it can)."""
        return None

    def plan(self, inp: RDInput, settings: dict[str, Any], seed: int) -> list[tuple[str, dict[str, Any]]]:
        """The sweep's tasks: (results name, parameters); the parameters identify a task's result."""
        raise NotImplementedError

    def run(self, inp: RDInput, params: dict[str, Any], step: Callable[[int, int], None] | None = None,
            ) -> list[dict[str, Any]]:
        """Evaluate one task: its points, each with ``bpp`` (from a real file) and metrics.
        Codecs that train call ``step(done, total)`` after every training step (progress bars)."""
        raise NotImplementedError

    def describe(self, results: str, settings: dict[str, Any]) -> str:
        """The ``description`` of a results file."""
        raise NotImplementedError


def codecs() -> dict[str, RDCodec]:
    """Every registered codec by name, in :data:`BUILTIN` order."""
    out = {}
    for name, target in BUILTIN.items():
        if isinstance(target, str):
            module, attr = target.split(":")
            target = getattr(importlib.import_module(module), attr)
        out[name] = target()
    return out


def int_list(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v.strip())


def float_list(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(",") if v.strip())


def str_list(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def run_task(inp: RDInput, task: Any, step: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """Evaluate one task through the codec that planned it (``step``: its training progress)."""
    import inspect

    codec = codecs()[task.family]
    if step is not None and "step" in inspect.signature(codec.run).parameters:  # codecs written before it: none
        return codec.run(inp, task.params, step)
    return codec.run(inp, task.params)
