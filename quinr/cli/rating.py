"""``quinr encode --target-bpp | --max-bytes | --target-psnr``: rate control (:mod:`quinr.rate`)."""

from __future__ import annotations

import argparse
import dataclasses

from .output import encode_dict, print_encode, print_json


def encode_at_target(args: argparse.Namespace, source, model, train) -> int:
    """Encode one signal at the asked target; print the file and how close it landed."""
    from ..rate import PRESETS, encode_to, load_table
    from .parser import model_options_given
    from .progress import Bars

    presets = PRESETS if args.rate_table is None else load_table(args.rate_table, _signal_of(source, args))
    options = model_options_given(args)
    if options:  # the table's networks with the asked readout and link (its curves were measured without)
        presets = tuple(dataclasses.replace(p, **options) for p in presets)
    with Bars(args.quiet or args.json, "encode", "training") as bars:
        r = encode_to(source, args.output, target_bpp=args.target_bpp, max_bytes=args.max_bytes,
                      target_psnr=args.target_psnr, model=model, train=train, max_pixels=args.max_pixels,
                      presets=presets,
                      callback=lambda info: bars.step(bars.done, "training", info.step, train.total_steps))
    network = "given" if r.preset is None else f"{r.preset.describe()} (rate-control table)"
    if args.json:
        print_json({**encode_dict(r.result, train), "rate_control": {
            "asked": r.asked, "landed": r.landed, "miss": r.miss, "trainings": r.trainings, "network": network}})
        return 0
    print_encode(r.result, train)
    print(f"  asked    {r.asked}: landed {r.landed}")
    print(f"  chosen   {network}, {r.trainings} training{'s' if r.trainings > 1 else ''}")
    return 0


def _signal_of(source, args: argparse.Namespace):
    from ..signal import Signal, load_signal

    return source if isinstance(source, Signal) else load_signal(source, max_pixels=args.max_pixels)


def _cmd_search(args: argparse.Namespace) -> int:
    """``quinr search``: measure the networks that fit the time budget; print the frontier."""
    from ..baselines.quinr_codec import grid_items
    from ..errors import ConfigError
    from ..files import check_output
    from ..networks import Network
    from ..rd import load_input
    from ..search import DEFAULT_NETWORKS, LADDER, candidates, search, write_table
    from .progress import Bars

    if args.networks is None:
        networks: tuple[Network, ...] = DEFAULT_NETWORKS
    else:
        try:
            networks = grid_items(args.networks)
        except ValueError:
            raise ConfigError(f"--networks takes NQ:M:R[:E[:B]],... items (M may be one size per block, "
                              f"A+B), got {args.networks!r}") from None
    import math

    if not (math.isfinite(args.minutes) and args.minutes > 0):
        raise ConfigError(f"--minutes must be a positive number, got {args.minutes:g}")
    cands = candidates(networks, args.steps, args.qat_steps, args.init_freq, args.lr, tuple(args.seed),
                       tuple(args.readout), tuple(args.link))
    if args.table is not None:
        check_output(args.table, inputs=[args.input], suffixes=(".json",), what="rate-control table")
    check_output(args.out, inputs=[args.input], suffixes=(".jsonl",), what="search results")
    signal = load_input(args.input, max_pixels=args.max_pixels).signal
    with Bars(args.quiet or args.json, "search", "network") as bars:
        result = search(signal, cands, 60.0 * args.minutes, args.out,
                        on_candidate=lambda name, done, total: bars.item(name, done, total),
                        callback=lambda info: bars.step(bars.done, "training", info.step, args.steps),
                        ladder=LADDER if args.ladder is None else tuple(args.ladder))
    table = write_table(result, signal, args.table) if args.table is not None and result.rows else None
    front = result.frontier()
    if args.json:
        print_json({"networks": result.rows, "skipped": [{"network": k, "why": w} for k, w in result.skipped],
                    "frontier": [{"network": p.candidate, "rule": p.rule, "bytes": p.n_bytes, "bpp": p.bpp,
                                  "psnr": p.psnr, "bits": list(p.bits)} for p in front],
                    "seconds": result.seconds, "results": str(args.out), "table": args.table if table else None})
        return 0
    asked = {c.key for c in cands}
    mine = sum(r["candidate"] in asked for r in result.rows)
    earlier = len(result.rows) - mine
    what = "networks" if len({(c.seed, c.readout, c.link) for c in cands}) == 1 else "trainings (networks x options)"
    print(f"searched {mine} of {len(asked)} {what} in {result.seconds:.0f} s"
          + (f" (the frontier below also counts {earlier} from earlier runs)" if earlier else "")
          + f"; results in {args.out}")
    for key, why in result.skipped:
        print(f"  skipped  {key}: {why}")
    if front:
        print(f"  {'bytes':>7} {'bpp':>8} {'PSNR dB':>8}  network@steps  (file)")
        for p in front:
            print(f"  {p.n_bytes:>7} {p.bpp:>8.4f} {p.psnr:>8.2f}  {p.candidate}  ({p.rule})")
    if table is not None:
        n = len(table["presets"])
        print(f"  rate-control table ({n} network{'s' if n > 1 else ''}) in {args.table}: "
              f"quinr encode ... --target-bpp B --rate-table {args.table}")
    elif args.table is not None:
        print("  no table written: no network was measured")
    return 0
