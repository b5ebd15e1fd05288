"""The network's configuration, torch-free: what a bitstream header carries and a decoder builds.

:class:`ModelConfig` holds the circuit's :class:`~quinr.circuit.CircuitSpec` (the one owner of
Nq, M, R, E, the shuffle seed and the angle scale) next to what is not circuit: the coordinate
dimensions, the channels, the number of stacked blocks and the sine frequency. The circuit's
fields are read through it (``cfg.n_qubits``), never copied, so the spec, the model, the
bitstream header and the decoder cannot disagree. No torch here: the bitstream reader and the
budget tools use it without loading the network.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from .circuit import CircuitSpec
from .errors import ConfigError

#: Limits of the configuration beyond the circuit's (they bound what a header may ask for).
MAX_BLOCKS = 8
MAX_W0 = 1000.0
#: Coordinates the decoder evaluates at once (bounds its memory): each block of each such chunk
#: is one call of the evaluator, so one batch of circuits on a backend.
PREDICT_CHUNK = 1 << 16
#: How the last block is read out (the bitstream's output-map ids are 1 + the position): the
#: paper's last N_out basis-state probabilities, or <Z> of the first N_out qubits.
READOUTS = ("probs", "z")
#: What block k > 0 reads from the blocks before it (the bitstream's link ids are the position):
#: the previous block's per-qubit <Z> (the default); a residual connection, the sum of the two
#: previous blocks' <Z> (block 1 reads block 0's alone); or all 2^Nq probabilities of the previous
#: block, as ``2^Nq p - 1`` (zero for the uniform state, as <Z> is).
LINKS = ("z", "residual", "probs")
#: The paper's readout and link (the first of each table): what a file without the options holds.
PAPER_READOUT, PAPER_LINK = READOUTS[0], LINKS[0]


def model_options(readout: str = PAPER_READOUT, link: str = PAPER_LINK) -> dict[str, str]:
    """The readout and link of a network where they are not the paper's, as :class:`ModelConfig`
    keywords: what descriptions, search rows, sweep keys and rate-table presets carry beside a
    network (empty for the paper's, so older rows, keys and tables read as they were)."""
    return {k: v for k, v, paper in (("readout", readout, PAPER_READOUT), ("link", link, PAPER_LINK)) if v != paper}


def evaluator_calls(coordinates: int, blocks: int, chunk: int = PREDICT_CHUNK, folds: int = 1) -> list[int]:
    """The circuits of every backend call a decode of ``coordinates`` makes, in order: for each
    chunk of coordinates, one model call per block, each run at ``folds`` folding factors
    (zero-noise extrapolation: 3). A backend splits each call into tasks, so this is what a cost
    estimate must count."""
    return [min(chunk, coordinates - i) for i in range(0, coordinates, chunk) for _ in range(blocks * folds)]

@dataclass(frozen=True, init=False)
class ModelConfig:
    """Everything that defines the network's shape (and so the decoder's work).

    Built from keywords (``ModelConfig(n_qubits=8, embed_dim=24)``; the circuit's keywords make
    its :class:`CircuitSpec`) or from a spec (``ModelConfig(spec=CircuitSpec(8, 24))``).

    Args:
        in_features: coordinate dimensions (2 for images, 1 for one-dimensional signals).
        out_features: N_out, channels produced (1 grey / range, 3 RGB).
        n_qubits, embed_dim, reuploads, layers, shuffle_seed, angle_scale: the circuit (Nq, M,
            R, E, the re-upload permutations' seed, h embedded as ``angle_scale * h`` radians).
        entangler, couplings, layout, target: the entangler's pairs and where the circuit was
            made to run (:class:`~quinr.circuit.CircuitSpec`).
        blocks: how many times the whole structure is stacked (the paper's optional iteration).
        w0: the sine frequency of the input layer (30 in the paper).
        embed_dims: one M per block, when the blocks' differ (format version 5); block 0's is
            the spec's (``embed_dim`` is then ignored). Empty, or all equal: every block has
            the spec's M.
        readout: how the last block is read out, one of :data:`READOUTS` (``"z"``: output map 2).
        link: what each block after the first reads, one of :data:`LINKS` (anything but ``"z"``:
            format version 6). A link that changes nothing (any link of one block, a residual
            one of two) is stored as ``"z"``, so such a network's file stays that of the paper's.
        spec: the circuit itself, instead of its keywords.
    """

    in_features: int
    out_features: int
    blocks: int
    w0: float
    spec: CircuitSpec
    #: one M per block when they differ, else empty (normalised: equal Ms are stored as empty)
    embed_dims: tuple[int, ...]
    readout: str
    link: str

    def __init__(self, in_features: int = 2, out_features: int = 3, n_qubits: int = 8, embed_dim: int = 24,
                 reuploads: int = 2, layers: int = 1, blocks: int = 1, shuffle_seed: int = 0, w0: float = 30.0,
                 angle_scale: float = 1.0, entangler: str = "all", couplings: tuple = (), layout: tuple = (),
                 target: str = "", *, embed_dims: tuple[int, ...] = (), readout: str = PAPER_READOUT, link: str = PAPER_LINK,
                 spec: CircuitSpec | None = None) -> None:
        dims = _embed_dims(embed_dims, blocks)
        if spec is None:
            spec = CircuitSpec(n_qubits=n_qubits, embed_dim=dims[0] if dims else embed_dim, reuploads=reuploads,
                               layers=layers, shuffle_seed=shuffle_seed, angle_scale=angle_scale, entangler=entangler,
                               couplings=tuple(map(tuple, couplings)), layout=tuple(layout), target=target)
        elif not isinstance(spec, CircuitSpec):
            raise ConfigError(f"spec must be a CircuitSpec, got {type(spec).__name__}")
        elif dims and spec.embed_dim != dims[0]:
            raise ConfigError(f"embed_dims starts with M = {dims[0]} but the spec's M is {spec.embed_dim}")
        for name, value in (("in_features", in_features), ("out_features", out_features), ("blocks", blocks),
                            ("w0", w0), ("spec", spec), ("embed_dims", () if len(set(dims)) <= 1 else dims),
                            ("readout", readout), ("link", link)):
            object.__setattr__(self, name, value)
        for name, choices in (("readout", READOUTS), ("link", LINKS)):
            if getattr(self, name) not in choices:
                raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {getattr(self, name)!r}")
        if blocks == 1 or (link == "residual" and blocks == 2):  # the same network as the paper's link
            object.__setattr__(self, "link", PAPER_LINK)
        for name, lo, hi in (("in_features", 1, 8), ("out_features", 1, 16), ("blocks", 1, MAX_BLOCKS)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ConfigError(f"{name} must be an integer in [{lo}, {hi}], got {v!r}")
        for m in dims:
            dataclasses.replace(spec, embed_dim=m)  # checks each M as the circuit checks its own
        if not (isinstance(w0, (int, float)) and math.isfinite(w0) and 0.0 < w0 <= MAX_W0):
            raise ConfigError(f"w0 must be in (0, {MAX_W0:g}], got {w0!r}")
        if readout == "z" and out_features > spec.n_qubits:
            raise ConfigError(f"readout z reads one qubit per channel: {out_features} channels need at least "
                              f"{out_features} qubits, not {spec.n_qubits}")
        if out_features > spec.n_states:
            raise ConfigError(
                f"out_features={out_features} needs at least {out_features} basis states; "
                f"{spec.n_qubits} qubit(s) give {spec.n_states}"
            )

    # the circuit's fields, read through the spec
    n_qubits = property(lambda self: self.spec.n_qubits)
    embed_dim = property(lambda self: self.spec.embed_dim)
    reuploads = property(lambda self: self.spec.reuploads)
    layers = property(lambda self: self.spec.layers)
    shuffle_seed = property(lambda self: self.spec.shuffle_seed)
    angle_scale = property(lambda self: self.spec.angle_scale)
    entangler = property(lambda self: self.spec.entangler)

    def circuit(self) -> CircuitSpec:
        """The circuit of block 0: every block's, unless their M differ (:meth:`block_spec`)."""
        return self.spec

    def block_embed_dim(self, block: int) -> int:
        """M of one block."""
        return self.embed_dims[block] if self.embed_dims else self.spec.embed_dim

    def block_spec(self, block: int) -> CircuitSpec:
        """The circuit of one block: the spec with that block's M (its uploads and their shuffles)."""
        m = self.block_embed_dim(block)
        return self.spec if m == self.spec.embed_dim else dataclasses.replace(self.spec, embed_dim=m)

    def describe(self) -> str:
        """The circuit's one-line description, with one M per block when they differ and the
        readout and link when they are not the paper's."""
        options = "".join(f" {k}={v}" for k, v in model_options(self.readout, self.link).items())
        if not self.embed_dims:
            return self.spec.describe() + options
        specs = [self.block_spec(k) for k in range(self.blocks)]
        return self.spec.describe("+".join(str(b.embed_dim) for b in specs),
                                  "+".join(str(b.folds) for b in specs)) + options

    def block_in_features(self, block: int) -> int:
        """What block ``block`` reads: the coordinates, Nq <Z> values, or 2^Nq probabilities."""
        if block == 0:
            return self.in_features
        return self.spec.n_states if self.link == "probs" else self.n_qubits

    def tensor_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """Names and shapes of every stored tensor, in bitstream order."""
        n_theta = self.spec.n_theta
        shapes: list[tuple[str, tuple[int, ...]]] = []
        for k in range(self.blocks):
            shapes += [
                (f"blocks.{k}.weight", (self.block_embed_dim(k), self.block_in_features(k))),
                (f"blocks.{k}.bias", (self.block_embed_dim(k),)),
                (f"blocks.{k}.theta", (n_theta,)),
            ]
        shapes += [("scale", (self.out_features,)), ("offset", (self.out_features,))]
        return shapes

    def n_params(self) -> int:
        return sum(math.prod(s) for _, s in self.tensor_shapes())

    def to_dict(self) -> dict[str, Any]:
        """The flat keyword form (what ``ModelConfig(**d)`` takes)."""
        s = self.spec
        return {"in_features": self.in_features, "out_features": self.out_features, "n_qubits": s.n_qubits,
                "embed_dim": s.embed_dim, "reuploads": s.reuploads, "layers": s.layers, "blocks": self.blocks,
                "shuffle_seed": s.shuffle_seed, "w0": self.w0, "angle_scale": s.angle_scale, "entangler": s.entangler,
                "couplings": [list(p) for p in s.couplings], "layout": list(s.layout), "target": s.target,
                **({"embed_dims": list(self.embed_dims)} if self.embed_dims else {}),
                **model_options(self.readout, self.link)}


def _embed_dims(dims: object, blocks: object) -> tuple[int, ...]:
    """``embed_dims`` checked as a tuple of one integer per block (empty: none given)."""
    try:
        out = tuple(dims)  # type: ignore[arg-type]
    except TypeError:
        raise ConfigError(f"embed_dims must be one M per block, got {dims!r}") from None
    if out and (any(isinstance(m, bool) or not isinstance(m, int) for m in out) or len(out) != blocks):
        raise ConfigError(f"embed_dims must be one integer M per block ({blocks} blocks), got {dims!r}")
    return out
