"""The fixed header of a ``.qinr`` file, declared as data.

:data:`FIELDS` lists every field once: its name, struct type, what it means, which values are
valid and the error a bad value gets. Reading (:func:`unpack`), writing (:func:`pack`), the range
checks and the field table of ``docs/bitstream.md`` (:func:`field_table`, which a test holds the
document to) all come from that one list. The ranges themselves come from the modules that own
them (the circuit's limits, the signal's, the quantizer's), so the format cannot drift from what
the code accepts.

Ids in the header come from tables that only grow: signal kinds (:class:`~quinr.signal.SignalKind`),
shuffle schemes, output maps, entanglers.

Version 4 follows the fixed header with the circuit's *placement* (:func:`pack_placement`): the
entangler (its id, and the pairs of a listed one), the target backend's name and the layout (the
physical qubit of each wire). A file of the paper's circuit with nothing placed is still written
as version 3, so a decoder that knows only version 3 reads it.

Version 5 follows the placement with one M per block after the first (:func:`pack_embed_dims`;
the fixed header's M is block 0's): blocks of different embedding sizes. Only a file whose
blocks' M differ is written as version 5.

Version 6 follows the Ms with one byte, the link (:func:`pack_link`): what each block after the
first reads (:data:`~quinr.config.LINKS`). Only a file whose blocks connect otherwise than by the
previous block's <Z> is written as version 6. The readout needs no new version: it is the output
map, a field of every version (2 = <Z> of the first N_out qubits).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

from .circuit import (
    ENTANGLERS,
    MAX_ANGLE_SCALE,
    MAX_EMBED,
    MAX_LAYERS,
    MAX_QUBITS,
    MAX_REUPLOADS,
    MAX_TARGET_NAME,
    CircuitSpec,
)
from .config import LINKS, MAX_BLOCKS, MAX_W0, READOUTS, ModelConfig
from .errors import BitstreamError, ConfigError
from .quant import MAX_BITS, MIN_BITS
from .signal import MAX_CHANNELS, MAX_PIXELS, MAX_SIDE, SignalKind

#: Shuffle-scheme ids (re-uploading permutations). 1 = SplitMix64 Fisher-Yates, upload 0 identity.
SHUFFLE_SPLITMIX = 1
#: Output-map ids. 1 = last N_out basis-state probabilities -> per-channel affine -> QReLU;
#: 2 = <Z> of the first N_out qubits -> per-channel affine -> QReLU (``READOUTS`` order).
OUTPUT_LAST_AFFINE_QRELU = 1
OUTPUT_Z_AFFINE_QRELU = 2
#: Where the fixed header starts: after the magic (4 bytes) and the format version (1 byte).
OFFSET = 5

_NET = "invalid network configuration in header: {name} {value} is out of range {lo:g}..{hi:g}"


@dataclass(frozen=True)
class Field:
    """One fixed-header field: ``lo``/``hi`` bound it (``open_lo``: the bound itself is refused),
    ``choices`` enumerate it; ``error`` formats with the field's ``name``, ``value``, ``lo``, ``hi``
    and every other field by name."""

    name: str
    fmt: str
    title: str
    valid: str
    error: str
    lo: float | None = None
    hi: float | None = None
    open_lo: bool = False
    choices: tuple[int, ...] = ()

    def ok(self, value: Any) -> bool:
        if self.fmt == "f" and not math.isfinite(value):
            return False
        if self.choices and value not in self.choices:
            return False
        if self.lo is not None and (value < self.lo or (self.open_lo and value == self.lo)):
            return False
        return self.hi is None or value <= self.hi


_KINDS = tuple(int(k) for k in SignalKind)
FIELDS: tuple[Field, ...] = (
    Field("kind", "B", "signal kind", ", ".join(f"{int(k)} = {d}" for k, d in zip(
        SignalKind, ("8-bit samples", "16-bit samples", "float32 samples"), strict=True)),
        "unknown signal kind id {value}", choices=_KINDS),
    Field("height", "H", "height (1 for a one-dimensional signal)", f"1..{MAX_SIDE}",
          "signal size {height}x{width} is out of range (at most " + str(MAX_PIXELS) + " pixels)", 1, MAX_SIDE),
    Field("width", "H", "width (the length of a one-dimensional signal)", f"1..{MAX_SIDE}, height x width <= 2^26",
          "signal size {height}x{width} is out of range (at most " + str(MAX_PIXELS) + " pixels)", 1, MAX_SIDE),
    Field("channels", "B", "channels (= N_out)", f"1..{MAX_CHANNELS}, <= 2^Nq",
          "channel count {value} is out of range 1.." + str(MAX_CHANNELS), 1, MAX_CHANNELS),
    Field("vmin", "f", "vmin (f32)", "finite", "invalid value range [{vmin}, {vmax}]"),
    Field("vmax", "f", "vmax (f32)", "finite, >= vmin", "invalid value range [{vmin}, {vmax}]"),
    Field("in_features", "B", "in_features, coordinate dimensions", "1 (height = 1) or 2",
          "in_features={value}: this quinr decodes 1-D and 2-D signals only", choices=(1, 2)),
    Field("n_qubits", "B", "Nq, qubits", f"1..{MAX_QUBITS}", _NET, 1, MAX_QUBITS),
    Field("embed_dim", "H", "M, embedding size", f"1..{MAX_EMBED}", _NET, 1, MAX_EMBED),
    Field("reuploads", "B", "R, re-uploads", f"1..{MAX_REUPLOADS}", _NET, 1, MAX_REUPLOADS),
    Field("layers", "B", "E, entangling layers per upload", f"1..{MAX_LAYERS}", _NET, 1, MAX_LAYERS),
    Field("blocks", "B", "blocks", f"1..{MAX_BLOCKS}", _NET, 1, MAX_BLOCKS),
    Field("shuffle_scheme", "B", "shuffle scheme", f"{SHUFFLE_SPLITMIX} = SplitMix64 Fisher-Yates, upload 0 identity",
          "unknown shuffle scheme id {value}", choices=(SHUFFLE_SPLITMIX,)),
    Field("shuffle_seed", "I", "shuffle seed (u32)", "any", _NET),
    Field("w0", "f", "w0 (f32)", f"(0, {MAX_W0:g}]", _NET, 0.0, MAX_W0, open_lo=True),
    Field("angle_scale", "f", "angle scale (f32)", f"(0, {MAX_ANGLE_SCALE:g}]", _NET, 0.0, MAX_ANGLE_SCALE,
          open_lo=True),
    Field("output_map", "B", "output map", f"{OUTPUT_LAST_AFFINE_QRELU} = last N_out probabilities -> affine -> QReLU; "
          f"{OUTPUT_Z_AFFINE_QRELU} = <Z> of the first N_out qubits -> affine -> QReLU",
          "unknown output map id {value}", choices=(OUTPUT_LAST_AFFINE_QRELU, OUTPUT_Z_AFFINE_QRELU)),
    Field("bits", "B", "largest per-tensor bit depth", f"{MIN_BITS}..{MAX_BITS}",
          "bit depth {value} is out of range " + f"{MIN_BITS}..{MAX_BITS}", MIN_BITS, MAX_BITS),
)
FIXED = struct.Struct(">" + "".join(f.fmt for f in FIELDS))


@dataclass(frozen=True)
class Header:
    """Decoded header of a ``.qinr`` file. A one-dimensional signal (``model.in_features == 1``)
    has ``height == 1`` and its length in ``width``."""

    kind: SignalKind
    height: int
    width: int
    channels: int
    vmin: float
    vmax: float
    model: ModelConfig
    bits: int
    #: bit depth of every stored tensor (empty: ``bits`` for all, as in version 1)
    tensor_bits: tuple[int, ...] = ()
    version: int = 2

    @property
    def pixels(self) -> int:
        return self.height * self.width

    @property
    def grid(self) -> tuple[int, ...]:
        """The signal's coordinate grid: ``(N,)`` or ``(H, W)``."""
        return (self.width,) if self.model.in_features == 1 else (self.height, self.width)

    def bits_of(self) -> tuple[int, ...]:
        """Per-tensor bit depths, in ModelConfig.tensor_shapes() order."""
        return self.tensor_bits or (self.bits,) * len(self.model.tensor_shapes())


def pack(header: Header) -> bytes:
    """The fixed header's bytes (``bits`` is the largest per-tensor depth)."""
    m = header.model
    values = {"kind": int(header.kind), "height": header.height, "width": header.width, "channels": header.channels,
              "vmin": header.vmin, "vmax": header.vmax, "in_features": m.in_features, "blocks": m.blocks,
              "shuffle_scheme": SHUFFLE_SPLITMIX, "w0": m.w0, "output_map": 1 + READOUTS.index(m.readout),
              "bits": max(header.bits_of()), **{k: getattr(m.spec, k) for k in (
                  "n_qubits", "embed_dim", "reuploads", "layers", "shuffle_seed", "angle_scale")}}
    if m.in_features == 1 and header.height != 1:
        raise ConfigError("a one-dimensional signal has height 1")
    return FIXED.pack(*(values[f.name] for f in FIELDS))


def pack_placement(spec: CircuitSpec) -> bytes:
    """Version 4's placement bytes of a circuit: u8 entangler id (:data:`~quinr.circuit.ENTANGLERS`
    order); for a listed entangler u8 P and P pairs of u8 (i, j); u8 L and the target's L ASCII
    bytes; u8 K (0 or Nq) and K u16 physical qubits, wire 0 first."""
    out = bytes([ENTANGLERS.index(spec.entangler)])
    if spec.entangler == "listed":
        out += bytes([len(spec.couplings)]) + b"".join(bytes(p) for p in spec.couplings)
    name = spec.target.encode("ascii")
    out += bytes([len(name)]) + name + bytes([len(spec.layout)])
    return out + b"".join(struct.pack(">H", q) for q in spec.layout)


def unpack_placement(data: bytes, offset: int) -> tuple[dict[str, Any], int]:
    """Read version 4's placement bytes at ``offset``: the placement's keywords of
    :class:`~quinr.circuit.CircuitSpec` and the offset after them. Values are checked when the
    spec is built; here only that they are there and of a known kind."""

    def take(n: int) -> bytes:
        nonlocal offset
        if len(data) < offset + n + 4:  # the CRC follows everything
            raise BitstreamError("truncated file: the circuit's placement is cut short")
        offset += n
        return data[offset - n : offset]

    kind = take(1)[0]
    if kind >= len(ENTANGLERS):
        raise BitstreamError(f"unknown entangler id {kind} (known: 0..{len(ENTANGLERS) - 1})")
    out: dict[str, Any] = {"entangler": ENTANGLERS[kind]}
    if ENTANGLERS[kind] == "listed":
        raw = take(2 * take(1)[0])
        pairs = [(raw[i], raw[i + 1]) for i in range(0, len(raw), 2)]
        if pairs != sorted(set(pairs)):
            raise BitstreamError("the entangler's pairs are not strictly increasing")
        out["couplings"] = tuple(pairs)
    length = take(1)[0]
    if length > MAX_TARGET_NAME:
        raise BitstreamError(f"target name of {length} bytes is longer than {MAX_TARGET_NAME}")
    name = take(length)
    if not all(33 <= c < 127 for c in name):
        raise BitstreamError("the target's name is not printable ASCII")
    out["target"] = name.decode("ascii")
    count = take(1)[0]
    out["layout"] = struct.unpack(f">{count}H", take(2 * count)) if count else ()
    return out, offset


def pack_embed_dims(model: ModelConfig) -> bytes:
    """Version 5's bytes: u16 M of each block after the first (block 0's is the fixed header's)."""
    return b"".join(struct.pack(">H", model.block_embed_dim(k)) for k in range(1, model.blocks))


def unpack_embed_dims(data: bytes, offset: int, blocks: int) -> tuple[tuple[int, ...], int]:
    """Read version 5's M of blocks 1 .. blocks-1 at ``offset``; the Ms and the offset after them."""
    need = 2 * (blocks - 1)
    if len(data) < offset + need + 4:  # the CRC follows everything
        raise BitstreamError("truncated file: the blocks' embedding sizes are cut short")
    dims = struct.unpack_from(f">{blocks - 1}H", data, offset)
    bad = [m for m in dims if not 1 <= m <= MAX_EMBED]
    if bad:
        raise BitstreamError(f"invalid network configuration in header: a block's M {bad[0]} is out of range "
                             f"1..{MAX_EMBED}")
    return dims, offset + need


def pack_link(model: ModelConfig) -> bytes:
    """Version 6's byte: the link's id (its position in :data:`~quinr.config.LINKS`)."""
    return bytes([LINKS.index(model.link)])


def unpack_link(data: bytes, offset: int) -> tuple[str, int]:
    """Read version 6's link at ``offset``; the link and the offset after it."""
    if len(data) < offset + 1 + 4:  # the CRC follows everything
        raise BitstreamError("truncated file: the blocks' link is cut short")
    if data[offset] >= len(LINKS):
        raise BitstreamError(f"unknown block link id {data[offset]} (known: 0..{len(LINKS) - 1})")
    return LINKS[data[offset]], offset + 1


def unpack(data: bytes, version: int) -> tuple[Header, int]:
    """Read and check the fixed header (and version 4's placement, version 5's Ms, version 6's
    link); raises :class:`BitstreamError` naming the field. Returns the header and the offset
    after it."""
    v = dict(zip((f.name for f in FIELDS), FIXED.unpack_from(data, OFFSET), strict=True))
    for f in FIELDS:
        if not f.ok(v[f.name]):
            raise BitstreamError(f.error.format(**{**v, "name": f.name, "value": v[f.name], "lo": f.lo or 0,
                                                   "hi": f.hi or 0}))
    if v["height"] * v["width"] > MAX_PIXELS:
        raise BitstreamError(f"signal size {v['height']}x{v['width']} is out of range (at most {MAX_PIXELS} pixels)")
    if v["vmax"] < v["vmin"]:
        raise BitstreamError(f"invalid value range [{v['vmin']}, {v['vmax']}]")
    if v["in_features"] == 1 and v["height"] != 1:
        raise BitstreamError(f"a one-dimensional signal has height 1, not {v['height']}")
    end = OFFSET + FIXED.size
    placement: dict[str, Any] = {}
    if version >= 4:
        placement, end = unpack_placement(data, end)
    if version >= 5:
        rest, end = unpack_embed_dims(data, end, v["blocks"])
        placement["embed_dims"] = (v["embed_dim"], *rest)
    if version >= 6:
        placement["link"], end = unpack_link(data, end)
    try:
        model = ModelConfig(in_features=v["in_features"], out_features=v["channels"], n_qubits=v["n_qubits"],
                            embed_dim=v["embed_dim"], reuploads=v["reuploads"], layers=v["layers"], blocks=v["blocks"],
                            shuffle_seed=v["shuffle_seed"], w0=v["w0"], angle_scale=v["angle_scale"],
                            readout=READOUTS[v["output_map"] - 1], **placement)
    except ConfigError as exc:
        raise BitstreamError(f"invalid network configuration in header: {exc}") from None
    return Header(SignalKind(v["kind"]), v["height"], v["width"], v["channels"], v["vmin"], v["vmax"], model,
                  v["bits"], version=version), end


def field_table() -> str:
    """The rows of docs/bitstream.md's table for the fixed header (offset, size, field, valid)."""
    rows, offset = [], OFFSET
    for f in FIELDS:
        size = struct.calcsize(">" + f.fmt)
        rows.append(f"| {offset} | {size} | {f.title} | {f.valid} |")
        offset += size
    return "\n".join(rows)
