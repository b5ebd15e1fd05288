"""``quinr rd`` (rate-distortion sweeps) and ``lidar-to-range``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .parser import float_list


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
    import dataclasses

    from ..rd import RDConfig, plan, run_rd

    d = RDConfig()
    try:
        grid = d.quinr_grid if args.quinr_grid is None else tuple(
            tuple(int(v) for v in item.split(":")) for item in args.quinr_grid.split(","))
        if any(len(g) != 3 for g in grid):
            raise ValueError
        cfg = RDConfig(
            codecs=tuple(c.strip() for c in args.codecs.split(",") if c.strip()),
            quinr_grid=grid,
            quinr_bits=d.quinr_bits if args.quinr_bits is None else tuple(
                b if b == "auto" else int(b) for b in args.quinr_bits.split(",")),
            quinr_steps=args.quinr_steps or d.quinr_steps,
            coin_configs=d.coin_configs if args.coin_configs is None else tuple(args.coin_configs.split(",")),
            coin_iters=args.coin_iters or d.coin_iters,
            jpeg2000_bpp=d.jpeg2000_bpp if args.jpeg2000_bpp is None else tuple(float_list(args.jpeg2000_bpp)),
        )
    except (ValueError, argparse.ArgumentTypeError):
        from ..errors import ConfigError

        raise ConfigError("--quinr-grid takes NQ:M:R items, the other lists comma-separated numbers") from None
    if args.points is not None:
        n = max(1, args.points)
        cfg = dataclasses.replace(cfg, quinr_grid=cfg.quinr_grid[:n], coin_configs=cfg.coin_configs[:n],
                                  jpeg2000_bpp=cfg.jpeg2000_bpp[:n])
    from ..files import check_output_dir
    from ..rd import load_input

    check_output_dir(args.out)
    total = len(plan(load_input(args.input, max_pixels=args.max_pixels), cfg))
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=total, desc="rd", unit="point", file=sys.stderr, dynamic_ncols=True)

    def progress(task, skipped: bool) -> None:
        if bar is not None:
            bar.set_postfix_str(f"{task.codec}{' (done before)' if skipped else ''}", refresh=False)
            bar.update(1)

    try:
        files = run_rd(args.input, args.out, cfg, engine=args.engine, workers=args.workers, progress=progress,
                       max_pixels=args.max_pixels)
    finally:
        if bar is not None:
            bar.close()
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


