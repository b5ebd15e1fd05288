"""quinr: quantum implicit neural compression (quINR) with a hardware-targeting backend system.

Public API::

    import quinr
    result = quinr.encode("image.png", "image.qinr", model=quinr.ModelConfig(n_qubits=8))
    signal = quinr.decode("image.qinr")

The names below load their modules on first use (PEP 562), so ``import quinr`` does not import
torch: the command line (:mod:`quinr.cli`) sets how torch's OpenMP threads wait before torch
loads, which it can only do if nothing imported torch first.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import __version__

if TYPE_CHECKING:
    from .circuit import CircuitSpec
    from .codec import EncodeResult, decode, encode, info, load_model, read_bitstream
    from .errors import BitstreamError, ConfigError, FileError, QuinrError, SignalError
    from .fidelity import compare
    from .hardware import decode_on_backend
    from .model import ModelConfig, QuINR
    from .signal import Signal, SignalKind, load_signal, psnr, save_signal
    from .train import TrainConfig

_HOMES = {
    "circuit": ("CircuitSpec",),
    "codec": ("EncodeResult", "decode", "encode", "info", "load_model", "read_bitstream"),
    "errors": ("BitstreamError", "ConfigError", "FileError", "QuinrError", "SignalError"),
    "fidelity": ("compare",),
    "hardware": ("decode_on_backend",),
    "model": ("ModelConfig", "QuINR"),
    "signal": ("Signal", "SignalKind", "load_signal", "psnr", "save_signal"),
    "train": ("TrainConfig",),
}
_HOME = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "BitstreamError",
    "CircuitSpec",
    "ConfigError",
    "EncodeResult",
    "FileError",
    "ModelConfig",
    "QuINR",
    "QuinrError",
    "Signal",
    "SignalError",
    "SignalKind",
    "TrainConfig",
    "compare",
    "decode",
    "decode_on_backend",
    "encode",
    "info",
    "load_model",
    "load_signal",
    "psnr",
    "read_bitstream",
    "save_signal",
    "__version__",
]


def __getattr__(name: str) -> Any:
    """A public name, or a submodule (``quinr.sim``), imported on first use. The command line is
    not imported this way: importing it sets the process's OpenMP spin (:mod:`quinr.cli`)."""
    if not name or name.startswith("_") or name == "cli":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name in _HOME:
        value = getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
        globals()[name] = value
        return value
    try:
        return importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
