"""The command line's argument parser: every command, its options and their help."""

from __future__ import annotations

import argparse
from typing import Any

from ..config import LINKS, READOUTS

NETWORK_FLAGS = {"qubits": "Nq, number of qubits", "embed": "M, embedding size", "reuploads": "R, data re-uploads",
                 "layers": "E, entangling layers per upload", "blocks": "stacked quINR blocks"}
NETWORK_DEFAULTS = {"qubits": 8, "embed": 24, "reuploads": 2, "layers": 1, "blocks": 1}


def _add_rate_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("rate control (one of them; the network from the table and the bits to fit)")
    x = g.add_mutually_exclusive_group()
    x.add_argument("--target-bpp", type=float, default=None, metavar="BPP", help="the best file of at most BPP")
    x.add_argument("--max-bytes", type=int, default=None, metavar="N", help="the best file of at most N bytes")
    x.add_argument("--target-psnr", type=float, default=None, metavar="DB",
                   help="the smallest file of at least DB (trains a larger network if the first falls short)")
    g.add_argument("--rate-table", default=None, metavar="FILE",
                   help="choose the network from this table (written by quinr search --table) instead of the shipped one")


def _add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("network (with a rate target: from the rate-control table unless given)")
    for flag, what in NETWORK_FLAGS.items():  # default None: a rate target sees which were given
        if flag == "embed":
            g.add_argument("--embed", type=embed_sizes, default=None, metavar="M|M+M...",
                           help=f"{what} (default {NETWORK_DEFAULTS[flag]}), or one per block: 26+6 (format version 5; "
                                "--blocks defaults to their number)")
            continue
        g.add_argument(f"--{flag}", type=int, default=None, help=f"{what} (default {NETWORK_DEFAULTS[flag]})")
    g.add_argument("--shuffle-seed", type=int, default=0, help="seed of the re-upload permutations")
    g.add_argument("--angle-scale", type=float, default=1.0, help="h is embedded as SCALE*h radians")
    g.add_argument("--readout", choices=READOUTS, default=None,
                   help="how the last block is read out: probs (the paper's last N_out basis-state probabilities, "
                        "default) or z (<Z> of the first N_out qubits)")
    g.add_argument("--link", choices=LINKS, default=None,
                   help="what each block after the first reads: z (the previous block's <Z>, default), residual "
                        "(the sum of the two previous blocks' <Z>) or probs (all 2^Nq probabilities; a wide input "
                        "layer); anything but z writes format version 6")
    g.add_argument("--entangler", default=None, metavar="KIND",
                   help="pairs the CRZ layer couples: all (the paper's, default), linear, ring, or device:BACKEND "
                        "(the coupled pairs of BACKEND's best qubits, layout pinned)")
    g.add_argument("--target", default=None, metavar="BACKEND",
                   help="make the file for this backend: the entangler and physical qubits from its calibration "
                        "(--entangler device:BACKEND unless given), trained through its device model unless --noise")


def _add_train_args(p: argparse.ArgumentParser) -> None:
    from ..train import TrainConfig

    d = TrainConfig()
    g = p.add_argument_group("training")
    g.add_argument("--steps", type=int, default=None,
                   help=f"optimizer steps (default {d.steps}; with a rate target, the steps its table was "
                        "measured with: 1000)")
    g.add_argument("--lr", type=float, default=d.lr, help=f"AdamW learning rate of the circuit (default {d.lr})")
    g.add_argument("--lr-embed", type=float, default=None, help="learning rate of the sine layer (default: see docs)")
    g.add_argument("--weight-decay", type=float, default=d.weight_decay)
    g.add_argument("--schedule", choices=("cosine", "constant"), default=d.schedule)
    g.add_argument("--batch-size", type=batch_size, default="auto", metavar="N|auto|full",
                   help="coordinates per step (default auto: full batch up to 16,384 coordinates, else 4,096)")
    g.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="stop training after this long (the learning-rate schedule runs on time)")
    g.add_argument("--init-freq", type=init_freq, default=d.init_freq, metavar="F[,F]", help=INIT_FREQ_HELP)
    g.add_argument("--qat-steps", type=int, default=d.qat_steps, metavar="N",
                   help=f"after the bits are chosen, fine-tune N steps through the quantized weights "
                        f"(quantization-aware; default {d.qat_steps}: off)")
    g.add_argument("--compile", action="store_true",
                   help="torch.compile the model (about 1.2x faster steps after ~40 s of compiling on CPU: pays "
                        "above ~2,000 steps)")
    g.add_argument("--seed", type=int, default=d.seed, help="seed of initialisation and sampling")
    g.add_argument("--restarts", type=int, default=d.restarts, metavar="N",
                   help="train N times from seeds SEED, SEED+1, ... and keep the best (N times the training time; "
                        f"default {d.restarts})")
    g.add_argument("--device", default=d.device, help="torch device for training: cpu or cuda")
    g.add_argument("--bits", default=None, help="bits per stored weight (default 16), or auto[:DB]: per-tensor "
                   "depths within DB (default 0.05) of the 16-bit PSNR; bytes:N the best file of at most N bytes; "
                   "psnr:DB the smallest file of at least DB")
    g.add_argument("--noise", default=None, metavar="SPEC",
                   help="train noise-aware under this noise (e.g. depolarizing=0.002,readout=0.03 or device=FakeTorino)")
    g.add_argument("--noise-mode", choices=("global", "dm"), default=d.noise_mode,
                   help="simulate the noise with the white-noise approximation (global, fast) or exactly (dm, small Nq)")


def _add_max_pixels(p: argparse.ArgumentParser) -> None:
    from ..signal import DEFAULT_MAX_PIXELS, MAX_PIXELS

    p.add_argument("--max-pixels", type=int, default=None, metavar="N",
                   help=f"refuse signals larger than N pixels, checked before they are decoded (default "
                        f"{DEFAULT_MAX_PIXELS}, at most {MAX_PIXELS})")


def batch_size(text: str) -> int | str | None:
    if text in ("auto", "full"):
        return None if text == "full" else "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of coordinates, auto or full, got {text!r}") from None


def _one_or_many(text: str, sep: str, kind: type, expected: str) -> Any:
    """One value, or a tuple of several joined by ``sep``; argparse's error names ``expected``."""
    try:
        values = tuple(kind(v) for v in text.split(sep))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    return values[0] if len(values) == 1 else values


def model_options_given(args: argparse.Namespace) -> dict[str, str]:
    """``--readout`` and ``--link`` as :class:`~quinr.config.ModelConfig` keywords, where given."""
    return {k: getattr(args, k) for k in ("readout", "link") if getattr(args, k) is not None}


def choice_list(choices: tuple[str, ...]):
    """A parser of comma-separated items, each one of ``choices``."""

    def parse(text: str) -> list[str]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        bad = [t for t in items if t not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"{text!r}: give one or more of {', '.join(choices)}, comma-separated")
        return items

    return parse


def embed_sizes(text: str) -> int | tuple[int, ...]:
    """``--embed M`` or one M per block, ``M+M+...``."""
    return _one_or_many(text, "+", int, "M or M+M+... (one per block)")


def init_freq(text: str) -> float | tuple[float, ...]:
    """``--init-freq F`` or one bound per coordinate axis, ``FROWS,FCOLS``."""
    return _one_or_many(text, ",", float, "F or F,F (radians per unit coordinate)")


INIT_FREQ_HELP = ("first-layer frequency bound at the start, radians per unit coordinate: F, or FROWS,FCOLS "
                  "per axis (default 3; range images: 3,12, see docs/model.md)")


def int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def float_list(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _default(value) -> str:
    if isinstance(value, tuple):
        return ",".join(":".join(map(str, v)) if isinstance(v, tuple) else str(v) for v in value)
    return str(value)


def _crop(text: str) -> tuple[int, ...]:
    """X,Y,W,H (an image's window) or X,W (a one-dimensional signal's)."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) not in (2, 4):
        raise argparse.ArgumentTypeError(f"crop must be X,Y,W,H (or X,W for a 1-D signal) integers, got {text!r}")
    return values


class _Parser(argparse.ArgumentParser):
    """argparse with a usage error on one line (``quinr encode: error: ...``), exit status 2 as
    argparse gives, instead of the whole usage block before it; ``--help`` still has the usage."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from ..mitigation import MITIGATIONS
    from ..model import INIT_FREQ
    from ..train import DEFAULT_LR
    from ..version import __version__

    parser = _Parser(prog="quinr", description="Quantum implicit neural compression (quINR).")
    parser.add_argument("--version", action="version", version=f"quinr {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    enc = sub.add_parser("encode", help="compress an image or .npy array to a .qinr file")
    enc.add_argument("input", help="8-bit grey/RGB PNG or JPEG, 16-bit grey PNG, or float .npy; or a folder or a "
                     "quoted glob of them (and KITTI .bin scans): each becomes OUTDIR/<name>.qinr, resumable")
    enc.add_argument("-o", "--output", required=True, help="output .qinr file (a folder for several inputs)")
    enc.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_engine(enc, "signals of a folder")
    enc.add_argument("--json", action="store_true", help="print the result as one JSON object (no progress bar)")
    enc.add_argument("--frame", type=int, default=None, metavar="K", help="encode frame K of a multi-frame image")
    enc.add_argument("--crop", type=_crop, default=None, metavar="X,Y,W,H",
                     help="encode only this window (X,W for a 1-D signal), after --scale")
    enc.add_argument("--scale", type=float, default=None, help="encode the signal resampled to SCALE times its size")
    _add_max_pixels(enc)
    _add_rate_args(enc)
    _add_model_args(enc)
    _add_train_args(enc)

    dec = sub.add_parser("decode", help="decode a .qinr file to an image (.png) or array (.npy)")
    dec.add_argument("input", help=".qinr file")
    dec.add_argument("-o", "--output", required=True,
                     help="output .png (images) or .npy (float signals; a .png of one is an 8-bit preview)")
    dec.add_argument("--reference", default=None, metavar="FILE",
                     help="the original signal: print (and put in --report) PSNR, RMSE and MAE against it")
    dec.add_argument("--range-image", action="store_true",
                     help="with --reference: the signal is a LiDAR range image; add range RMSE/MAE in metres, "
                          "mask accuracy and the Chamfer distance of the re-projected point clouds")
    dec.add_argument("--json", action="store_true", help="print the result as one JSON object (no progress bar)")
    dec.add_argument("--quiet", action="store_true", help="no progress bar on backend decodes")
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
    dec.add_argument("--crop", type=_crop, default=None, metavar="X,Y,W,H", help="decode only this window (X,W for a 1-D signal)")
    dec.add_argument("--scale", type=float, default=None, help="decode at SCALE times the size")
    dec.add_argument("--noise", default=None, metavar="SPEC", help="run the backend under this noise (same as -O noise=SPEC)")
    dec.add_argument("--run-dir", default=None, metavar="DIR",
                     help="checkpoint every finished chunk here; rerunning with the same DIR resumes, never resubmits")
    dec.add_argument("--mitigate", choices=MITIGATIONS, default=None,
                     help="readout: invert the backend's readout calibration; zne: zero-noise extrapolation (every "
                          "circuit also run with its gates folded 3 and 5 times: 3x the circuits and shots); both")
    _add_max_pixels(dec)

    bk = sub.add_parser("backends", help="list the backend catalogue, or describe one backend and its options")
    bk.add_argument("name", nargs="?", default=None, help="a backend to describe (its profile, driver and -O options)")
    bk.add_argument("--json", action="store_true", help="machine-readable output")

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
    bud.add_argument("-O", "--option", action="append", default=[], metavar="KEY=VALUE",
                     help="backend option (repeatable), as the decode will give it")
    bud.add_argument("--mitigate", choices=MITIGATIONS, default=None,
                     help="price and predict the decode with this mitigation")
    bud.add_argument("--predict-samples", type=int, default=None, metavar="N",
                     help="coordinates the noise prediction evaluates (default 2048, a seeded subset)")
    bud.add_argument("--time-probe", action=argparse.BooleanOptionalAction, default=None,
                     help="estimate the decode's wall time here from two timed runs of the backend (default: on "
                          "simulators; emulators' probes pay their setup, about 15 s each)")
    bud.add_argument("--json", action="store_true", help="machine-readable output")
    _add_max_pixels(bud)

    li = sub.add_parser("lidar-to-range", help="project a KITTI Velodyne .bin scan to a range image (.npy + PNG preview)")
    li.add_argument("input", help="KITTI .bin (float32 x, y, z, reflectance)")
    li.add_argument("-o", "--output", required=True, help="output .npy (float32 metres, 0 = empty)")
    li.add_argument("--height", type=int, default=64, help="rows (default 64)")
    li.add_argument("--width", type=int, default=1024, help="columns (default 1024)")
    li.add_argument("--fov-up", type=float, default=3.0, help="upper field of view, degrees (default 3)")
    li.add_argument("--fov-down", type=float, default=-25.0, help="lower field of view, degrees (default -25)")

    rd = sub.add_parser("rd", help="rate-distortion sweep of quinr, its equal-size SIREN control, COIN and JPEG2000: JSON per "
                        "codec and a plot")
    rd.add_argument("input", help="image, float .npy, or KITTI .bin scan (projected to its range image)")
    rd.add_argument("--codecs", default="quinr,siren,coin,jpeg2000", help="comma-separated subset of the registered "
                    "codecs (quinr; siren, the equal-size classical control; coin; jpeg2000)")
    rd.add_argument("--points", type=int, default=None, help="at most this many settings per codec")
    rd.add_argument("--out", default="quinr-rd", help="output folder (default ./quinr-rd); rerunning resumes")
    from ..baselines.registry import codecs as registered

    for name, codec in registered().items():  # each codec declares its own options
        for key, opt in codec.options.items():
            rd.add_argument(f"--{name}-{key}", default=None, metavar=opt.metavar,
                            help=f"{name}: {opt.help} (default {_default(opt.default)})")
    _add_engine(rd, "points")
    rd.add_argument("--quiet", action="store_true", help="no progress bar")
    rd.add_argument("--crop", type=_crop, default=None, metavar="X,Y,W,H", help="sweep only this window, after --scale")
    rd.add_argument("--scale", type=float, default=None, help="sweep the signal resampled to SCALE times its size")
    _add_max_pixels(rd)

    se = sub.add_parser("search", help="a budgeted search of the network for one signal: its frontier, and a "
                        "rate-control table for encode --rate-table")
    se.add_argument("input", help="image, float .npy, or KITTI .bin scan (projected to its range image)")
    se.add_argument("--minutes", type=float, required=True, help="time budget: a network starts only if its "
                    "estimated time fits what is left")
    se.add_argument("--out", default="quinr-search.jsonl", help="results, one line per network (default "
                    "./quinr-search.jsonl); rerunning resumes")
    se.add_argument("--table", default=None, metavar="FILE", help="also write the rate-control table (JSON) here")
    se.add_argument("--networks", default=None, metavar="NQ:M:R[:E[:B]],...",
                    help="networks to try (default: the shipped table's eight and two wider ones); M may be one "
                         "size per block, 6:26+6:2:1:2")
    se.add_argument("--steps", type=int, default=1000, help="training steps per network (default 1000)")
    se.add_argument("--qat-steps", type=int, default=0, metavar="N",
                    help="fine-tune each file N steps through its quantized weights (default 0: off)")
    se.add_argument("--init-freq", type=init_freq, default=INIT_FREQ, metavar="F[,F]", help=INIT_FREQ_HELP)
    se.add_argument("--lr", type=float, default=DEFAULT_LR,
                    help=f"AdamW learning rate of every network's circuit (default {DEFAULT_LR})")
    se.add_argument("--ladder", type=float_list, default=None, metavar="F,F,...",
                    help="byte budgets written besides the --bits auto file, as fractions of its size "
                         "(default 0.6,0.7,0.8,0.9,1.1,1.25,1.5)")
    se.add_argument("--seed", type=int_list, default=[0], metavar="S[,S...]",
                    help="seed of initialisation and sampling; several train every network from each, and the "
                         "frontier keeps the best file at every rate")
    se.add_argument("--readout", type=choice_list(READOUTS), default=["probs"], metavar="R[,R]",
                    help="readouts to try for every network: probs (the paper's), z (default probs)")
    se.add_argument("--link", type=choice_list(LINKS), default=["z"], metavar="L[,L...]",
                    help="links to try for every network of several blocks: z (the paper's), residual, probs "
                         "(default z)")
    se.add_argument("--json", action="store_true", help="machine-readable output")
    se.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_max_pixels(se)

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
            q.add_argument("--shots", type=int_list, required=True, metavar="N,N,...", help="shots per circuit to try")
        else:
            q.add_argument("--param", required=True, help="noise parameter to sweep: depolarizing, depolarizing2, "
                           "damping, readout or global_depolarizing")
            q.add_argument("--values", type=float_list, required=True, metavar="V,V,...", help="values to try")
            q.add_argument("--shots", type=int, default=None, help="shots per circuit (omit for exact)")
        q.add_argument("--repeats", type=int, default=3, help="decodes per point with shots (default 3)")
        q.add_argument("--mitigate", choices=MITIGATIONS, default=None,
                       help="also decode every point with this mitigation (same seeds): both on one plot")
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
    inf.add_argument("--json", action="store_true", help="machine-readable output")

    cmp = sub.add_parser("compare", help="PSNR, RMSE and MAE of a signal against a reference (images, .npy, .qinr)")
    cmp.add_argument("reference", help="the original: image, .npy, or .qinr (decoded exactly)")
    cmp.add_argument("test", help="the signal to judge: image, .npy, or .qinr (decoded exactly)")
    cmp.add_argument("--range-image", action="store_true",
                     help="LiDAR range images: add range RMSE/MAE in metres, mask accuracy and Chamfer distance")
    cmp.add_argument("--json", action="store_true", help="machine-readable output")
    _add_max_pixels(cmp)

    demo = sub.add_parser("demo", help="compress a built-in real photo and compare with JPEG2000")
    demo.add_argument("--out", default="quinr-demo", help="output folder (default ./quinr-demo)")
    demo.add_argument("--steps", type=int, default=None, help="override the demo's training steps")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _add_engine(p: argparse.ArgumentParser, what: str) -> None:
    """Where independent trainings run (quinr.engines): the same choices for rd and encode."""
    p.add_argument("--engine", choices=("serial", "local", "ray"), default="local",
                   help=f"run {what} in local processes (default), one by one in this process (serial), or on Ray "
                        "(pip install 'quinr[cluster]'; the cluster at RAY_ADDRESS, else a local one)")
    p.add_argument("--workers", type=_workers, default=2, help=f"{what} at once for local/ray (default 2)")


def _workers(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {n}")
    return n
