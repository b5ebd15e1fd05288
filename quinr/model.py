"""The quINR network: sine embedding -> QNN -> probabilities -> last N_out states -> affine -> QReLU.

``h = sin(w0 * W x + b)`` feeds a :class:`~quinr.circuit.CircuitSpec` circuit; the probabilities
of its last ``out_features`` basis states (ascending index = channel 0, 1, ...) pass through a
learnable per-channel affine map and QReLU (Parisi et al. 2022). With ``blocks > 1`` the structure
is iterated: block ``k > 0`` embeds the per-qubit ``<Z>`` of block ``k - 1`` instead of the
coordinates, each block with its own M when ``cfg.embed_dims`` says so. Two options change the
paper's network (:data:`~quinr.config.READOUTS`, :data:`~quinr.config.LINKS`): the readout may be
``<Z>`` of the first N_out qubits, and blocks may connect by a residual sum of ``<Z>`` or by all
probabilities. Every choice the paper leaves open is documented in ``docs/model.md``.

The model never knows where its circuit runs: :meth:`QuINR.forward` takes an *evaluator* (a
function returning basis-state probabilities). The default is the exact torch simulator, which is
differentiable; decoders can pass a backend adapter instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from .circuit import CircuitSpec, basis_bits
from .config import PREDICT_CHUNK, ModelConfig
from .errors import ConfigError
from .sim import probabilities as exact_probabilities

#: evaluator(spec, h, theta, last) -> probabilities (B, 2^Nq) or, if last is given, (B, last).
Evaluator = Callable[[CircuitSpec, torch.Tensor, torch.Tensor, "int | None"], torch.Tensor]



def exact_evaluator(spec: CircuitSpec, h: torch.Tensor, theta: torch.Tensor, last: int | None) -> torch.Tensor:
    """The exact, differentiable torch statevector simulator."""
    return exact_probabilities(spec, h, theta, last=last)


def qrelu(x: torch.Tensor) -> torch.Tensor:
    """QReLU (Parisi et al. 2022): x for x > 0, else 0.01x - 2x = -1.99x (reflects, never clamps)."""
    return torch.where(x > 0, x, -1.99 * x)


class QuINRBlock(nn.Module):
    """sin(w0 W x + b) followed by the circuit; returns basis-state probabilities."""

    def __init__(self, cfg: ModelConfig, index: int, generator: torch.Generator,
                 init_freq: float | tuple[float, ...]) -> None:
        super().__init__()
        self.spec = cfg.block_spec(index)
        self.w0 = cfg.w0
        fan_in = cfg.block_in_features(index)
        # First layer: U(-f/w0, f/w0), i.e. at most f radians per unit coordinate (SIREN's
        # U(-1/n, 1/n) gives 15 for n = 2, far too high for a QNN to combine; see docs/model.md).
        # Later blocks: SIREN's hidden-layer U(-sqrt(6/n)/w0, +). One f per coordinate axis bounds
        # each axis's column on its own.
        if index > 0:
            bound: float | torch.Tensor = math.sqrt(6.0 / fan_in) / cfg.w0
        elif isinstance(init_freq, tuple):
            bound = torch.tensor(init_freq, dtype=torch.float32) / cfg.w0
        else:
            bound = init_freq / cfg.w0
        self.weight = nn.Parameter(_uniform((self.spec.embed_dim, fan_in), bound, generator))
        # The paper's bias sits outside w0; U(-pi, pi) gives every feature a random phase, as
        # SIREN's w0 * b does.
        self.bias = nn.Parameter(_uniform((self.spec.embed_dim,), math.pi, generator))
        self.theta = nn.Parameter(_uniform((self.spec.n_theta,), math.pi, generator))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.w0 * (x @ self.weight.T) + self.bias)

    def forward(self, x: torch.Tensor, evaluator: Evaluator, last: int | None) -> torch.Tensor:
        return evaluator(self.spec, self.embed(x), self.theta, last)


#: The first layer's starting frequency bound, radians per unit coordinate (docs/model.md, row 2).
INIT_FREQ = 3.0

#: Output-affine initialisations. Both map a uniform state (p = 2^-Nq) to mid-grey 0.5:
#: "gain" with the gain alone (scale 2^(Nq-1), offset 0); "offset" with the smallest gain that
#: reaches all of [0, 1]^N_out (scale N_out) and the offset 0.5 - N_out * 2^-Nq.
GAIN_INITS = ("offset", "gain")


class QuINR(nn.Module):
    """The quINR network of Fujihashi & Koike-Akino (2026).

    Args:
        cfg: the network shape.
        seed: seed of the parameter initialisation.
        init_freq: the first layer starts with frequencies of at most this many radians per unit
            coordinate, or one such bound per coordinate axis (training only; not stored in the
            bitstream).
        gain_init: how the output affine starts, one of :data:`GAIN_INITS`.
    """

    def __init__(self, cfg: ModelConfig, seed: int = 0, init_freq: float | tuple[float, ...] = INIT_FREQ,
                 gain_init: str = "offset") -> None:
        super().__init__()
        if gain_init not in GAIN_INITS:
            raise ConfigError(f"gain_init must be one of {GAIN_INITS}, got {gain_init!r}")
        check_init_freq(init_freq, cfg.in_features)
        self.cfg = cfg
        gen = torch.Generator().manual_seed(seed)
        self.blocks = nn.ModuleList(QuINRBlock(cfg, k, gen, init_freq) for k in range(cfg.blocks))
        uniform = 2.0**-cfg.n_qubits
        gain = 0.5 / uniform if gain_init == "gain" else float(cfg.out_features)
        offset = 0.5 - gain * uniform
        if cfg.readout == "z":  # <Z> in [-1, 1] onto [0, 1]; the uniform state (<Z> = 0) is mid-grey
            gain = offset = 0.5
        self.scale = nn.Parameter(torch.full((cfg.out_features,), gain))
        self.offset = nn.Parameter(torch.full((cfg.out_features,), offset))
        bits = torch.from_numpy(basis_bits(cfg.n_qubits))
        self.register_buffer("_z_signs", (1 - 2 * bits).to(torch.float32), persistent=False)

    def forward(self, x: torch.Tensor, evaluator: Evaluator | None = None) -> torch.Tensor:
        """Coordinates (B, in_features) in [-1, 1] -> values (B, out_features), nominally in [0, 1]."""
        evaluator = evaluator or exact_evaluator
        cfg = self.cfg
        feats, prev = x, None
        for block in self.blocks[:-1]:
            p = block(feats, evaluator, None)
            if cfg.link == "probs":
                feats = p * p.shape[-1] - 1.0
                continue
            z = p @ self._z_signs.to(p.dtype)  # per-qubit <Z> (an evaluator may answer in float32 or float64)
            feats = z + prev if cfg.link == "residual" and prev is not None else z
            prev = z
        if cfg.readout == "z":
            p = self.blocks[-1](feats, evaluator, None)
            out = p @ self._z_signs[:, : cfg.out_features].to(p.dtype)
        else:
            out = self.blocks[-1](feats, evaluator, cfg.out_features)
        return qrelu(self.scale * out + self.offset)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, evaluator: Evaluator | None = None, chunk: int = PREDICT_CHUNK) -> torch.Tensor:
        """Forward pass without autograd, in chunks of coordinates (bounded memory)."""
        outs = [self(x[i : i + chunk], evaluator) for i in range(0, x.shape[0], chunk)]
        return torch.cat(outs) if outs else x.new_zeros(0, self.cfg.out_features)

    def named_tensors(self) -> list[tuple[str, torch.Tensor]]:
        """Parameters in bitstream order (see :meth:`ModelConfig.tensor_shapes`)."""
        params = dict(self.named_parameters())
        return [(name, params[name]) for name, _ in self.cfg.tensor_shapes()]

    @torch.no_grad()
    def canonicalize_(self) -> QuINR:
        """Wrap periodic parameters into one period, without changing the output.

        Smaller ranges mean finer quantization steps. RX/RZ angles and the sine bias have period
        2*pi (a sign flip of one gate is a global phase); CRZ angles have period 4*pi (CRZ(t + 2pi)
        is CRZ(t) times Z on the control, which is *not* a global phase).
        """
        for block in self.blocks:
            block.bias.copy_(_wrap(block.bias, 2 * math.pi))
            spec = block.spec
            crz = torch.zeros(spec.n_theta, dtype=torch.bool)
            for layer in range(spec.n_layers_total):
                crz[spec.layer_offsets(layer)["crz"]] = True
            crz = crz.to(block.theta.device)
            wrapped = torch.where(crz, _wrap(block.theta, 4 * math.pi), _wrap(block.theta, 2 * math.pi))
            block.theta.copy_(wrapped)
        return self


def check_init_freq(init_freq: object, axes: int | None = None) -> None:
    """A first-layer frequency bound: a positive number, or one per coordinate axis."""
    values = init_freq if isinstance(init_freq, tuple) else (init_freq,)
    if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
                             for v in values):
        raise ConfigError(f"init_freq must be a positive number or one per coordinate axis, got {init_freq!r}")
    if isinstance(init_freq, tuple) and axes is not None and len(init_freq) != axes:
        raise ConfigError(f"init_freq gives {len(init_freq)} bounds for a signal of {axes} coordinate axes")


def _uniform(shape: tuple[int, ...], bound: float | torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return (torch.rand(shape, generator=gen) * 2.0 - 1.0) * bound


def _wrap(x: torch.Tensor, period: float) -> torch.Tensor:
    return torch.remainder(x + 0.5 * period, period) - 0.5 * period
