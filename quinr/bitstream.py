"""The ``.qinr`` file format (versions 3 to 6; versions 1 and 2 still read), writer and
validating reader.

Layout (all integers big-endian)::

    magic      4 bytes  b"QINR"
    version    u8       FORMAT_VERSION
    header     fixed fields (:data:`quinr.header.FIELDS`; ``bits`` is the largest per-tensor depth)
    placement  versions 4 to 6: entangler, target, layout (:func:`quinr.header.pack_placement`)
    Ms         versions 5 and 6: u16 M of each block after the first (:func:`quinr.header.pack_embed_dims`)
    link       version 6 only: u8, what blocks after the first read (:func:`quinr.header.pack_link`)
    tensors    per stored tensor, in ModelConfig.tensor_shapes() order: u8 (model << 5 | bits - 1),
               f32 lo, f32 hi; model 1 adds f32 mean, f32 std (of the integers)
    raw        the tensors with model 0 (raw), MSB-first bit packing, ceil(sum bits x size / 8)
    words      only if a tensor has model 1: u32 count, then that many u32 words, the
               range-coded tensors (constriction's RangeEncoder, a quantized Gaussian each)
    crc32      u32      zlib.crc32 of every preceding byte

Version 1 (still read): one bit depth for all tensors, f32 lo/hi per tensor, every tensor raw.
Version 3 is version 4 without the placement: the writer uses it for the paper's circuit with
nothing placed, so such files stay readable by decoders that predate version 4. Version 5 is
version 4 with one M per block: the writer uses it only when the blocks' M differ. Version 6 is
version 5 with the blocks' link: the writer uses it only when blocks connect otherwise than by
the previous block's <Z>.

The writer picks a model per tensor: the quantized Gaussian when coding against it (plus its 8
bytes of parameters) is smaller than raw bits, raw otherwise (the circuit angles, spread
uniformly over a period, stay raw). Sizes drop most for the sine layer's weights.

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
from dataclasses import dataclass, replace

import numpy as np

from .entropy import MAX_MODEL_BITS
from .entropy import check_params as laplace_problem
from .entropy import decode as laplace_decode
from .entropy import encode as laplace_encode
from .entropy import fit as laplace_fit
from .errors import BitstreamError, ConfigError
from .gaussian_coder import MAX_CODED_BITS
from .gaussian_coder import cost as gaussian_cost
from .gaussian_coder import decode as gaussian_decode
from .gaussian_coder import encode as gaussian_encode
from .header import (
    FIXED,
    OFFSET,
    OUTPUT_LAST_AFFINE_QRELU,
    SHUFFLE_SPLITMIX,
    Header,
    pack_embed_dims,
    pack_link,
    pack_placement,
)
from .header import pack as pack_header
from .header import unpack as unpack_header
from .networks import field
from .quant import MAX_BITS, MIN_BITS, QuantizedTensor

__all__ = ["FORMAT_VERSION", "MAGIC", "OUTPUT_LAST_AFFINE_QRELU", "SHUFFLE_SPLITMIX", "Bitstream", "Header",
           "pack_tensors", "read", "read_tensors", "stored_bits", "write"]

MAGIC = b"QINR"
FORMAT_VERSION = 6
READABLE_VERSIONS = (1, 2, 3, 4, 5, 6)

#: Entropy models of a stored tensor. Ids only grow. 1 is version 2's, 2 is version 3's.
MODEL_RAW = 0
MODEL_GAUSSIAN = 1
MODEL_LAPLACE = 2
#: Largest magnitude of a stored tensor's quantization range. Trained weights stay many orders
#: below it (angles within a period, gains of at most 2^Nq); above it float32 arithmetic in the
#: decoder could overflow to inf and NaN, so a file that asks for more is refused.
MAX_WEIGHT = 2.0**32

_FIXED = FIXED
_RANGE = struct.Struct(">ff")
_TENSOR = struct.Struct(">Bff")  # model << 5 | bits - 1, lo, hi
_GAUSS = struct.Struct(">ff")  # model 1 (v2): mean, std of the integers
_LAPLACE = struct.Struct(">IH")  # model 2 (v3): centre mu, ratio q (out of 2^16)
_COUNT = struct.Struct(">I")
_PREFIX = OFFSET
_CRC = 4


@dataclass(frozen=True)
class Bitstream:
    header: Header
    tensors: list[QuantizedTensor]


def payload_bytes(n_params: int, bits: int) -> int:
    return (n_params * bits + 7) // 8


def file_size(header: Header) -> int:
    """Exact size in bytes of a version-1 file with this header."""
    n_tensors = len(header.model.tensor_shapes())
    return _PREFIX + _FIXED.size + n_tensors * _RANGE.size + payload_bytes(header.model.n_params(), header.bits) + _CRC


# ------------------------------------------------------------------------------------- writer
def write(header: Header, tensors: list[QuantizedTensor], version: int | None = None) -> bytes:
    """Serialise a header and its quantized tensors: format version 6 when the blocks connect
    otherwise than by <Z> (``ModelConfig.link``), 5 when the blocks' M differ, 4 when the circuit is not the paper's or is placed on a device, else 3 (the same bytes without
    the placement); ``version`` forces one (2 for the golden files).

    Each tensor is stored raw, or, when that is smaller (parameters included), entropy coded: in
    versions 3 to 6 with the integer-exact discrete-Laplace model and rANS (:mod:`quinr.entropy`),
    in version 2 with constriction's quantized Gaussian (:mod:`quinr.gaussian_coder`)."""
    m = header.model
    if version is None:
        version = 6 if m.link != "z" else 5 if m.embed_dims else 3 if m.spec.is_paper_circuit else 4
    if version not in (2, 3, 4, 5, 6):
        raise ConfigError(f"quinr writes format versions 2 to 6, not {version}")
    if version < 4 and not m.spec.is_paper_circuit:
        raise ConfigError(f"format version {version} stores the paper's all-pairs circuit only; "
                          f"this one needs version 4 ({m.spec.describe_target() or m.spec.entangler})")
    if version < 5 and m.embed_dims:
        raise ConfigError(f"format version {version} stores one M for every block; blocks of M "
                          f"{field(m.embed_dims)} need version 5")
    if version < 6 and m.link != "z":
        raise ConfigError(f"format version {version} connects blocks by <Z> only; link {m.link} needs version 6")
    shapes = m.tensor_shapes()
    if len(tensors) != len(shapes) or any(t.shape != s for t, (_, s) in zip(tensors, shapes, strict=True)):
        raise ConfigError("tensors do not match the model configuration")
    if m.out_features != header.channels:
        raise ConfigError(f"model has {m.out_features} outputs but the signal has {header.channels} channels")
    bits = header.bits_of()
    if len(bits) != len(shapes) or any(not MIN_BITS <= b <= MAX_BITS for b in bits):
        raise ConfigError(f"need one bit depth in [{MIN_BITS}, {MAX_BITS}] per tensor, got {bits}")
    for (name, _), t, b in zip(shapes, tensors, bits, strict=True):
        if t.values.size and (t.values.min() < 0 or t.values.max() >= (1 << b)):
            raise ConfigError(f"quantized values do not fit in {b} bits")
        if not (math.isfinite(t.lo) and math.isfinite(t.hi) and max(abs(t.lo), abs(t.hi)) <= MAX_WEIGHT):
            raise ConfigError(f"tensor {name} has weights beyond +-2^32 ({t.lo:g}..{t.hi:g}); training diverged")
    placement = ((pack_placement(m.spec) if version >= 4 else b"") + (pack_embed_dims(m) if version >= 5 else b"")
                 + (pack_link(m) if version >= 6 else b""))
    body = MAGIC + bytes([version]) + pack_header(header) + placement + pack_tensors(tensors, bits, version)
    return body + struct.pack(">I", zlib.crc32(body))


def pack_tensors(tensors: list[QuantizedTensor], bits: tuple[int, ...], version: int = FORMAT_VERSION) -> bytes:
    """The weights block of a file (``version`` 2 to 6): the tensor table, the raw tensors, the
    entropy-coded ones. Shared with the SIREN control codec, so that both store their weights
    with the same quantization and entropy coding."""
    table, raw, coded = [], [], []
    for t, b in zip(tensors, bits, strict=True):
        model, params, _ = _tensor_model(t, b, version)
        entry = _TENSOR.pack(model << 5 | (b - 1), t.lo, t.hi)
        if model == MODEL_RAW:
            table.append(entry)
            raw.append((t.values, b))
        else:
            table.append(entry + (_GAUSS if version == 2 else _LAPLACE).pack(*params))
            coded.append((t.values, b, *params))
    if version == 2:
        words = gaussian_encode(coded)
        tail = _COUNT.pack(len(words)) + words.astype(">u4").tobytes() if coded else b""
    else:
        stream = laplace_encode(coded) if coded else b""
        tail = _COUNT.pack(len(stream)) + stream if coded else b""
    return b"".join(table) + _pack_mixed(raw) + tail


def _tensor_model(t: QuantizedTensor, b: int, version: int) -> tuple[int, tuple, int]:
    """How a tensor is stored: (entropy model, its parameters, the bits it takes in the file,
    table entry included). Raw unless coding it (parameters included) is smaller."""
    raw_bits = 8 * _TENSOR.size + t.values.size * b
    if version == 2 and (gauss := gaussian_cost(t.values, b)) and gauss[0] + _GAUSS.size * 8 < t.values.size * b:
        return MODEL_GAUSSIAN, gauss[1:], 8 * (_TENSOR.size + _GAUSS.size) + gauss[0]
    if version >= 3 and b <= MAX_MODEL_BITS and t.values.size:
        mu, q, cost = laplace_fit(t.values, b)
        if cost + 8 * _LAPLACE.size < t.values.size * b:  # worth its 6 bytes of parameters
            return MODEL_LAPLACE, (mu, q), 8 * (_TENSOR.size + _LAPLACE.size) + math.ceil(cost)
    return MODEL_RAW, (), raw_bits


def stored_bits(t: QuantizedTensor, b: int, version: int = FORMAT_VERSION) -> int:
    """The bits one tensor takes in a file at ``b`` bits (its table entry and its payload; the
    file adds its header, byte padding and a few bytes of coder state): what a bit allocation
    adds up to predict a file's size without writing it."""
    return _tensor_model(t, b, version)[2]


def _pack_mixed(raw: list[tuple[np.ndarray, int]]) -> bytes:
    """MSB-first packing of several tensors, each at its own bit depth, in one bit string."""
    if not raw:
        return b""
    rows = [_bit_rows(v, b) for v, b in raw]
    return np.packbits(np.concatenate([r.ravel() for r in rows])).tobytes()


def _bit_rows(values: np.ndarray, bits: int) -> np.ndarray:
    as_bytes = values.astype(">u8").view(np.uint8).reshape(-1, 8)
    return np.unpackbits(as_bytes, axis=1)[:, 64 - bits :]


def _unpack_bits(bit_string: np.ndarray, count: int, bits: int) -> np.ndarray:
    """``count`` integers of ``bits`` bits from the start of an unpacked bit array."""
    bit_rows = bit_string[: count * bits].reshape(count, bits)
    padded = np.zeros((count, 64), np.uint8)
    padded[:, 64 - bits :] = bit_rows
    return np.packbits(padded, axis=1).view(">u8").ravel().astype(np.int64)


# ------------------------------------------------------------------------------------- reader
def read(data: bytes) -> Bitstream:
    """Parse and validate a ``.qinr`` file; raise :class:`BitstreamError` on any problem."""
    data = bytes(data)
    if not data:
        raise BitstreamError("empty file (0 bytes): not a quinr bitstream")
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise BitstreamError("not a quinr bitstream (wrong magic; expected b'QINR')")
    if len(data) < _PREFIX:
        raise BitstreamError("truncated file: no format version")
    version = data[len(MAGIC)]
    if version not in READABLE_VERSIONS:
        raise BitstreamError(f"unsupported format version {version} (this quinr reads versions "
                             f"{', '.join(map(str, READABLE_VERSIONS))})")
    if len(data) < _PREFIX + _FIXED.size + _CRC:
        raise BitstreamError(f"truncated file: {len(data)} bytes is shorter than the fixed header")
    header, end = unpack_header(data, version)
    return _read_v1(data, header) if version == 1 else _read_coded(data, header, end)


def _check_crc(data: bytes, end: int) -> None:
    if len(data) > end:
        raise BitstreamError(f"{len(data) - end} unexpected trailing bytes after the CRC")
    (crc,) = struct.unpack_from(">I", data, end - _CRC)
    if zlib.crc32(data[: end - _CRC]) != crc:
        raise BitstreamError("CRC mismatch: the file is corrupt")


def _check_range(name: str, lo: float, hi: float) -> None:
    if not (math.isfinite(lo) and math.isfinite(hi) and hi >= lo):
        raise BitstreamError(f"invalid quantization range [{lo}, {hi}] for tensor {name}")
    if max(abs(lo), abs(hi)) > MAX_WEIGHT:
        raise BitstreamError(f"quantization range [{lo:g}, {hi:g}] of tensor {name} is beyond +-2^32: "
                             "no trained network has such weights")


def _read_v1(data: bytes, header: Header) -> Bitstream:
    expected = file_size(header)
    if len(data) < expected:
        raise BitstreamError(f"truncated file: header implies {expected} bytes, got {len(data)}")
    _check_crc(data, expected)
    shapes = header.model.tensor_shapes()
    off = _PREFIX + _FIXED.size
    ranges = []
    for name, _ in shapes:
        lo, hi = _RANGE.unpack_from(data, off)
        off += _RANGE.size
        _check_range(name, lo, hi)
        ranges.append((lo, hi))
    bit_string = np.unpackbits(np.frombuffer(data[off : expected - _CRC], np.uint8))
    ints = _unpack_bits(bit_string, header.model.n_params(), header.bits)
    _check_padding(bit_string, header.model.n_params() * header.bits)
    tensors, pos = [], 0
    for (_, shape), (lo, hi) in zip(shapes, ranges, strict=True):
        size = math.prod(shape)
        tensors.append(QuantizedTensor(ints[pos : pos + size], lo, hi, shape))
        pos += size
    return Bitstream(header, tensors)


def _read_coded(data: bytes, header: Header, off: int) -> Bitstream:
    """Versions 2 to 4 from ``off`` (after the header): the weights block, then the CRC."""
    tensors, bits_all = read_tensors(data, off, header.model.tensor_shapes(), header.version)
    if max(bits_all) != header.bits:
        raise BitstreamError(f"the header's bit depth {header.bits} is not the tensor table's largest, {max(bits_all)}")
    return Bitstream(replace(header, tensor_bits=bits_all), tensors)


def read_tensors(data: bytes, off: int, shapes: list[tuple[str, tuple[int, ...]]],
                 version: int = FORMAT_VERSION) -> tuple[list[QuantizedTensor], tuple[int, ...]]:
    """The weights block written by :func:`pack_tensors` at ``off``, which must end with the
    file's CRC (checked): the tensors and their bit depths. Sizes are checked against ``shapes``
    before anything is allocated."""
    coded_model = MODEL_GAUSSIAN if version == 2 else MODEL_LAPLACE
    entries = []  # (name, shape, bits, model, lo, hi, parameters)
    for name, shape in shapes:
        if len(data) < off + _TENSOR.size + _CRC:
            raise BitstreamError("truncated file: the tensor table is cut short")
        code, lo, hi = _TENSOR.unpack_from(data, off)
        bits, model = (code & 31) + 1, code >> 5
        off += _TENSOR.size
        _check_range(name, lo, hi)
        if not MIN_BITS <= bits <= MAX_BITS:
            raise BitstreamError(f"bit depth {bits} of tensor {name} is out of range {MIN_BITS}..{MAX_BITS}")
        extra: tuple = ()
        if model == coded_model:
            layout = _GAUSS if version == 2 else _LAPLACE
            if len(data) < off + layout.size + _CRC:
                raise BitstreamError("truncated file: the tensor table is cut short")
            extra = layout.unpack_from(data, off)
            off += layout.size
            problem = _gaussian_problem(bits, *extra) if version == 2 else laplace_problem(bits, *extra)
            if problem:
                raise BitstreamError(f"tensor {name}: invalid entropy-model parameters: {problem}")
        elif model != MODEL_RAW:
            raise BitstreamError(f"tensor {name}: unknown entropy model id {model} (format version {version})")
        entries.append((name, shape, bits, model, lo, hi, extra))
    raw_bits = sum(math.prod(e[1]) * e[2] for e in entries if e[3] == MODEL_RAW)
    raw_end = off + (raw_bits + 7) // 8
    any_coded = any(e[3] == coded_model for e in entries)
    count = _COUNT.size if any_coded else 0
    if len(data) < raw_end + count + _CRC:
        raise BitstreamError(f"truncated file: the weights need {raw_end + count + _CRC} bytes, got {len(data)}")
    n_units = _COUNT.unpack_from(data, raw_end)[0] if any_coded else 0
    expected = raw_end + count + (4 if version == 2 else 1) * n_units + _CRC
    if len(data) < expected:
        raise BitstreamError(f"truncated file: header implies {expected} bytes, got {len(data)}")
    _check_crc(data, expected)
    bit_string = np.unpackbits(np.frombuffer(data[off:raw_end], np.uint8))
    tail = data[raw_end + count : expected - _CRC]
    jobs = [(name, math.prod(shape), bits, *extra) for name, shape, bits, model, _, _, extra in entries
            if model == coded_model]
    if version == 2:
        decoded = gaussian_decode(np.frombuffer(tail, ">u4").astype(np.uint32), jobs) if jobs else []
    else:
        decoded = laplace_decode(tail, [j[1:] for j in jobs]) if jobs else []
    tensors, pos, k = [], 0, 0
    for _, shape, bits, model, lo, hi, _ in entries:
        size = math.prod(shape)
        if model == MODEL_RAW:
            ints = _unpack_bits(bit_string[pos:], size, bits)
            pos += size * bits
        else:
            ints, k = decoded[k], k + 1
        tensors.append(QuantizedTensor(ints, lo, hi, shape))
    _check_padding(bit_string, pos)
    return tensors, tuple(e[2] for e in entries)


def _check_padding(bit_string: np.ndarray, used: int) -> None:
    """The raw bit string is padded to a byte with zero bits (section 4): anything else is damage."""
    if bit_string[used:].any():
        raise BitstreamError("the raw weights' padding bits are not zero: the file is damaged")


def _gaussian_problem(bits: int, mean: float, std: float) -> str | None:
    if bits > MAX_CODED_BITS:
        return f"range-coded tensors have at most {MAX_CODED_BITS} bits"
    if not (math.isfinite(mean) and math.isfinite(std) and 0 < std < 2.0**32 and abs(mean) < 2.0**32):
        return f"({mean}, {std})"
    return None
