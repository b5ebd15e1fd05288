"""The ``quinr`` command line: encode, decode, info, demo, backends, budget, noise, study.

``main(argv)`` returns an exit code: 0 on success, 1 when quinr refused the input (a one-line
message on stderr, no traceback), 2 for usage errors (argparse), 130 when interrupted, 141 when
standard output was closed (``quinr ... | head``: the command ends quietly).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .errors import QuinrError


def _add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("network")
    g.add_argument("--qubits", type=int, default=8, help="Nq, number of qubits (default 8)")
    g.add_argument("--embed", type=int, default=24, help="M, embedding size (default 24)")
    g.add_argument("--reuploads", type=int, default=2, help="R, data re-uploads (default 2)")
    g.add_argument("--layers", type=int, default=1, help="E, entangling layers per upload (default 1)")
    g.add_argument("--blocks", type=int, default=1, help="stacked quINR blocks (default 1)")
    g.add_argument("--shuffle-seed", type=int, default=0, help="seed of the re-upload permutations")
    g.add_argument("--angle-scale", type=float, default=1.0, help="h is embedded as SCALE*h radians")


def _add_train_args(p: argparse.ArgumentParser) -> None:
    from .train import TrainConfig

    d = TrainConfig()
    g = p.add_argument_group("training")
    g.add_argument("--steps", type=int, default=d.steps, help=f"optimizer steps (default {d.steps})")
    g.add_argument("--lr", type=float, default=d.lr, help=f"AdamW learning rate of the circuit (default {d.lr})")
    g.add_argument("--lr-embed", type=float, default=None, help="learning rate of the sine layer (default: see docs)")
    g.add_argument("--weight-decay", type=float, default=d.weight_decay)
    g.add_argument("--schedule", choices=("cosine", "constant"), default=d.schedule)
    g.add_argument("--batch-size", type=int, default=None, help="coordinates per step (default: full batch)")
    g.add_argument("--seed", type=int, default=d.seed, help="seed of initialisation and sampling")
    g.add_argument("--device", default=d.device, help="torch device for training: cpu or cuda")
    g.add_argument("--bits", default="16", help="bits per stored weight (default 16), or auto[:DB]: per-tensor "
                   "depths within DB (default 0.05) of the 16-bit PSNR")
    g.add_argument("--noise", default=None, metavar="SPEC",
                   help="train noise-aware under this noise (e.g. depolarizing=0.002,readout=0.03 or device=FakeTorino)")
    g.add_argument("--noise-mode", choices=("global", "dm"), default=d.noise_mode,
                   help="simulate the noise with the white-noise approximation (global, fast) or exactly (dm, small Nq)")


def _add_max_pixels(p: argparse.ArgumentParser) -> None:
    from .signal import DEFAULT_MAX_PIXELS, MAX_PIXELS

    p.add_argument("--max-pixels", type=int, default=None, metavar="N",
                   help=f"refuse signals larger than N pixels, checked before they are decoded (default "
                        f"{DEFAULT_MAX_PIXELS}, at most {MAX_PIXELS})")


def _int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _float_list(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _crop(text: str) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"crop must be X,Y,W,H integers, got {text!r}") from None
    return x, y, w, h


def _build_parser() -> argparse.ArgumentParser:
    from .version import __version__

    parser = argparse.ArgumentParser(prog="quinr", description="Quantum implicit neural compression (quINR).")
    parser.add_argument("--version", action="version", version=f"quinr {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    enc = sub.add_parser("encode", help="compress an image or .npy array to a .qinr file")
    enc.add_argument("input", help="8-bit grey/RGB PNG or JPEG, 16-bit grey PNG, or float .npy")
    enc.add_argument("-o", "--output", required=True, help="output .qinr file")
    enc.add_argument("--quiet", action="store_true", help="no progress bar")
    enc.add_argument("--frame", type=int, default=None, metavar="K", help="encode frame K of a multi-frame image")
    _add_max_pixels(enc)
    _add_model_args(enc)
    _add_train_args(enc)

    dec = sub.add_parser("decode", help="decode a .qinr file to an image (.png) or array (.npy)")
    dec.add_argument("input", help=".qinr file")
    dec.add_argument("-o", "--output", required=True, help="output .png (images) or .npy (float signals)")
    dec.add_argument("--device", default="cpu", help="torch device for the exact simulator")
    dec.add_argument("--backend", default=None, help="run the circuits on this backend (see `quinr backends`)")
    dec.add_argument("--shots", type=int, default=None, help="shots per circuit (omit for exact probabilities)")
    dec.add_argument("-O", "--option", action="append", default=[], metavar="KEY=VALUE", help="backend option (repeatable)")
    dec.add_argument("--seed", type=int, default=None, help="sampling seed where the backend takes one")
    dec.add_argument("--report", action="store_true", help="write OUTPUT.report.json (the ExecutionReport)")
    dec.add_argument("--record", default=None, metavar="PATH.npz",
                     help="save the backend's results for an offline `--backend replay -O record=PATH.npz`")

    dec.add_argument("--max-cost", type=float, default=None, help="refuse if the estimated cost exceeds this")
    dec.add_argument("--yes", action="store_true", help="run a billed backend without --max-cost")
    dec.add_argument("--crop", type=_crop, default=None, metavar="X,Y,W,H", help="decode only this window")
    dec.add_argument("--scale", type=float, default=None, help="decode at SCALE times the size")
    dec.add_argument("--noise", default=None, metavar="SPEC", help="run the backend under this noise (same as -O noise=SPEC)")
    dec.add_argument("--run-dir", default=None, metavar="DIR",
                     help="checkpoint every finished chunk here; rerunning with the same DIR resumes, never resubmits")
    dec.add_argument("--mitigate", choices=("readout",), default=None,
                     help="correct readout error with the backend's calibration (tensored inverse + nearest distribution)")
    _add_max_pixels(dec)

    sub.add_parser("backends", help="list the backend catalogue")

    bud = sub.add_parser("budget", help="circuits, shots, tasks, cost and predicted PSNR of a decode, before running it")
    bud.add_argument("input", help=".qinr file")
    bud.add_argument("--backend", required=True, help="backend name (see `quinr backends`)")
    grp = bud.add_mutually_exclusive_group()
    grp.add_argument("--shots", type=int, default=None, help="shots per circuit (omit for exact)")
    grp.add_argument("--target-psnr-drop", type=float, default=None, metavar="DB",
                     help="fewest shots whose expected PSNR is within DB of the exact decode (needs --reference)")
    bud.add_argument("--reference", default=None, help="the original signal, to predict PSNR against it")
    bud.add_argument("--crop", type=_crop, default=None, metavar="X,Y,W,H", help="budget a cropped decode")
    bud.add_argument("--scale", type=float, default=None, help="budget a decode at SCALE times the size")
    bud.add_argument("--max-cost", type=float, default=None, help="say whether it fits, and what crop/scale would")
    bud.add_argument("--json", action="store_true", help="machine-readable output")
    _add_max_pixels(bud)

    li = sub.add_parser("lidar-to-range", help="project a KITTI Velodyne .bin scan to a range image (.npy + PNG preview)")
    li.add_argument("input", help="KITTI .bin (float32 x, y, z, reflectance)")
    li.add_argument("-o", "--output", required=True, help="output .npy (float32 metres, 0 = empty)")
    li.add_argument("--height", type=int, default=64, help="rows (default 64)")
    li.add_argument("--width", type=int, default=1024, help="columns (default 1024)")
    li.add_argument("--fov-up", type=float, default=3.0, help="upper field of view, degrees (default 3)")
    li.add_argument("--fov-down", type=float, default=-25.0, help="lower field of view, degrees (default -25)")

    rd = sub.add_parser("rd", help="rate-distortion sweep of quinr, COIN and JPEG2000: JSON per codec and a plot")
    rd.add_argument("input", help="image, float .npy, or KITTI .bin scan (projected to its range image)")
    rd.add_argument("--codecs", default="quinr,coin,jpeg2000", help="comma-separated subset of quinr,coin,jpeg2000")
    rd.add_argument("--points", type=int, default=None, help="at most this many settings per codec")
    rd.add_argument("--out", default="quinr-rd", help="output folder (default ./quinr-rd); rerunning resumes")
    rd.add_argument("--quinr-grid", default=None, metavar="NQ:M:R,...", help="networks (default 6:12:2,8:24:2,8:32:3,10:40:2)")
    rd.add_argument("--quinr-bits", default=None, metavar="B,...", help="bit depths per network, 'auto' for per-tensor "
                    "depths (default 8,10,12,16,auto)")
    rd.add_argument("--quinr-steps", type=int, default=None, help="training steps per network (default 300)")
    rd.add_argument("--coin-configs", default=None, metavar="LxW,...", help="COIN architectures (default 5x14,5x20,5x30,10x28)")
    rd.add_argument("--coin-iters", type=int, default=None, help="COIN iterations (default 50000, as the paper)")
    rd.add_argument("--jpeg2000-bpp", default=None, metavar="BPP,...", help="JPEG2000 target rates (default 0.02,0.05,0.1,0.2,0.4)")
    rd.add_argument("--engine", choices=("serial", "local", "dask"), default="serial",
                    help="run points one by one, in local processes, or on Dask (pip install 'quinr[cluster]')")
    rd.add_argument("--workers", type=int, default=2, help="parallel points for local/dask (default 2)")
    rd.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_max_pixels(rd)

    nz = sub.add_parser("noise", help="show a noise spec or a device's calibration snapshot, or save it as JSON")
    nz.add_argument("spec", help="a noise spec, e.g. device=FakeTorino or depolarizing=0.001,readout=0.02")
    nz.add_argument("-o", "--output", default=None, help="save the spec as JSON (reusable as --noise FILE.json)")

    rp = sub.add_parser("replay", help="re-decode a run record (hardware_runs/...) offline and compare, bit for bit")
    rp.add_argument("record", nargs="+", help="run directories (written by decode --run-dir)")

    st = sub.add_parser("study", help="shot-noise and noise studies: measured PSNR beside the prediction")
    stsub = st.add_subparsers(dest="study", required=True)
    for name, helptext in (("shots", "PSNR against shots per circuit"), ("noise", "PSNR against one noise parameter")):
        q = stsub.add_parser(name, help=helptext)
        q.add_argument("input", help=".qinr file")
        q.add_argument("--backend", required=True, help="backend name (see `quinr backends`)")
        if name == "shots":
            q.add_argument("--shots", type=_int_list, required=True, metavar="N,N,...", help="shots per circuit to try")
        else:
            q.add_argument("--param", required=True, help="noise parameter to sweep: depolarizing, depolarizing2, "
                           "damping, readout or global_depolarizing")
            q.add_argument("--values", type=_float_list, required=True, metavar="V,V,...", help="values to try")
            q.add_argument("--shots", type=int, default=None, help="shots per circuit (omit for exact)")
        q.add_argument("--repeats", type=int, default=3, help="decodes per point with shots (default 3)")
        q.add_argument("--noise", default=None, metavar="SPEC", help="(base) noise of the backend")
        q.add_argument("-O", "--option", action="append", default=[], metavar="KEY=VALUE", help="backend option")
        q.add_argument("--reference", default=None, help="the original signal (default: the exact decode)")
        q.add_argument("--crop", type=_crop, default=None, metavar="X,Y,W,H", help="study a window only")
        q.add_argument("--scale", type=float, default=None, help="study a rescaled decode")
        q.add_argument("--seed", type=int, default=0, help="sampling seed of the first run")
        q.add_argument("--out", default="quinr-study", help="output folder for JSON, CSV and PNG (default ./quinr-study)")
        q.add_argument("--quiet", action="store_true", help="no progress bar")

    inf = sub.add_parser("info", help="show the header of a .qinr file")
    inf.add_argument("input", help=".qinr file")

    demo = sub.add_parser("demo", help="compress a built-in real photo and compare with JPEG2000")
    demo.add_argument("--out", default="quinr-demo", help="output folder (default ./quinr-demo)")
    demo.add_argument("--steps", type=int, default=None, help="override the demo's training steps")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


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
    from .codec import encode
    from .model import ModelConfig
    from .train import TrainConfig

    model = ModelConfig(
        n_qubits=args.qubits,
        embed_dim=args.embed,
        reuploads=args.reuploads,
        layers=args.layers,
        blocks=args.blocks,
        shuffle_seed=args.shuffle_seed,
        angle_scale=args.angle_scale,
    )
    from .backends import parse_noise

    train = TrainConfig(
        steps=args.steps,
        lr=args.lr,
        lr_embed=args.lr_embed,
        weight_decay=args.weight_decay,
        schedule=args.schedule,
        batch_size=args.batch_size,
        seed=args.seed,
        device=args.device,
        noise=None if args.noise is None else parse_noise(args.noise),  # device=NAME resolved here, not in training
        noise_mode=args.noise_mode,
    )
    from .codec import parse_bits

    bits = parse_bits(args.bits)
    bar, callback = _progress(args.steps, args.quiet, "encode")
    try:
        res = encode(args.input, args.output, model=model, train=train, bits=bits, callback=callback,
                     max_pixels=args.max_pixels, frame=args.frame)
    finally:
        if bar is not None:
            bar.close()
    h, w, c = res.decoded.shape
    print(f"wrote {res.path} ({res.n_bytes} bytes)")
    print(f"  signal   {w}x{h}x{c} {res.decoded.kind.name.lower()}")
    print(f"  network  {res.model.circuit().describe()} blocks={res.model.blocks}")
    bits = f"{res.bits} bits" if len(set(res.tensor_bits)) <= 1 else f"({', '.join(map(str, res.tensor_bits))}) bits per tensor"
    print(f"  params   {res.n_params} x {bits}")
    print(f"  bpp      {res.bpp:.4f}  (8 x {res.n_bytes} bytes / {h * w} pixels)")
    print(f"  PSNR     {res.psnr:.2f} dB  (peak {res.peak:g}, measured by decoding the written file)")
    if res.noisy_psnr is not None:
        print(f"  noisy    {res.noisy_psnr:.2f} dB  decoded under the training noise ({train.noise.describe()}, "
              f"{train.noise_mode})")
    print(f"  time     {res.total_seconds:.1f} s  (training {res.train_seconds:.1f} s, best step {res.train.best_step})")
    return 0


def _cmd_decode(args: argparse.Namespace) -> int:
    from .codec import decode, info
    from .files import check_output
    from .signal import output_suffixes, save_signal

    t0 = time.perf_counter()
    report = None
    if args.backend is None:
        if (args.shots is not None or args.option or args.record or args.report or args.max_cost is not None
                or args.yes or args.noise or args.mitigate or args.run_dir):
            from .errors import BackendError

            raise BackendError("--shots, -O, --noise, --mitigate, --run-dir, --record, --report, --max-cost and --yes need "
                               "--backend (e.g. --backend torch --shots 1024)")
        hdr = info(args.input)
        check_output(args.output, inputs=[args.input], suffixes=output_suffixes(hdr.kind, hdr.channels),
                     what="decoded signal")
        sig = decode(args.input, device=args.device, crop=args.crop, scale=args.scale, max_pixels=args.max_pixels)
        out = save_signal(sig, args.output)
    else:
        from .backends import parse_options
        from .hardware import decode_on_backend

        options = parse_options(args.option)
        if args.noise is not None:
            options["noise"] = args.noise
        out = Path(args.output)
        sig, report = decode_on_backend(
            args.input, args.backend, shots=args.shots, options=options, seed=args.seed,
            record=args.record, max_cost=args.max_cost, yes=args.yes, crop=args.crop, scale=args.scale,
            mitigate=args.mitigate, run_dir=args.run_dir, command=["quinr", *(args.argv or [])] if args.run_dir else None,
            output=out, report_path=Path(str(out) + ".report.json") if args.report else None,
            max_pixels=args.max_pixels,
        )
    h, w, c = sig.shape
    print(f"wrote {out} ({w}x{h}x{c} {sig.kind.name.lower()}) in {time.perf_counter() - t0:.1f} s")
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
        if args.report:
            print(f"  report   {out}.report.json")
    return 0


def _cmd_budget(args: argparse.Namespace) -> int:
    import json

    from .budget import plan_budget

    est = plan_budget(args.input, args.backend, shots=args.shots, target_psnr_drop=args.target_psnr_drop,
                      reference=args.reference, crop=args.crop, scale=args.scale, max_cost=args.max_cost,
                      max_pixels=args.max_pixels)
    if args.json:
        print(json.dumps(est.to_dict(), indent=2))
        return 0
    shots = "exact" if est.shots is None else f"{est.shots}"
    print(f"{args.input} on {est.backend} ({est.device})")
    print(f"  circuits          {est.circuits}")
    print(f"  shots/circuit     {shots}")
    print(f"  total shots       {est.total_shots}")
    print(f"  tasks             {est.tasks}")
    if est.device_seconds is not None:
        print(f"  device time       {est.device_seconds:.1f} s (estimate)")
    print(f"  cost              {est.cost:.2f} {est.currency}  ({est.pricing}; {est.pricing_source})")
    if est.predicted_psnr_vs_exact is not None:
        print(f"  predicted PSNR    {est.predicted_psnr_vs_exact:.2f} dB against the exact decode (shot noise only)")
    if est.predicted_psnr is not None:
        print(f"  predicted PSNR    {est.predicted_psnr:.2f} dB against {args.reference}")
    if est.max_cost is not None:
        verdict = "within" if est.within_budget else "OVER"
        print(f"  budget            {verdict} --max-cost {est.max_cost:.2f}" + (f"; fits: {est.fits}" if est.fits else ""))
    return 0


def _cmd_backends(args: argparse.Namespace) -> int:
    from .backends import load_profiles, missing_requirements

    rows = [("name", "kind", "driver", "exact", "qubits", "noise", "price", "available")]
    for p in sorted(load_profiles().values(), key=lambda p: p.name):
        missing = missing_requirements(p)
        avail = "yes" if not missing else (p.pip or f"pip install {' '.join(missing)}")
        name = p.name + (" (user override)" if p.overrides_builtin else "")
        rows.append((name, p.kind, p.driver, "yes" if p.exact else "no", str(p.max_qubits), p.noise,
                     p.pricing.describe(), avail))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(col.ljust(w) for col, w in zip(r, widths, strict=True)).rstrip())
    return 0


def _cmd_lidar_to_range(args: argparse.Namespace) -> int:
    import numpy as np

    from .files import atomic_open, check_output
    from .lidar import Projection, project, read_kitti_bin, save_preview

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

    from .rd import RDConfig, plan, run_rd

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
            jpeg2000_bpp=d.jpeg2000_bpp if args.jpeg2000_bpp is None else tuple(_float_list(args.jpeg2000_bpp)),
        )
    except (ValueError, argparse.ArgumentTypeError):
        from .errors import ConfigError

        raise ConfigError("--quinr-grid takes NQ:M:R items, the other lists comma-separated numbers") from None
    if args.points is not None:
        n = max(1, args.points)
        cfg = dataclasses.replace(cfg, quinr_grid=cfg.quinr_grid[:n], coin_configs=cfg.coin_configs[:n],
                                  jpeg2000_bpp=cfg.jpeg2000_bpp[:n])
    from .files import check_output_dir
    from .rd import load_input

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


def _cmd_replay(args: argparse.Namespace) -> int:
    from .hardware import replay_record

    bad = 0
    for path in args.record:
        res = replay_record(path)
        rec, rep = res["recorded"], res["replayed"]
        status = "identical" if res["identical"] else "DIFFERENT"
        bad += not res["identical"]
        print(f"{path}: {status}; PSNR vs exact decode recorded {rec['psnr_vs_exact_decode']:.4f} dB, "
              f"replayed {rep['psnr_vs_exact_decode']:.4f} dB")
    return 1 if bad else 0


def _cmd_noise(args: argparse.Namespace) -> int:
    import json

    from .backends import parse_noise as parse

    if args.output:
        from .files import check_output

        check_output(args.output, suffixes=(".json",), what="noise spec")
    spec = parse(args.spec)
    text = json.dumps(spec.to_dict(), indent=2)
    if args.output:
        from .files import atomic_write

        atomic_write(Path(args.output), (text + "\n").encode())
        print(f"wrote {args.output}: {spec.describe()}")
    else:
        print(text)
    return 0


def _cmd_study(args: argparse.Namespace) -> int:
    from .backends import parse_options
    from .files import check_output_dir
    from .study import study_noise, study_shots

    check_output_dir(args.out)
    runs_per_point = args.repeats
    points = len(args.shots) if args.study == "shots" else len(args.values)
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=points * runs_per_point, desc=f"study {args.study}", unit="decode", file=sys.stderr,
                   dynamic_ncols=True)
    common = dict(repeats=args.repeats, noise=args.noise, options=parse_options(args.option), reference=args.reference,
                  seed=args.seed, crop=args.crop, scale=args.scale, progress=None if bar is None else lambda: bar.update(1))
    try:
        if args.study == "shots":
            res = study_shots(args.input, args.backend, args.shots, **common)
        else:
            res = study_noise(args.input, args.backend, args.param, args.values, shots=args.shots, **common)
    finally:
        if bar is not None:
            bar.close()
    paths = res.save(args.out)
    label = "shots" if res.kind == "shots" else res.parameter
    print(f"study {res.kind} on {res.backend}, PSNR vs {res.reference}, noise {res.noise}")
    print(f"  {label:>14}  {'measured (dB)':>16}  {'predicted':>9}")
    for p in res.points:
        pred = "" if p.predicted_psnr is None else f"{p.predicted_psnr:9.2f}"
        print(f"  {p.value:>14g}  {p.mean:8.2f} ± {p.std:5.2f}  {pred}")
    print("  wrote " + ", ".join(str(v) for v in paths.values()))
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from .codec import info

    hdr = info(args.input)
    size = Path(args.input).stat().st_size
    m = hdr.model
    print(f"{args.input}: quinr bitstream, {size} bytes, {8 * size / hdr.pixels:.4f} bpp")
    print(f"  signal   {hdr.width}x{hdr.height}x{hdr.channels} {hdr.kind.name.lower()} range [{hdr.vmin:g}, {hdr.vmax:g}]")
    print(f"  network  {m.circuit().describe()} blocks={m.blocks} w0={m.w0:g} angle_scale={m.angle_scale:g}")
    per = hdr.bits_of()
    depth = f"{hdr.bits} bits" if len(set(per)) == 1 else f"({', '.join(map(str, per))}) bits per tensor"
    print(f"  weights  {m.n_params()} x {depth} (per-tensor uniform quantization; format v{hdr.version})")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo
    from .files import check_output_dir

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


_COMMANDS = {
    "encode": _cmd_encode,
    "decode": _cmd_decode,
    "info": _cmd_info,
    "demo": _cmd_demo,
    "backends": _cmd_backends,
    "budget": _cmd_budget,
    "noise": _cmd_noise,
    "replay": _cmd_replay,
    "rd": _cmd_rd,
    "lidar-to-range": _cmd_lidar_to_range,
    "study": _cmd_study,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        code = _COMMANDS[args.command](args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handlers below
        return code
    except QuinrError as exc:
        return _fail(str(exc))
    except BrokenPipeError:
        _silence_stdout()
        return 141
    except OSError as exc:  # file-system errors quinr did not foresee still name the path
        from .files import describe_os_error

        return _fail(describe_os_error(exc.filename, exc) if exc.filename else f"{type(exc).__name__}: {exc}")
    except MemoryError:
        return _fail("out of memory; decode a --crop or --scale, or use smaller settings")
    except KeyboardInterrupt:
        print("quinr: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI never shows a traceback (QUINR_DEBUG=1 does)
        if os.environ.get("QUINR_DEBUG"):
            raise
        return _fail(f"internal error: {type(exc).__name__}: {exc} (set QUINR_DEBUG=1 for the traceback, and please "
                     "report it)")


def _fail(message: str) -> int:
    with contextlib.suppress(BrokenPipeError, OSError):
        print(f"quinr: error: {' '.join(message.split())}", file=sys.stderr)
    return 1


def _silence_stdout() -> None:
    """After a closed pipe: point stdout at /dev/null so that the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
