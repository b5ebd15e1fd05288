"""``quinr encode``, ``decode``, ``info`` and ``demo``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _progress(total: int, quiet: bool, desc: str):
    """A tqdm bar and a training callback that advances it (no-op when quiet)."""
    if quiet:
        return None, lambda info: None
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="step", file=sys.stderr, dynamic_ncols=True)

    def callback(info) -> None:
        bar.update(1)
        bar.set_postfix(loss=f"{info.loss:.5f}", best=f"{info.best_loss:.5f}", refresh=False)

    return bar, callback


def _cmd_encode(args: argparse.Namespace) -> int:
    from ..codec import encode
    from ..errors import ConfigError
    from ..rate import network_model
    from ..train import TrainConfig
    from .parser import NETWORK_DEFAULTS, model_options_given

    # a rate target takes the network from its table (with --readout/--link applied to it)
    explicit = any(getattr(args, k) is not None for k in (*NETWORK_DEFAULTS, "entangler", "target"))
    net = {k: NETWORK_DEFAULTS[k] if getattr(args, k) is None else getattr(args, k) for k in NETWORK_DEFAULTS}
    # an NQ:M:R:E[:B] item: without --blocks, B is 1 or the number of per-block Ms (quinr.networks)
    blocks = () if args.blocks is None else (args.blocks,)
    item = (net["qubits"], net["embed"], net["reuploads"], net["layers"], *blocks)
    model = network_model(item, shuffle_seed=args.shuffle_seed, angle_scale=args.angle_scale,
                          **model_options_given(args))
    model, noise = _placed(model, args.entangler, args.target, args.noise)
    from ..backends import training_noise

    rate = args.target_bpp is not None or args.max_bytes is not None or args.target_psnr is not None
    if args.steps is None:
        from ..rate import TABLE_STEPS

        args.steps = TABLE_STEPS if rate else TrainConfig().steps
    train = TrainConfig(
        steps=args.steps,
        lr=args.lr,
        lr_embed=args.lr_embed,
        weight_decay=args.weight_decay,
        schedule=args.schedule,
        batch_size=args.batch_size,
        time_budget=args.time_budget,
        qat_steps=args.qat_steps,
        init_freq=args.init_freq,
        compile=args.compile,
        seed=args.seed,
        restarts=args.restarts,
        device=args.device,
        noise=None if noise is None else training_noise(noise),  # device=NAME resolved here, not in training
        noise_mode=args.noise_mode,
    )
    from ..codec import parse_bits

    if rate and args.bits is not None:
        raise ConfigError("--bits and a rate target (--target-bpp, --max-bytes, --target-psnr) both choose the bits; "
                          "give one")
    if args.rate_table is not None and not rate:
        raise ConfigError("--rate-table chooses the network of a rate target: give --target-bpp, --max-bytes or "
                          "--target-psnr with it")
    bits = parse_bits("16" if args.bits is None else args.bits)
    from ..batch import is_many

    if is_many(args.input):
        if rate:
            raise ConfigError("a rate target takes one signal; a folder is encoded with --bits (e.g. bytes:N)")
        from .sweeps import encode_many_signals

        return encode_many_signals(args, model, train, bits)
    source = args.input
    if args.crop is not None or args.scale is not None:
        from ..signal import load_signal
        from ..views import view

        source = view(load_signal(args.input, max_pixels=args.max_pixels, frame=args.frame), args.crop, args.scale)
    if rate:
        from .rating import encode_at_target

        return encode_at_target(args, source, model if explicit else None, train)
    bar, callback = _progress(train.total_steps, args.quiet or args.json, "encode")
    try:
        res = encode(source, args.output, model=model, train=train, bits=bits, callback=callback,
                     max_pixels=args.max_pixels, frame=args.frame)
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        from .output import encode_dict, print_json

        print_json(encode_dict(res, train))
        return 0
    from .output import print_encode

    print_encode(res, train, bits)
    return 0


def _placed(model, entangler: str | None, target: str | None, noise: str | None):
    """The network and training noise of ``--entangler`` and ``--target``: a target places the
    circuit on its device (the device's coupled pairs unless ``--entangler`` says otherwise) and
    trains through its device model unless ``--noise`` is given."""
    import dataclasses

    from ..errors import ConfigError

    trained_on_target = target is not None
    kind = entangler or ("device" if target else "all")
    if kind.startswith("device:"):
        named = kind.partition(":")[2].strip()
        if not named:
            raise ConfigError("--entangler device: needs a backend, e.g. device:aer.fake_torino")
        if target is not None and named != target:
            raise ConfigError(f"--entangler {kind} and --target {target} name different devices")
        kind, target = "device", named
    if kind == "device" and target is None:
        raise ConfigError("--entangler device needs a backend: device:BACKEND, or --target BACKEND")
    if kind not in ("device", "all", "linear", "ring"):
        raise ConfigError(f"unknown entangler {kind!r} (all, linear, ring or device:BACKEND)")
    if target is None:
        spec = dataclasses.replace(model.spec, entangler=kind)
        return dataclasses.replace(model, spec=spec), noise
    from ..backends.placement import place

    spec = place(model.spec, target, kind)
    if trained_on_target and noise is None:
        noise = f"device={target}"
    return dataclasses.replace(model, spec=spec), noise


def _cmd_decode(args: argparse.Namespace) -> int:
    from ..batch import is_many
    from ..codec import decode, info
    from ..files import check_output
    from ..signal import output_suffixes, save_signal

    if is_many(args.input):
        from .sweeps import decode_many_files

        return decode_many_files(args)
    t0 = time.perf_counter()
    report = None
    ref = _reference(args)  # loaded and checked against the decode's shape before anything runs
    if args.backend is None:
        if (args.shots is not None or args.option or args.record or args.report or args.max_cost is not None
                or args.yes or args.noise or args.mitigate or args.run_dir):
            from ..errors import BackendError

            raise BackendError("--shots, -O, --noise, --mitigate, --run-dir, --record, --report, --max-cost and --yes need "
                               "--backend (e.g. --backend torch --shots 1024)")
        hdr = info(args.input)
        check_output(args.output, inputs=[args.input], suffixes=output_suffixes(hdr.kind, hdr.channels, len(hdr.grid)),
                     what="decoded signal")
        sig = decode(args.input, device=args.device, crop=args.crop, scale=args.scale, max_pixels=args.max_pixels)
        out = save_signal(sig, args.output)
    else:
        from ..backends import parse_options

        options = parse_options(args.option)
        if args.noise is not None:
            options["noise"] = args.noise
        out = Path(args.output)
        from .progress import Bars

        with Bars(args.quiet or args.json, f"decode on {args.backend}", "circuit") as bars:
            sig, report = _decode_on_backend(args, options, out, bars.count)
    seconds = time.perf_counter() - t0
    quality = None
    if ref is not None:
        quality = _against_reference(args, ref, sig, report)
    if args.json:
        from .output import print_json, signal_dict

        print_json({"output": str(out), "signal": signal_dict(sig), "seconds": seconds,
                    "preview": _is_preview(sig, out), "reference": quality,
                    "report": None if report is None else report.to_dict()})
        return 0
    print(f"wrote {out} ({sig.describe()}) in {seconds:.1f} s")
    if _is_preview(sig, out):
        print(f"  preview  8-bit PNG of a float signal, [{sig.vmin:g}, {sig.vmax:g}] mapped to 0..255 (the .npy keeps "
              "the values)")
    if quality is not None:
        from .output import describe_quality

        print(f"  quality  {describe_quality(quality)} against {args.reference}")
    if report is not None:
        shots = "exact" if report.shots is None else f"{report.shots} shots"
        print(f"  backend  {report.backend} ({report.device}), {shots}, {report.circuits} circuits in "
              f"{report.tasks} task(s), {report.seconds:.1f} s, estimated cost {report.estimated_cost:.2f} {report.currency}")
        if report.profile_overrides_builtin:
            print(f"  profile  a user profile overrides the built-in {report.backend}")
        if report.billed_cost is not None:
            print(f"  billed   {report.billed_cost:.2f} {report.currency} for the usage {report.billed_tasks} of "
                  f"{report.tasks} task(s) reported, at the profile's dated rates (the provider's invoice is authoritative)")
        for note in report.notes:
            if note.startswith("resume: "):
                print(f"  resume   {note.removeprefix('resume: ')}")
        if report.noise != "none" or report.mitigation:
            print(f"  noise    {report.noise}" + (f"; mitigation: {report.mitigation}" if report.mitigation else ""))
        if report.prediction is not None:
            pred = report.prediction.get("predicted_psnr_vs_exact")
            measured = "identical" if report.psnr_vs_exact is None else f"{report.psnr_vs_exact:.2f} dB"
            print(f"  PSNR     {measured} against the exact decode; predicted "
                  + ("none" if pred is None else f"{pred:.2f} dB") + f" ({report.prediction['noise_source']})")
        elif report.psnr_vs_exact is not None:
            print(f"  PSNR     {report.psnr_vs_exact:.2f} dB against the exact decode")
        if args.report:
            print(f"  report   {out}.report.json")
    return 0


def _decode_on_backend(args: argparse.Namespace, options: dict, out: Path, progress):
    """``decode --backend``: the library call with the command line's options."""
    from ..hardware import decode_on_backend

    return decode_on_backend(
        args.input, args.backend, shots=args.shots, options=options, seed=args.seed,
        record=args.record, max_cost=args.max_cost, yes=args.yes, crop=args.crop, scale=args.scale,
        mitigate=args.mitigate, run_dir=args.run_dir, command=["quinr", *(args.argv or [])] if args.run_dir else None,
        output=out, report_path=Path(str(out) + ".report.json") if args.report else None,
        max_pixels=args.max_pixels, progress=progress,
    )


def _is_preview(sig, out: Path) -> bool:
    from ..signal import SignalKind

    return sig.kind is SignalKind.F32 and out.suffix.lower() == ".png"


def _reference(args: argparse.Namespace):
    """``--reference`` cropped and scaled as the decode will be, refused before the decode runs
    (and before anything is paid for) when its shape cannot match the decode's."""
    if args.reference is None:
        if args.range_image:
            from ..errors import ConfigError

            raise ConfigError("--range-image needs --reference")
        return None
    from ..codec import decode_grid, info
    from ..errors import ConfigError
    from ..signal import load_signal
    from ..views import view

    hdr = info(args.input)
    ref = view(load_signal(args.reference, max_pixels=args.max_pixels), args.crop, args.scale)
    shape = (*decode_grid(hdr, args.crop, args.scale, args.max_pixels)[1], hdr.channels)
    if ref.shape != shape:
        raise ConfigError(f"--reference {args.reference} is {'x'.join(map(str, ref.shape))} (HxWxC) after --crop/--scale "
                          f"but the decode will be {'x'.join(map(str, shape))}")
    return ref


def _against_reference(args: argparse.Namespace, ref, sig, report) -> dict:
    """Quality of the decode against ``--reference``; added to the ``--report`` file when there is one."""
    from ..fidelity import compare as quality

    q = quality(ref, sig, range_image=args.range_image)
    if report is not None and args.report:
        import json

        from ..files import atomic_open
        from .output import _finite

        path = Path(str(args.output) + ".report.json")
        data = json.loads(path.read_text())
        data["reference"] = {"file": Path(args.reference).name, **_finite(q)}
        with atomic_open(path, "w") as f:
            json.dump(data, f, indent=2)
    return q


def _cmd_compare(args: argparse.Namespace) -> int:
    from ..fidelity import compare as quality
    from .output import describe_quality, print_json

    ref, test = (_load_any(p, args.max_pixels) for p in (args.reference, args.test))
    q = quality(ref, test, range_image=args.range_image)
    if args.json:
        print_json({"reference": args.reference, "test": args.test, **q})
    else:
        print(f"{args.test} against {args.reference} ({ref.describe()}): {describe_quality(q)}")
    return 0


def _load_any(path: str, max_pixels: int | None):
    """A signal from an image or .npy, or a .qinr decoded exactly."""
    from ..codec import SUFFIX, decode
    from ..signal import load_signal

    if Path(path).suffix.lower() == SUFFIX:
        return decode(path, max_pixels=max_pixels)
    return load_signal(path, max_pixels=max_pixels)


def _cmd_info(args: argparse.Namespace) -> int:
    from ..codec import info

    hdr = info(args.input)
    size = Path(args.input).stat().st_size
    if args.json:
        from .output import info_dict, print_json

        print_json(info_dict(args.input, size, hdr))
        return 0
    m = hdr.model
    print(f"{args.input}: quinr bitstream, {size} bytes, {8 * size / hdr.pixels:.4f} bpp")
    from ..signal import describe_shape

    print(f"  signal   {describe_shape(hdr.grid, hdr.channels, hdr.kind)} range [{hdr.vmin:g}, {hdr.vmax:g}]")
    print(f"  network  {m.describe()} blocks={m.blocks} w0={m.w0:g} angle_scale={m.angle_scale:g}")
    if m.spec.describe_target():
        print(f"  target   {m.spec.describe_target()}")
    per = hdr.bits_of()
    depth = f"{hdr.bits} bits" if len(set(per)) == 1 else f"({', '.join(map(str, per))}) bits per tensor"
    print(f"  weights  {m.n_params()} x {depth} (per-tensor uniform quantization; format v{hdr.version})")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import run_demo
    from ..files import check_output_dir

    check_output_dir(args.out)
    bar = None

    def make_callback(total: int):
        nonlocal bar
        bar, cb = _progress(total, args.quiet, "demo encode")
        return cb

    try:
        report = run_demo(Path(args.out), steps=args.steps, make_callback=make_callback)
    finally:
        if bar is not None:
            bar.close()
    print(report)
    return 0


