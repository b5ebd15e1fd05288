"""``quinr encode --target-bpp | --max-bytes | --target-psnr``: rate control (:mod:`quinr.rate`)."""

from __future__ import annotations

import argparse

from .output import encode_dict, print_encode, print_json


def encode_at_target(args: argparse.Namespace, source, model, train) -> int:
    """Encode one signal at the asked target; print the file and how close it landed."""
    from ..rate import encode_to
    from .progress import Bars

    with Bars(args.quiet or args.json, "encode", "training") as bars:
        r = encode_to(source, args.output, target_bpp=args.target_bpp, max_bytes=args.max_bytes,
                      target_psnr=args.target_psnr, model=model, train=train, max_pixels=args.max_pixels,
                      callback=lambda info: bars.step(bars.done, "training", info.step, train.steps))
    network = "given" if r.preset is None else f"{r.preset.describe()} (rate-control table)"
    if args.json:
        print_json({**encode_dict(r.result, train), "rate_control": {
            "asked": r.asked, "landed": r.landed, "miss": r.miss, "trainings": r.trainings, "network": network}})
        return 0
    print_encode(r.result, train)
    print(f"  asked    {r.asked}: landed {r.landed}")
    print(f"  chosen   {network}, {r.trainings} training{'s' if r.trainings > 1 else ''}")
    return 0
