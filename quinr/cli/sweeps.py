"""``quinr rd`` (rate-distortion sweeps), ``lidar-to-range``, and ``encode``/``decode`` of a folder or glob."""

from __future__ import annotations

import argparse
from pathlib import Path

from .progress import Bars


def _print_json(args: argparse.Namespace, summary: dict) -> bool:
    if args.json:
        from .output import print_json

        print_json(summary)
    return bool(args.json)


def _cmd_lidar_to_range(args: argparse.Namespace) -> int:
    import numpy as np

    from ..files import atomic_open, check_output
    from ..lidar import Projection, project, read_kitti_bin, save_preview

    out = Path(args.output)
    if out.suffix != ".npy":
        out = out.with_suffix(".npy")
    check_output(out, inputs=[args.input], suffixes=(".npy",), what="range image")
    check_output(out.with_suffix(".png"), inputs=[args.input], suffixes=(".png",), what="preview")
    proj = Projection(args.height, args.width, args.fov_up, args.fov_down)
    points = read_kitti_bin(args.input)
    image = project(points, proj)
    with atomic_open(out, "wb") as f:
        np.save(f, image)
    preview = save_preview(image, out.with_suffix(".png"))
    filled = int((image > 0).sum())
    print(f"wrote {out} ({args.height}x{args.width} float32 metres; 0 = empty) and {preview}")
    print(f"  {len(points)} points -> {filled} filled pixels ({100 * filled / image.size:.1f} %), "
          f"max range {image.max():.2f} m (the PSNR peak of this signal)")
    return 0


def _cmd_rd(args: argparse.Namespace) -> int:
    from ..baselines.registry import codecs as registered
    from ..rd import RDConfig, plan, run_rd, skipped

    settings = {}
    for name, codec in registered().items():  # every codec's declared options: --<codec>-<option>
        for key, opt in codec.options.items():
            text = getattr(args, f"{name}_{key}", None)
            if text is not None:
                settings[f"{name}_{key}"] = opt.from_text(name, key, text)
    from ..errors import ConfigError

    names = tuple(c.strip() for c in args.codecs.split(",") if c.strip())
    if not names:
        raise ConfigError(f"--codecs names no codec; choose from {', '.join(registered())}")
    if args.points is not None and args.points < 1:
        raise ConfigError(f"--points must be at least 1, got {args.points}")
    cfg = RDConfig(codecs=names, **settings)
    if args.points is not None:
        cfg = cfg.with_points(args.points)
    from ..files import check_output_dir
    from ..rd import load_input

    check_output_dir(args.out)
    from ..batch import is_many

    if is_many(args.input):
        return _rd_many(args, cfg)
    inp = load_input(args.input, max_pixels=args.max_pixels, crop=args.crop, scale=args.scale)
    for name, why in skipped(inp, cfg).items():
        print(f"{name:>15}: skipped ({why})")
    total = len(plan(inp, cfg))
    finished = [0]
    with Bars(args.quiet, "rd", "point", parallel=args.engine != "serial", total=total) as bars:

        def progress(task, skipped: bool) -> None:
            finished[0] += 1
            bars.item(f"{task.codec}{' (done before)' if skipped else ''}", finished[0], total)

        files = run_rd(args.input, args.out, cfg, engine=args.engine, workers=args.workers, progress=progress,
                       max_pixels=args.max_pixels, crop=args.crop, scale=args.scale,
                       step=lambda task, done, n: bars.step(task, f"{task.codec} training", done, n))
    import json

    for codec, path in files.items():
        if codec == "plot":
            continue
        res = json.loads(path.read_text())["results"]
        pts = ", ".join(f"{p:.2f}@{b:.4f}" for b, p in zip(res["bpp"], res["psnr"], strict=True))
        print(f"{codec:>15}: {pts}  (dB@bpp)  {path}")
    if "plot" in files:
        print(f"{'plot':>15}: {files['plot']}")
    return 0


def _rd_many(args: argparse.Namespace, cfg) -> int:
    """``quinr rd DIR|GLOB``: a sweep per signal, then the dataset's mean curves and BD-rates."""
    from ..batch import expand_inputs
    from ..dataset import ANCHOR, run_rd_many
    from ..errors import ConfigError

    if args.crop is not None or args.scale is not None:
        raise ConfigError("--crop and --scale take one signal; a folder or glob is swept whole")
    inputs = expand_inputs(args.input)
    with Bars(args.quiet, "rd", "signal", parallel=args.engine != "serial") as bars:
        summary = run_rd_many(inputs, args.out, cfg, engine=args.engine, workers=args.workers,
                              max_pixels=args.max_pixels, signal_done=bars.item,
                              step=lambda task, done, total: bars.step(task, f"{task.codec} training", done, total))
    for codec, doc in summary["codecs"].items():
        pts = ", ".join(f"{p:.2f}@{b:.4f}" for b, p in zip(doc["curve"]["bpp"], doc["curve"]["psnr"], strict=True))
        vs = doc.get("vs_anchor")
        bd = ""
        if vs and vs["mean_bd_rate"] is not None:
            bd = f"  BD-rate vs {ANCHOR} {vs['mean_bd_rate']:+.1f} %, BD-PSNR {vs['mean_bd_psnr']:+.2f} dB"
        print(f"{codec:>15}: {pts}  (mean dB@bpp over {len(inputs)}){bd}")
    print(f"{'summary':>15}: {Path(args.out) / 'dataset.json'}, {summary['plot']}")
    return 0


def encode_many_signals(args: argparse.Namespace, model, train, bits) -> int:
    """``quinr encode DIR|GLOB -o OUTDIR``: every signal into the folder, resumable, one bar."""
    from ..batch import encode_many, expand_inputs
    from ..errors import ConfigError

    if args.crop is not None or args.frame is not None or args.scale is not None:
        raise ConfigError("--crop, --scale and --frame take one signal; a folder or glob is encoded whole")
    inputs = expand_inputs(args.input)
    if args.output.endswith(".qinr"):
        raise ConfigError(f"{args.input} names several signals: -o must be a folder, not {args.output}")
    with Bars(args.quiet or args.json, "encode", "signal", parallel=args.engine != "serial") as bars:
        summary = encode_many(inputs, args.output, model=model, train=train, bits=bits, max_pixels=args.max_pixels,
                              engine=args.engine, workers=args.workers, progress=bars.item,
                              step=lambda src, done, total: bars.step(src, f"{src.name} training", done, total))
    if _print_json(args, summary):
        return 0
    for item in summary["items"]:
        again = "  (done before)" if item["done_before"] else ""
        print(f"{Path(item['input']).name:>24}: {item['bytes']:>6} bytes, {item['bpp']:.4f} bpp, "
              f"{item['psnr']:6.2f} dB{again}")
    mean = summary["mean_psnr"]
    print(f"{summary['signals']} signals: mean {mean:.2f} dB at mean {summary['mean_bpp']:.4f} bpp; "
          f"wrote {Path(args.output) / 'summary.json'}")
    return 0


def decode_many_files(args: argparse.Namespace) -> int:
    """``quinr decode DIR|GLOB -o OUTDIR --backend B``: every file under one budget."""
    from ..backends import parse_options
    from ..batch import decode_many, expand_inputs
    from ..errors import ConfigError

    if args.backend is None:
        raise ConfigError("decoding a folder or glob is for backends: give --backend (the exact decode is `quinr decode "
                          "FILE`, one file at a time)")
    if args.reference or args.crop or args.scale or args.record or args.run_dir:
        raise ConfigError("--reference, --crop, --scale, --record and --run-dir take one file; a folder is decoded whole")
    inputs = [p for p in expand_inputs(args.input, (".qinr",)) if p.suffix.lower() == ".qinr"]
    if not inputs:
        raise ConfigError(f"{args.input}: no .qinr files found")
    options = parse_options(args.option)
    if args.noise is not None:
        options["noise"] = args.noise
    with Bars(args.quiet or args.json, f"decode on {args.backend}", "file") as bars:
        summary = decode_many(inputs, args.output, args.backend, shots=args.shots, max_cost=args.max_cost, yes=args.yes,
                              options=options, seed=args.seed, mitigate=args.mitigate, max_pixels=args.max_pixels,
                              progress=bars.item)
    if _print_json(args, summary):
        return 0
    cur = summary["currency"]
    for item in summary["items"]:
        psnr = item["report"].get("psnr_vs_exact")
        quality = "" if psnr is None else f", {psnr:.2f} dB against the exact decode"
        print(f"{Path(item['input']).name:>24} -> {item['output']}: {item['cost']:.2f} {cur}{quality}")
    print(f"{summary['decodes']} decodes on {summary['backend']}: estimated {summary['estimated_total']:.2f} {cur} "
          f"together, {summary['spent']:.2f} {cur} charged to the budget")
    return 0
