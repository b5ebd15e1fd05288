"""quinr: quantum implicit neural compression (quINR) with a hardware-targeting backend system.

Public API::

    import quinr
    result = quinr.encode("image.png", "image.qinr", model=quinr.ModelConfig(n_qubits=8))
    signal = quinr.decode("image.qinr")
"""

from .circuit import CircuitSpec
from .codec import EncodeResult, decode, encode, info, load_model, read_bitstream
from .errors import BitstreamError, ConfigError, FileError, QuinrError, SignalError
from .fidelity import compare
from .hardware import decode_on_backend
from .model import ModelConfig, QuINR
from .signal import Signal, SignalKind, load_signal, psnr, save_signal
from .train import TrainConfig
from .version import __version__

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
