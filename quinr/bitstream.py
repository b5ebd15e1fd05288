"""The ``.qinr`` file format (version 1), writer and validating reader.

Layout (all integers big-endian)::

    magic      4 bytes  b"QINR"
    version    u8       FORMAT_VERSION
    header     fixed fields (see _FIXED), then float32 lo/hi per stored tensor
    payload    ceil(n_params * bits / 8) bytes: the quantized weights, MSB-first bit packing,
               tensors in ModelConfig.tensor_shapes() order, each row-major
    crc32      u32      zlib.crc32 of every preceding byte

The header holds everything the decoder needs (network configuration, signal shape, channels,
value range, quantization) and nothing about where the decode will run. Ids in it (signal kind,
shuffle scheme, output map) come from tables that only grow. Any change of layout bumps
FORMAT_VERSION and the golden files in ``tests/golden``.

The reader never trusts the file: it checks magic, version, every header field's range, and the
exact file size implied by the header *before* it allocates anything that depends on the header,
then the CRC. Every failure is a :class:`BitstreamError` naming the problem.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from .errors import BitstreamError, ConfigError
from .model import ModelConfig
from .quant import MAX_BITS, MIN_BITS, QuantizedTensor
from .signal import MAX_CHANNELS, MAX_PIXELS, MAX_SIDE, SignalKind

MAGIC = b"QINR"
FORMAT_VERSION = 1

#: Shuffle-scheme ids (re-uploading permutations). 1 = SplitMix64 Fisher-Yates, upload 0 identity.
SHUFFLE_SPLITMIX = 1
#: Output-map ids. 1 = last N_out basis-state probabilities -> per-channel affine -> QReLU.
OUTPUT_LAST_AFFINE_QRELU = 1

_FIXED = struct.Struct(
    ">"
    "B"  # signal kind
    "H"  # height
    "H"  # width
    "B"  # channels (= out_features)
    "f"  # vmin
    "f"  # vmax
    "B"  # in_features
    "B"  # n_qubits
    "H"  # embed_dim
    "B"  # reuploads
    "B"  # layers
    "B"  # blocks
    "B"  # shuffle scheme
    "I"  # shuffle seed
    "f"  # w0
    "f"  # angle_scale
    "B"  # output map
    "B"  # bits
)
_RANGE = struct.Struct(">ff")
_PREFIX = len(MAGIC) + 1
_CRC = 4


@dataclass(frozen=True)
class Header:
    """Decoded header of a ``.qinr`` file."""

    kind: SignalKind
    height: int
    width: int
    channels: int
    vmin: float
    vmax: float
    model: ModelConfig
    bits: int

    @property
    def pixels(self) -> int:
        return self.height * self.width


@dataclass(frozen=True)
class Bitstream:
    header: Header
    tensors: list[QuantizedTensor]


def payload_bytes(n_params: int, bits: int) -> int:
    return (n_params * bits + 7) // 8


def file_size(header: Header) -> int:
    """Exact size in bytes of a file with this header."""
    n_tensors = len(header.model.tensor_shapes())
    return _PREFIX + _FIXED.size + n_tensors * _RANGE.size + payload_bytes(header.model.n_params(), header.bits) + _CRC


# ------------------------------------------------------------------------------------- writer
def write(header: Header, tensors: list[QuantizedTensor]) -> bytes:
    """Serialise a header and its quantized tensors."""
    m = header.model
    shapes = m.tensor_shapes()
    if len(tensors) != len(shapes) or any(t.shape != s for t, (_, s) in zip(tensors, shapes, strict=True)):
        raise ConfigError("tensors do not match the model configuration")
    if m.out_features != header.channels:
        raise ConfigError(f"model has {m.out_features} outputs but the signal has {header.channels} channels")
    fixed = _FIXED.pack(
        int(header.kind),
        header.height,
        header.width,
        header.channels,
        header.vmin,
        header.vmax,
        m.in_features,
        m.n_qubits,
        m.embed_dim,
        m.reuploads,
        m.layers,
        m.blocks,
        SHUFFLE_SPLITMIX,
        m.shuffle_seed,
        m.w0,
        m.angle_scale,
        OUTPUT_LAST_AFFINE_QRELU,
        header.bits,
    )
    ranges = b"".join(_RANGE.pack(t.lo, t.hi) for t in tensors)
    ints = np.concatenate([t.values for t in tensors])
    if ints.size and (ints.min() < 0 or ints.max() >= (1 << header.bits)):
        raise ConfigError(f"quantized values do not fit in {header.bits} bits")
    body = MAGIC + bytes([FORMAT_VERSION]) + fixed + ranges + _pack_bits(ints, header.bits)
    return body + struct.pack(">I", zlib.crc32(body))


def _pack_bits(values: np.ndarray, bits: int) -> bytes:
    """MSB-first packing of non-negative integers of ``bits`` bits each."""
    as_bytes = values.astype(">u8").view(np.uint8).reshape(-1, 8)
    bit_rows = np.unpackbits(as_bytes, axis=1)[:, 64 - bits :]
    return np.packbits(bit_rows.ravel()).tobytes()


def _unpack_bits(data: bytes, count: int, bits: int) -> np.ndarray:
    bit_rows = np.unpackbits(np.frombuffer(data, np.uint8))[: count * bits].reshape(count, bits)
    padded = np.zeros((count, 64), np.uint8)
    padded[:, 64 - bits :] = bit_rows
    return np.packbits(padded, axis=1).view(">u8").ravel().astype(np.int64)


# ------------------------------------------------------------------------------------- reader
def read(data: bytes) -> Bitstream:
    """Parse and validate a ``.qinr`` file; raise :class:`BitstreamError` on any problem."""
    data = bytes(data)
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise BitstreamError("not a quinr bitstream (wrong magic; expected b'QINR')")
    if len(data) < _PREFIX:
        raise BitstreamError("truncated file: no format version")
    version = data[len(MAGIC)]
    if version != FORMAT_VERSION:
        raise BitstreamError(f"unsupported format version {version} (this quinr reads version {FORMAT_VERSION})")
    if len(data) < _PREFIX + _FIXED.size + _CRC:
        raise BitstreamError(f"truncated file: {len(data)} bytes is shorter than the fixed header")
    header = _parse_header(_FIXED.unpack_from(data, _PREFIX))
    expected = file_size(header)
    if len(data) < expected:
        raise BitstreamError(f"truncated file: header implies {expected} bytes, got {len(data)}")
    if len(data) > expected:
        raise BitstreamError(f"{len(data) - expected} unexpected trailing bytes after the CRC")
    (crc,) = struct.unpack_from(">I", data, expected - _CRC)
    if zlib.crc32(data[: expected - _CRC]) != crc:
        raise BitstreamError("CRC mismatch: the file is corrupt")
    shapes = header.model.tensor_shapes()
    off = _PREFIX + _FIXED.size
    ranges = []
    for name, _ in shapes:
        lo, hi = _RANGE.unpack_from(data, off)
        off += _RANGE.size
        if not (math.isfinite(lo) and math.isfinite(hi) and hi >= lo):
            raise BitstreamError(f"invalid quantization range [{lo}, {hi}] for tensor {name}")
        ranges.append((lo, hi))
    n_params = header.model.n_params()
    ints = _unpack_bits(data[off : expected - _CRC], n_params, header.bits)
    tensors, pos = [], 0
    for (_, shape), (lo, hi) in zip(shapes, ranges, strict=True):
        size = math.prod(shape)
        tensors.append(QuantizedTensor(ints[pos : pos + size], lo, hi, shape))
        pos += size
    return Bitstream(header, tensors)


def _parse_header(fields: tuple) -> Header:
    (kind, height, width, channels, vmin, vmax, n_in, n_qubits, embed_dim, reuploads, layers, blocks,
     shuffle, seed, w0, angle_scale, output_map, bits) = fields  # fmt: skip
    try:
        kind = SignalKind(kind)
    except ValueError:
        raise BitstreamError(f"unknown signal kind id {kind}") from None
    if shuffle != SHUFFLE_SPLITMIX:
        raise BitstreamError(f"unknown shuffle scheme id {shuffle}")
    if output_map != OUTPUT_LAST_AFFINE_QRELU:
        raise BitstreamError(f"unknown output map id {output_map}")
    if not (1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE and height * width <= MAX_PIXELS):
        raise BitstreamError(f"signal size {height}x{width} is out of range (at most {MAX_PIXELS} pixels)")
    if not 1 <= channels <= MAX_CHANNELS:
        raise BitstreamError(f"channel count {channels} is out of range 1..{MAX_CHANNELS}")
    if not (math.isfinite(vmin) and math.isfinite(vmax) and vmax >= vmin):
        raise BitstreamError(f"invalid value range [{vmin}, {vmax}]")
    if not MIN_BITS <= bits <= MAX_BITS:
        raise BitstreamError(f"bit depth {bits} is out of range {MIN_BITS}..{MAX_BITS}")
    try:
        model = ModelConfig(
            in_features=n_in,
            out_features=channels,
            n_qubits=n_qubits,
            embed_dim=embed_dim,
            reuploads=reuploads,
            layers=layers,
            blocks=blocks,
            shuffle_seed=seed,
            w0=w0,
            angle_scale=angle_scale,
        )
    except ConfigError as exc:
        raise BitstreamError(f"invalid network configuration in header: {exc}") from None
    if n_in != 2:
        raise BitstreamError(f"in_features={n_in}: this quinr decodes 2-D signals only")
    return Header(kind, height, width, channels, vmin, vmax, model, bits)
