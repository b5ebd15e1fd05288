"""File size and PSNR of every quinr network of a ``quinr rd`` run: plain 16-bit weights against
per-tensor bit depths with entropy coding (``--bits auto``), from the sweep's ``quinr.json``.

    python benchmarks/bits_figure.py RD_DIR [RD_DIR ...] --figure docs/figures/bits_auto.png

Prints a table and writes the figure.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="output folders of quinr rd")
    ap.add_argument("--figure", default="bits_auto.png")
    args = ap.parse_args()
    rows = []
    for run in args.runs:
        doc = json.loads((Path(run) / "quinr.json").read_text())
        by_net: dict[int, dict] = {}
        for p in doc["all_points"]:
            net = by_net.setdefault(p["params"], {})
            if p.get("auto_bits"):
                net["auto"] = p
            elif p["bits"] == 16:
                net["16"] = p
        for params, net in sorted(by_net.items()):
            if "auto" in net and "16" in net:
                rows.append((doc["meta"]["input"], params, net["16"], net["auto"]))
    print(f"{'input':>16} {'params':>6} {'16-bit bytes':>12} {'PSNR':>7} {'auto bytes':>10} {'PSNR':>7} {'saved':>6}")
    for name, params, a, b in rows:
        print(f"{name:>16} {params:>6} {a['bytes']:>12} {a['psnr']:>7.2f} {b['bytes']:>10} {b['psnr']:>7.2f} "
              f"{1 - b['bytes'] / a['bytes']:>6.0%}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4), dpi=120)
    for i, (name, params, a, b) in enumerate(rows):
        color = f"C{i % 10}"
        ax.annotate("", xy=(b["bpp"], b["psnr"]), xytext=(a["bpp"], a["psnr"]),
                    arrowprops={"arrowstyle": "->", "color": color})
        ax.scatter([a["bpp"]], [a["psnr"]], marker="o", color=color, label=f"{name}, {params} weights")
        ax.scatter([b["bpp"]], [b["psnr"]], marker="s", color=color)
    ax.set_xscale("log")
    ax.set_xlabel("bits per pixel (o: 16-bit weights, s: --bits auto, entropy coded)")
    ax.set_ylabel("PSNR (dB)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.figure)
    print(f"wrote {args.figure}")


if __name__ == "__main__":
    main()
