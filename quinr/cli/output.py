"""Machine-readable output of the commands (``--json``), the lines an encode prints, and the
quality a decode is judged by.

One JSON object per command on standard output, nothing else there (progress bars go to standard
error and are off with ``--json``). Non-finite numbers, which JSON cannot carry, are written as the
strings ``"inf"``, ``"-inf"`` and ``"nan"`` (a lossless file's PSNR is ``"inf"``). Shapes are
lists in numpy's order, rows first: ``[H, W, C]`` or ``[N, C]``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def print_json(obj: dict[str, Any]) -> None:
    print(json.dumps(_finite(obj), indent=2))


def signal_dict(sig) -> dict[str, Any]:
    return {"shape": list(sig.shape), "kind": sig.kind.name.lower(), "range": [sig.vmin, sig.vmax]}


def encode_dict(res, train) -> dict[str, Any]:
    """What ``quinr encode`` prints, as data."""
    spec = res.model.spec
    return {
        "output": None if res.path is None else str(res.path),
        "bytes": res.n_bytes,
        "bpp": res.bpp,
        "psnr": res.psnr,
        "peak": res.peak,
        "signal": signal_dict(res.decoded),
        "network": res.model.to_dict(),
        "circuit": res.model.describe(),
        "target": spec.describe_target() or None,
        "params": res.n_params,
        "bits": list(res.tensor_bits) or [res.bits],
        "noisy_psnr": res.noisy_psnr,
        "training": {"steps_run": len(res.train.losses), "best_step": res.train.best_step,
                     "best_loss": res.train.best_loss, "seconds": res.train_seconds,
                     "batch_size": train.batch_size, "time_budget": train.time_budget,
                     "restarts": train.restarts, "seed": res.train.seed},
        "seconds": res.total_seconds,
    }


def info_dict(path: str, size: int, hdr) -> dict[str, Any]:
    """What ``quinr info`` prints, as data."""
    m = hdr.model
    return {
        "file": path,
        "bytes": size,
        "bpp": 8 * size / hdr.pixels,
        "format_version": hdr.version,
        "signal": {"shape": [*hdr.grid, hdr.channels], "kind": hdr.kind.name.lower(), "range": [hdr.vmin, hdr.vmax]},
        "network": m.to_dict(),
        "circuit": m.describe(),
        "target": m.spec.describe_target() or None,
        "params": m.n_params(),
        "bits": list(hdr.bits_of()),
    }


def profile_dict(profile, available: bool, install: str, options: dict | None = None) -> dict[str, Any]:
    """A catalogue entry (without the machine path of the file it was read from)."""
    d = dataclasses.asdict(profile)
    d.pop("source", None)
    d.update(available=available, install=None if available else install)
    if options is not None:
        d["driver_options"] = options
    return d


def option_dict(opt, profile_value: Any = None) -> dict[str, Any]:
    return {"type": opt.type.__name__, "default": opt.default, "choices": list(opt.choices) or None,
            "minimum": opt.minimum, "maximum": opt.maximum, "help": opt.help, "profile_value": profile_value}


def describe_quality(q: dict[str, Any]) -> str:
    text = f"{q['psnr']:.2f} dB (peak {q['peak']:g}), RMSE {q['rmse']:.4g}, MAE {q['mae']:.4g}"
    if "range" in q:
        r = q["range"]
        text += (f"; range RMSE {r['rmse_m']:.3f} m, MAE {r['mae_m']:.3f} m, mask accuracy "
                 f"{100 * r['mask_accuracy']:.1f} %, Chamfer {r['chamfer_m']:.3f} m")
    return text


def print_encode(res, train, bits: int | str | None = None) -> None:
    """The lines ``quinr encode`` prints about a written file (``bits``: the ``--bits`` rule, so
    that a ``psnr:DB`` the network could not reach is said)."""
    from ..sim.device import DeviceModel

    print(f"wrote {res.path} ({res.n_bytes} bytes)")
    print(f"  signal   {res.decoded.describe()}")
    print(f"  network  {res.model.describe()} blocks={res.model.blocks}")
    if res.model.spec.describe_target():
        print(f"  target   {res.model.spec.describe_target()}")
    depths = f"{res.bits} bits" if len(set(res.tensor_bits)) <= 1 else f"({', '.join(map(str, res.tensor_bits))}) bits per tensor"
    print(f"  params   {res.n_params} x {depths}")
    print(f"  bpp      {res.bpp:.4f}  (8 x {res.n_bytes} bytes / {res.decoded.pixels} pixels)")
    print(f"  PSNR     {res.psnr:.2f} dB  (peak {res.peak:g}, measured by decoding the written file)")
    target = float(bits[5:]) if isinstance(bits, str) and bits.startswith("psnr:") else None
    if target is not None and res.psnr < target:
        print(f"  target   {bits[5:]} dB not reached: {target - res.psnr:.2f} dB short at the deepest bits; "
              "a larger network or more steps may reach it")
    if res.noisy_psnr is not None:
        mode = "" if isinstance(train.noise, DeviceModel) else f", {train.noise_mode}"
        print(f"  noisy    {res.noisy_psnr:.2f} dB  decoded under the training noise ({train.noise.describe()}{mode})")
    kept = (f"; the best of {train.restarts} trainings, seeds {train.seed}-{train.seed + train.restarts - 1}, "
            f"is seed {res.train.seed}'s" if train.restarts > 1 else "")
    print(f"  time     {res.total_seconds:.1f} s  (training {res.train_seconds:.1f} s, {len(res.train.losses)} steps, best step "
          f"{res.train.best_step}{kept})")
