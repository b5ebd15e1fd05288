"""The .qinr format: golden files, round trips, and every kind of damaged input."""

from __future__ import annotations

import importlib.util
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quinr import bitstream
from quinr.bitstream import FORMAT_VERSION, MAGIC, Header
from quinr.codec import decode, info
from quinr.errors import BitstreamError
from quinr.model import ModelConfig
from quinr.quant import dequantize, quantize
from quinr.signal import SignalKind, load_signal

GOLDEN = Path(__file__).parent / "golden"


def _golden_module():
    spec = importlib.util.spec_from_file_location("make_golden", GOLDEN / "make_golden.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_golden_headers_decode_to_the_frozen_values():
    h = info(GOLDEN / "v1_rgb.qinr")
    assert (h.kind, h.height, h.width, h.channels, h.bits) == (SignalKind.U8, 12, 16, 3, 12)
    assert h.model == ModelConfig(out_features=3, n_qubits=4, embed_dim=8, shuffle_seed=11)
    f = info(GOLDEN / "v1_float_blocks.qinr")
    assert (f.kind, f.height, f.width, f.vmin, f.vmax, f.bits) == (SignalKind.F32, 8, 32, -2.5, 80.25, 16)
    assert f.model.blocks == 2 and f.model.reuploads == 3 and f.model.layers == 2
    assert abs(f.model.angle_scale - math.pi) < 1e-6


@pytest.mark.parametrize("name", ["v2_rgb.qinr", "v2_float_mixed.qinr"])
def test_writer_still_produces_the_golden_bytes(name):
    assert _golden_module().build(name) == (GOLDEN / name).read_bytes()


@pytest.mark.parametrize("version", [1, 2])
def test_golden_files_decode_to_their_reference_outputs(version):
    rgb = decode(GOLDEN / f"v{version}_rgb.qinr")
    ref = load_signal(GOLDEN / f"v{version}_rgb.png")
    diff = np.abs(rgb.data.astype(int) - ref.data.astype(int))
    assert diff.max() <= 1  # float round-off may move a value across a rounding boundary
    name = "v1_float_blocks" if version == 1 else "v2_float_mixed"
    flt = decode(GOLDEN / f"{name}.qinr")
    assert np.allclose(flt.data, np.load(GOLDEN / f"{name}.npy"), atol=1e-3)


def test_version_2_reads_per_tensor_bits_and_version_1_still_reads():
    v2 = info(GOLDEN / "v2_float_mixed.qinr")
    assert v2.version == 2 and v2.bits_of() == (10, 6, 12, 8, 7, 16, 9, 4) and v2.bits == 16
    v1 = info(GOLDEN / "v1_rgb.qinr")
    assert v1.version == 1 and v1.bits_of() == (12,) * 5
    same = bitstream.read((GOLDEN / "v1_rgb.qinr").read_bytes())
    again = bitstream.read((GOLDEN / "v2_rgb.qinr").read_bytes())
    for a, b in zip(same.tensors, again.tensors, strict=True):  # the same recipe in both formats
        assert np.array_equal(a.values, b.values) and (a.lo, a.hi) == (b.lo, b.hi)


@pytest.mark.parametrize("version, model", [(2, bitstream.MODEL_GAUSSIAN), (3, bitstream.MODEL_LAPLACE)])
def test_range_coder_shrinks_peaked_tensors_and_stays_out_of_uniform_ones(version, model):
    cfg = ModelConfig(out_features=1, n_qubits=3, embed_dim=300)
    rng = np.random.default_rng(0)
    shapes = cfg.tensor_shapes()
    def heavy(shape):  # a Gaussian bulk with two outliers that set the quantization range
        x = rng.normal(0, 1, size=shape).ravel()
        x[:2] = (-20, 20) if x.size > 2 else x[:2]
        return x.reshape(shape)

    peaked = [quantize(heavy(s), 12) for _, s in shapes]
    flat = [quantize(rng.uniform(-1, 1, size=s), 12) for _, s in shapes]
    hdr = Header(SignalKind.U8, 5, 7, 1, 0.0, 255.0, cfg, 12)
    raw_bytes = sum(t.values.size for t in peaked) * 12 / 8
    coded = bitstream.write(hdr, peaked, version)
    assert len(coded) < 0.9 * raw_bytes  # the bulk sits in a fortieth of the range: fewer bits than 12
    assert coded[5 + 36] >> 5 == model  # the first tensor went through the entropy coder
    plain = bitstream.write(hdr, flat, version)
    assert len(plain) >= raw_bytes  # uniform values are stored raw: no coder overhead
    for data, tensors in ((coded, peaked), (plain, flat)):
        back = bitstream.read(data)
        assert all(np.array_equal(a.values, b.values) for a, b in zip(tensors, back.tensors, strict=True))


@pytest.mark.parametrize("bits", [2, 7, 8, 12, 16, 23, 32])
def test_quantized_values_survive_the_round_trip_at_any_bit_depth(bits):
    cfg = ModelConfig(out_features=1, n_qubits=2, embed_dim=3)
    rng = np.random.default_rng(bits)
    tensors = [quantize(rng.normal(size=s), bits) for _, s in cfg.tensor_shapes()]
    data = bitstream.write(Header(SignalKind.U8, 5, 7, 1, 0.0, 255.0, cfg, bits), tensors)
    back = bitstream.read(data)
    assert back.header.bits_of() == (bits,) * len(tensors)
    for a, b in zip(tensors, back.tensors, strict=True):
        assert np.array_equal(a.values, b.values) and (a.lo, a.hi, a.shape) == (b.lo, b.hi, b.shape)
        assert np.array_equal(dequantize(a, bits), dequantize(b, bits))


def test_quantization_error_is_within_half_a_step():
    x = np.random.default_rng(0).uniform(-3, 3, size=1000)
    qt = quantize(x, 10)
    step = (qt.hi - qt.lo) / 1023
    assert np.max(np.abs(dequantize(qt, 10) - x)) <= 0.5 * step + 1e-6
    const = quantize(np.full(4, 2.5), 8)
    assert np.allclose(dequantize(const, 8), 2.5)


# ----------------------------------------------------------------------------------- bad input
def _valid() -> bytes:
    return (GOLDEN / "v1_rgb.qinr").read_bytes()


def _reforge(body_without_crc: bytes) -> bytes:
    """A file whose CRC is right, so the header checks themselves are exercised."""
    return body_without_crc + struct.pack(">I", zlib.crc32(body_without_crc))


def _with_field(fmt_offset: int, fmt: str, value) -> bytes:
    body = bytearray(_valid()[:-4])
    struct.pack_into(fmt, body, 5 + fmt_offset, value)
    return _reforge(bytes(body))


# offsets of header fields after magic+version (see bitstream._FIXED)
_OFF = {"kind": 0, "height": 1, "width": 3, "channels": 5, "vmin": 6, "vmax": 10, "n_in": 14, "qubits": 15,
        "embed": 16, "reuploads": 18, "layers": 19, "blocks": 20, "shuffle": 21, "seed": 22, "w0": 26,
        "angle_scale": 30, "output_map": 34, "bits": 35}

BAD_FILES = {
    "empty": (b"", "empty file"),
    "not a qinr file": (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "wrong magic"),
    "wrong magic": (b"QINX" + _valid()[4:], "wrong magic"),
    "magic only": (MAGIC, "no format version"),
    "unknown version": (MAGIC + bytes([FORMAT_VERSION + 1]) + _valid()[5:], "unsupported format version"),
    "version zero": (MAGIC + b"\0" + _valid()[5:], "unsupported format version"),
    "truncated header": (_valid()[:20], "truncated"),
    "truncated payload": (_valid()[:-10], "truncated"),
    "missing crc": (_valid()[:-4], "truncated"),
    "trailing bytes": (_valid() + b"\0", "trailing"),
    "flipped payload byte": (_valid()[:-20] + bytes([_valid()[-20] ^ 0x01]) + _valid()[-19:], "CRC"),
    "flipped crc byte": (_valid()[:-1] + bytes([_valid()[-1] ^ 0x80]), "CRC"),
    "flipped header byte": (_valid()[:8] + bytes([_valid()[8] ^ 0x01]) + _valid()[9:], "CRC|truncated|trailing"),
    "absurd pixel count": (
        _reforge(bytearray(_valid()[:-4])[:6] + struct.pack(">HH", 65535, 65535) + _valid()[10:-4]),
        "out of range",
    ),
    "zero width": (_with_field(_OFF["width"], ">H", 0), "out of range"),
    "zero channels": (_with_field(_OFF["channels"], ">B", 0), "channel count"),
    "too many channels": (_with_field(_OFF["channels"], ">B", 200), "channel count"),
    "unknown signal kind": (_with_field(_OFF["kind"], ">B", 9), "signal kind"),
    "nan value range": (_with_field(_OFF["vmax"], ">f", math.nan), "value range"),
    "inverted value range": (_with_field(_OFF["vmin"], ">f", 1e6), "value range"),
    "absurd qubit count": (_with_field(_OFF["qubits"], ">B", 255), "network configuration"),
    "absurd embedding size": (_with_field(_OFF["embed"], ">H", 65535), "network configuration"),
    "huge but valid network": (_with_field(_OFF["embed"], ">H", 4096), "truncated"),
    "zero reuploads": (_with_field(_OFF["reuploads"], ">B", 0), "network configuration"),
    "absurd layers": (_with_field(_OFF["layers"], ">B", 250), "network configuration"),
    "unknown shuffle scheme": (_with_field(_OFF["shuffle"], ">B", 7), "shuffle scheme"),
    "infinite w0": (_with_field(_OFF["w0"], ">f", math.inf), "network configuration"),
    "unknown output map": (_with_field(_OFF["output_map"], ">B", 0), "output map"),
    "zero bits": (_with_field(_OFF["bits"], ">B", 0), "bit depth"),
    "too many bits": (_with_field(_OFF["bits"], ">B", 64), "bit depth"),
    "three-d input": (_with_field(_OFF["n_in"], ">B", 3), "2-D signals"),
}


def _v2() -> bytes:
    """A version-2 file with a range-coded tensor (the coder's paths get exercised too)."""
    cfg = ModelConfig(out_features=1, n_qubits=3, embed_dim=200)
    rng = np.random.default_rng(1)
    tensors = [quantize(np.clip(rng.normal(size=s), -5, 5), 10) for _, s in cfg.tensor_shapes()]
    return bitstream.write(Header(SignalKind.U8, 4, 4, 1, 0.0, 255.0, cfg, 10), tensors, version=2)


_TABLE = 5 + 36  # the first tensor entry of a v2 file


def _v2_with(offset: int, fmt: str, value) -> bytes:
    body = bytearray(_v2()[:-4])
    struct.pack_into(fmt, body, offset, value)
    return _reforge(bytes(body))


_V2_FILE = _v2()

BAD_FILES.update({
    "v2 unknown entropy model": (_v2_with(_TABLE, ">B", 7 << 5 | 9), "unknown entropy model"),
    "v2 nan tensor range": (_v2_with(_TABLE + 1, ">f", math.nan), "quantization range"),
    "v2 coded tensor too deep": (_v2_with(_TABLE, ">B", 1 << 5 | 30), "at most 24 bits"),
    "v2 bad gaussian": (_v2_with(_TABLE + 13, ">f", -1.0), "entropy-model parameters"),
    "v2 truncated words": (_reforge(_v2()[:-12]), "truncated"),
    "v2 absurd word count": (_reforge(_v2()[:-4] + b"\0" * 8), "trailing|truncated|CRC"),
    "v2 cut in the table": (_v2()[:_TABLE + 3], "truncated"),
})


def _v3() -> bytes:
    """A version-3 file with a tensor coded by the integer-exact Laplace model (rANS)."""
    cfg = ModelConfig(out_features=1, n_qubits=3, embed_dim=200)
    rng = np.random.default_rng(1)
    tensors = [quantize(np.clip(rng.laplace(size=s), -6, 6), 10) for _, s in cfg.tensor_shapes()]
    return bitstream.write(Header(SignalKind.U8, 4, 4, 1, 0.0, 255.0, cfg, 10), tensors)


def _v3_with(offset: int, fmt: str, value) -> bytes:
    body = bytearray(_v3()[:-4])
    struct.pack_into(fmt, body, offset, value)
    return _reforge(bytes(body))


def _v2_words_swapped() -> bytes:
    """The range-coded words of a version-2 file in the wrong byte order, under a valid CRC."""
    body = bytearray(_v2()[:-4])
    # the u32 word count is followed by exactly that many words, up to the CRC
    start = next(i for i in range(_TABLE, len(body) - 4)
                 if struct.unpack_from(">I", body, i)[0] > 2 and i + 4 + 4 * struct.unpack_from(">I", body, i)[0] == len(body))
    words = np.frombuffer(bytes(body[start + 4:]), ">u4").byteswap().astype(">u4").tobytes()
    return _reforge(bytes(body[: start + 4]) + words)


_V3_FILE = _v3()
#: a version 4 file: a listed entangler, a target and a layout (conformance file c19)
_V4_FILE = (Path(__file__).parent / "conformance" / "c19_v4_listed_target.qinr").read_bytes()
_C05 = (Path(__file__).parent / "conformance" / "c05_v3_rgb_bits2to16.qinr").read_bytes()[:-4]  # 1 padding bit, all raw
_V3_STREAM = len(_V3_FILE) - 4 - 20  # a byte inside the rANS stream

BAD_FILES.update({
    "v3 model 1 is version 2's": (_v3_with(_TABLE, ">B", 1 << 5 | 9), "unknown entropy model id 1"),
    "v3 laplace centre out of range": (_v3_with(_TABLE + 9, ">I", 1 << 10), "entropy-model parameters"),
    "v3 laplace ratio zero": (_v3_with(_TABLE + 13, ">H", 0), "entropy-model parameters"),
    "v3 damaged stream under a valid CRC": (_reforge(_V3_FILE[:_V3_STREAM] + bytes([_V3_FILE[_V3_STREAM] ^ 0x5A])
                                                     + _V3_FILE[_V3_STREAM + 1 : -4]), "does not decode|ends before"),
    "v3 truncated stream": (_reforge(_V3_FILE[:-9]), "truncated"),
    "v2 words in the wrong byte order": (_v2_words_swapped(), "wrong byte order|cannot be decoded"),
    "v3 header bit depth not the table's largest": (_v3_with(5 + 35, ">B", 11), "not the tensor table's largest"),
    "non-zero padding bits": (_reforge(_C05[:-1] + bytes([_C05[-1] | 1])), "padding bits are not zero"),
})

#: a version 5 file: three blocks of M 40, 2 and 5 (conformance file c21); the paper's circuit's
#: placement is 3 bytes (offsets 41-43), then the u16 M of blocks 1 and 2 (offsets 44 and 46)
_V5_FILE = (Path(__file__).parent / "conformance" / "c21_v5_per_block_m.qinr").read_bytes()


def _v5_with(offset: int, value: int) -> bytes:
    body = bytearray(_V5_FILE[:-4])
    struct.pack_into(">H", body, offset, value)
    return _reforge(bytes(body))


BAD_FILES.update({
    "v5 a block's M of zero": (_v5_with(44, 0), "a block's M 0 is out of range"),
    "v5 a block's M beyond the limit": (_v5_with(46, 4097), "a block's M 4097 is out of range"),
    "v5 the blocks' M cut short": (_reforge(_V5_FILE[:45]), "truncated"),
    "v5 a block's M that does not match the table": (_v5_with(46, 6), "truncated|trailing"),
})

#: a version 6 file: three blocks, the residual link and output map 2 (conformance file c23); the
#: placement is offsets 41-43, the Ms 44-47, the link offset 48
_V6_FILE = (Path(__file__).parent / "conformance" / "c23_v6_residual_z.qinr").read_bytes()

#: output map 2 in a version 3 file: Nq 4 (offset 20), 3 channels (conformance file c22)
_Z_FILE = (Path(__file__).parent / "conformance" / "c22_v3_z_readout.qinr").read_bytes()


def _v6_with(offset: int, value: int) -> bytes:
    body = bytearray(_V6_FILE[:-4])
    body[offset] = value
    return _reforge(bytes(body))


BAD_FILES.update({
    "v6 unknown link": (_v6_with(48, 3), "unknown block link id 3"),
    "v6 the link cut short": (_reforge(_V6_FILE[:48]), "truncated"),
    "v6 a link whose input layer does not match the table": (_v6_with(48, 2), "truncated|trailing"),
    "unknown output map 3": (_v6_with(39, 3), "unknown output map id 3"),
    "output map 2 with more channels than qubits": (_reforge(bytes([*_Z_FILE[:20], 2, *_Z_FILE[21:-4]])),
                                                     "3 channels need at least 3 qubits"),
})


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_bitstreams_raise_a_clear_bitstream_error(case, tmp_path):
    data, message = BAD_FILES[case]
    with pytest.raises(BitstreamError, match=message):
        bitstream.read(data)
    p = tmp_path / "bad.qinr"
    p.write_bytes(data)
    with pytest.raises(BitstreamError):
        decode(p)


def test_missing_file_is_a_bitstream_error(tmp_path):
    with pytest.raises(BitstreamError, match="no such file"):
        decode(tmp_path / "nope.qinr")


def test_nan_quantization_range_is_rejected():
    body = bytearray(_valid()[:-4])
    struct.pack_into(">f", body, 5 + bitstream._FIXED.size, math.nan)
    with pytest.raises(BitstreamError, match="quantization range"):
        bitstream.read(_reforge(bytes(body)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=6),
    st.one_of(st.none(), st.integers(0, 400)),
    st.booleans(),
)
@pytest.mark.parametrize("version", [1, 2])
def test_random_mutations_only_ever_raise_bitstream_error(version, edits, cut, fix_crc):
    data = bytearray(_valid() if version == 1 else _V2_FILE)
    for pos, val in edits:
        data[pos % len(data)] = val
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    if fix_crc and len(data) > 4:
        data = bytearray(_reforge(bytes(data[:-4])))
    try:
        bs = bitstream.read(bytes(data))
    except BitstreamError:
        return
    # A mutation may leave a valid file (e.g. a payload edit with a re-forged CRC): then it must
    # decode to a signal of the declared shape (small ones are decoded here to keep the test fast).
    if bs.header.pixels * bs.header.model.n_params() > 2_000_000:
        return
    out = decode(bytes(data))
    assert out.shape == (bs.header.height, bs.header.width, bs.header.channels)


def _fuzz(count: int, seed: int) -> int:
    """``count`` seeded mutations of each format's file (byte edits, random runs, cuts, inserted
    and repeated spans; half with a re-forged CRC so the header and payload checks are reached):
    reading only ever raises BitstreamError, and what reads decodes to a finite signal of the
    declared shape (or raises BitstreamError). Returns how many mutated files were valid."""
    rng = np.random.default_rng(seed)
    valid = 0
    for base in (_valid(), _V2_FILE, _V3_FILE, _V4_FILE, _V5_FILE, _V6_FILE):
        for _ in range(count):
            data = bytearray(base)
            for _ in range(int(rng.integers(1, 5))):
                kind = rng.integers(0, 5)
                pos = int(rng.integers(0, len(data) + 1))
                if kind == 0 and data:  # one byte, any value
                    data[pos % len(data)] = int(rng.integers(0, 256))
                elif kind == 1 and data:  # one bit
                    data[pos % len(data)] ^= 1 << int(rng.integers(0, 8))
                elif kind == 2:  # a run of random bytes
                    data[pos:pos] = rng.integers(0, 256, int(rng.integers(1, 9)), dtype=np.uint8).tobytes()
                elif kind == 3:  # a cut
                    del data[pos : pos + int(rng.integers(1, 64))]
                else:  # a repeated span
                    data[pos:pos] = data[max(0, pos - 16) : pos]
            if rng.random() < 0.5 and len(data) > 4:
                data = bytearray(_reforge(bytes(data[:-4])))
            try:
                bs = bitstream.read(bytes(data))
            except BitstreamError:
                continue
            valid += 1
            if bs.header.pixels * bs.header.model.n_params() > 2_000_000:
                continue
            try:
                out = decode(bytes(data))
            except BitstreamError:
                continue
            assert out.shape == (bs.header.height, bs.header.width, bs.header.channels)
            assert np.all(np.isfinite(out.data.astype(np.float64)))
    return valid


def test_two_thousand_mutations_of_each_format_only_ever_raise_bitstream_error():
    assert _fuzz(2_000, seed=11) > 100  # some mutations stay valid files: they must decode cleanly


@pytest.mark.slow
def test_fifty_thousand_mutations_only_ever_raise_bitstream_error():
    assert _fuzz(10_000, seed=12) > 1_000  # 10,000 of each of the six formats


def test_the_documented_header_table_is_the_declared_one():
    from quinr.header import FIELDS, FIXED, field_table

    doc = (Path(__file__).resolve().parents[1] / "docs" / "bitstream.md").read_text()
    assert field_table() in doc
    assert FIXED.size == 36 and [f.name for f in FIELDS][:3] == ["kind", "height", "width"]
