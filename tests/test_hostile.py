"""A careless or hostile user, case by case: every refusal is one line naming the problem, exit 1,
no traceback, no output left behind, the inputs unchanged, and nothing submitted to the (emulated,
priced) provider. Then the cases that are not refusals: what is flagged, counted, redacted, kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from quinr_testutils import smooth_rgb

from quinr import bitstream, encode
from quinr.backends.taskqueue import TaskQueue
from quinr.bitstream import Header
from quinr.cli import main
from quinr.model import ModelConfig
from quinr.quant import quantize
from quinr.signal import SignalKind
from quinr.train import TrainConfig

TINY = ModelConfig(n_qubits=3, embed_dim=5)
DRILL = ('driver = "torch_exact"\nkind = "qpu"\ndescription = "a priced drill device (a local queue)"\nexact = false\n'
         'max_qubits = 10\nmax_shots = 100000\nmax_circuits_per_task = 8\nnoise = "none"\n')
PRICE = '\n[pricing]\nmodel = "task+shot"\nper_task = 0.3\nper_shot = 0.001\ndate = "2026-11-29"\nsource = "drill"\n'


def _profile(name: str, body: str = DRILL, pricing: str = PRICE, head: str = "") -> str:
    return f'{head}name = "{name}"\n{body}{pricing}'


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """Signals and bitstreams every case starts from (copied into each case's folder)."""
    d = tmp_path_factory.mktemp("world")
    Image.fromarray(smooth_rgb(8, 8, seed=4)).save(d / "img.png")
    encode(str(d / "img.png"), d / "img.qinr", model=TINY, train=TrainConfig(steps=3))
    np.save(d / "float.npy", np.linspace(0, 5, 48, dtype=np.float32).reshape(6, 8))
    encode(str(d / "float.npy"), d / "float.qinr", model=TINY, train=TrainConfig(steps=3))
    np.save(d / "empty.npy", np.zeros((0, 5), np.float32))
    # a PNG whose header claims 100000 x 100000 pixels (a decompression bomb): never decoded
    def chunk(t: bytes, b: bytes) -> bytes:
        return struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b))
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    (d / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                                 + chunk(b"IEND", b""))
    frames = [Image.new("RGB", (4, 4), c) for c in ("red", "blue")]
    frames[0].save(d / "anim.gif", save_all=True, append_images=frames[1:])
    # a valid file whose header claims a huge signal, and one whose weight ranges are extreme
    shapes = TINY.tensor_shapes()
    cfg = ModelConfig(out_features=1, n_qubits=3, embed_dim=5)
    tensors = [quantize(np.zeros(s), 8) for _, s in cfg.tensor_shapes()]
    (d / "huge.qinr").write_bytes(bitstream.write(Header(SignalKind.U8, 65535, 1000, 1, 0.0, 255.0, cfg, 8), tensors))
    assert shapes
    data = bytearray(bitstream.write(Header(SignalKind.U8, 4, 4, 1, 0.0, 255.0, cfg, 8), tensors)[:-4])
    struct.pack_into(">ff", data, 5 + 36 + 1, -3.0e38, 3.0e38)  # the first tensor's range
    (d / "extreme.qinr").write_bytes(bytes(data) + struct.pack(">I", zlib.crc32(bytes(data))))
    return d


@dataclass
class Case:
    """One hostile command: the arguments (``{d}`` is the case's folder, ``{q}`` the drill queue),
    what the error line must say, and the outputs that must not appear."""

    args: list[str]
    match: str
    outputs: list[str] = field(default_factory=list)
    profiles: dict[str, str] = field(default_factory=dict)
    setup: Callable[[Path], None] | None = None


PAID = ["--backend", "paidq", "--shots", "10", "-O", "queue={q}"]


def _user_folder(d: Path) -> None:
    (d / "results").mkdir()
    (d / "results" / "manifest.json").write_text('{"mine": true}')
    (d / "results" / "decoded.png").write_bytes(b"my picture")


def _linked_run(d: Path) -> None:
    (d / "run").mkdir()
    (d / "run" / "run.json").write_text('{"file_sha256": "0", "backend": "paidq"}')
    (d / "elsewhere").mkdir()
    os.symlink(d / "elsewhere", d / "run" / "chunks")


def _bad_run_json(d: Path) -> None:
    (d / "run").mkdir()
    (d / "run" / "run.json").write_text("{not json")


def _record(manifest: dict) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        (d / "rec").mkdir()
        (d / "rec" / "manifest.json").write_text(json.dumps(manifest))
        (d / "rec" / "metrics.json").write_text("{}")
    return make


def _link_to_input(d: Path) -> None:
    os.symlink(d / "img.png", d / "link.qinr")


GOOD_MANIFEST = {"input": {"file": "input.qinr", "sha256": "0" * 64}, "shots": None, "crop": None, "scale": None,
                 "mitigation": None}

CASES = {
    # --- money
    "max-cost nan": Case(["decode", "{d}/img.qinr", "-o", "{d}/o.png", *PAID, "--max-cost", "nan"],
                         r"--max-cost must be a finite number >= 0, got nan", ["o.png"]),
    "max-cost inf": Case(["decode", "{d}/img.qinr", "-o", "{d}/o.png", *PAID, "--max-cost", "inf"],
                         r"--max-cost must be a finite number >= 0, got inf", ["o.png"]),
    "max-cost negative": Case(["decode", "{d}/img.qinr", "-o", "{d}/o.png", *PAID, "--max-cost", "-1"],
                              r"--max-cost must be a finite number >= 0", ["o.png"]),
    "budget max-cost nan": Case(["budget", "{d}/img.qinr", "--backend", "paidq", "--shots", "10", "--max-cost", "nan"],
                                r"--max-cost must be a finite number >= 0, got nan"),
    "billed without a budget": Case(["decode", "{d}/img.qinr", "-o", "{d}/o.png", *PAID],
                                    r"backend paidq is billed .* Pass --max-cost", ["o.png"]),
    "over the budget": Case(["decode", "{d}/img.qinr", "-o", "{d}/o.png", *PAID, "--max-cost", "0.5"],
                            r"estimated cost 3\.04 USD exceeds --max-cost 0\.50; nothing was submitted", ["o.png"]),
    "user profile shadows ibm.torino as a free simulator": Case(
        ["decode", "{d}/img.qinr", "-o", "{d}/o.png", "--backend", "ibm.torino", "--shots", "10"],
        r"ibm\.torino is a built-in backend; a user profile replaces it only with `overrides = true`", ["o.png"],
        {"ibm.torino": _profile("ibm.torino", DRILL.replace('"qpu"', '"simulator"'), "")}),
    "user profile shadows braket.iqm_garnet as free": Case(
        ["decode", "{d}/img.qinr", "-o", "{d}/o.png", "--backend", "braket.iqm_garnet", "--shots", "10"],
        r"braket\.iqm_garnet is a built-in backend", ["o.png"],
        {"braket.iqm_garnet": _profile("braket.iqm_garnet", pricing='\n[pricing]\nmodel = "free"\n')}),
    "negative price": Case(["backends"], r"\[pricing\] per_shot must be a finite number >= 0, got -0\.001", [],
                           {"cheap": _profile("cheap", pricing=PRICE.replace("0.001", "-0.001"))}),
    "nan price": Case(["backends"], r"\[pricing\] per_task must be a finite number >= 0, got nan", [],
                      {"cheap": _profile("cheap", pricing=PRICE.replace("0.3", "nan"))}),
    "a billed model at zero rates": Case(["backends"], r"free in disguise", [],
                                         {"cheap": _profile("cheap", pricing=PRICE.replace("0.3", "0").replace("0.001", "0"))}),
    "-O device_arn on the free local braket": Case(
        ["decode", "{d}/img.qinr", "-o", "{d}/o.png", "--backend", "braket", "--shots", "10",
         "-O", "device_arn=arn:aws:braket:us-east-1::device/qpu/ionq/Forte-1"],
        r"sends circuits to a real device \(device_arn=arn:aws:braket.*prices it as free", ["o.png"]),
    "budget of a free user profile aimed at a QPU": Case(
        ["budget", "{d}/img.qinr", "--backend", "myqpu", "--shots", "10"], r"backend myqpu sends circuits to a real device",
        [], {"myqpu": _profile("myqpu", DRILL.replace("torch_exact", "braket")
                               + '[options]\ndevice_arn = "arn:aws:braket:eu-north-1::device/qpu/iqm/Garnet"\n', "")}),
    "a PennyLane cloud device on a free profile": Case(
        ["decode", "{d}/img.qinr", "-o", "{d}/o.png", "--backend", "default.qubit", "--shots", "10",
         "-O", "device=braket.aws.qubit"], r"sends circuits to a real device \(device=braket\.aws\.qubit\)", ["o.png"]),
    "a free user profile aimed at a QPU": Case(
        ["decode", "{d}/img.qinr", "-o", "{d}/o.png", "--backend", "myqpu", "--shots", "10"],
        r"backend myqpu sends circuits to a real device", ["o.png"],
        {"myqpu": _profile("myqpu", DRILL.replace("torch_exact", "braket")
                           + '[options]\ndevice_arn = "arn:aws:braket:eu-north-1::device/qpu/iqm/Garnet"\n', "")}),
    # --- outputs checked before any work
    "encode onto its input": Case(["encode", "{d}/img.png", "-o", "{d}/img.png", "--steps", "2", "--quiet"],
                                  r"img\.png: the bitstream must end in \.qinr"),
    "encode onto its input through a link": Case(
        ["encode", "{d}/img.png", "-o", "{d}/link.qinr", "--steps", "2", "--quiet"],
        r"link\.qinr: the bitstream is the input .*img\.png", setup=_link_to_input),
    "encode into a missing folder": Case(["encode", "{d}/img.png", "-o", "{d}/nope/x.qinr", "--steps", "400", "--quiet"],
                                         r"x\.qinr: folder .*nope does not exist", ["nope"]),
    "encode into a file's path": Case(["encode", "{d}/img.png", "-o", "{d}/img.png/x.qinr", "--steps", "2", "--quiet"],
                                      r"img\.png is not a folder"),
    "encode onto a folder": Case(["encode", "{d}/img.png", "-o", "{d}/dir.qinr", "--steps", "2", "--quiet"],
                                 r"dir\.qinr: is a folder", setup=lambda d: (d / "dir.qinr").mkdir()),
    "decode into a missing folder": Case(["decode", "{d}/img.qinr", "-o", "{d}/nope/o.png", *PAID, "--max-cost", "9"],
                                         r"o\.png: folder .*nope does not exist", ["nope"]),
    "decode a float signal to a tif": Case(["decode", "{d}/float.qinr", "-o", "{d}/o.tif", *PAID, "--max-cost", "9"],
                                           r"o\.tif: the decoded signal must end in \.npy", ["o.tif"]),
    "decode to a .qinr": Case(["decode", "{d}/img.qinr", "-o", "{d}/o.qinr", *PAID, "--max-cost", "9"],
                              r"o\.qinr: the decoded signal must end in \.png", ["o.qinr"]),
    "decode onto its input": Case(["decode", "{d}/img.qinr", "-o", "{d}/img.qinr"], r"img\.qinr: the decoded signal"),
    "a record that is not .npz": Case(["decode", "{d}/img.qinr", "-o", "{d}/o.png", *PAID, "--max-cost", "9",
                                       "--record", "{d}/rec.txt"], r"rec\.txt: the replay record must end in \.npz",
                                      ["o.png", "rec.txt"]),
    "run directory is a user's folder": Case(
        ["decode", "{d}/img.qinr", "-o", "{d}/o.png", *PAID, "--max-cost", "9", "--run-dir", "{d}/results"],
        r"run directory .*results is not empty and was not made by quinr", ["o.png"], setup=_user_folder),
    "run directory with a planted link": Case(
        ["decode", "{d}/img.qinr", "-o", "{d}/o.png", *PAID, "--max-cost", "9", "--run-dir", "{d}/run"],
        r"run/chunks is a symbolic link", ["o.png"], setup=_linked_run),
    "run directory of another tool": Case(
        ["decode", "{d}/img.qinr", "-o", "{d}/o.png", *PAID, "--max-cost", "9", "--run-dir", "{d}/run"],
        r"run directory .*run is not empty and was not made by quinr", ["o.png"],
        setup=lambda d: ((d / "run").mkdir(), (d / "run" / "run.json").write_text('{"my": "other tool"}'))),
    "run directory with a fifo for a lock": Case(
        ["decode", "{d}/img.qinr", "-o", "{d}/o.png", *PAID, "--max-cost", "9", "--run-dir", "{d}/run"],
        r"run/lock is not a regular file or folder", ["o.png"],
        setup=lambda d: ((d / "run").mkdir(), (d / "run" / "run.json").write_text(
            '{"file_sha256": "0", "backend": "paidq"}'), os.mkfifo(d / "run" / "lock"))),
    "run directory is a file": Case(
        ["decode", "{d}/img.qinr", "-o", "{d}/o.png", *PAID, "--max-cost", "9", "--run-dir", "{d}/img.png"],
        r"img\.png exists and is not a folder", ["o.png"]),
    "damaged run.json": Case(
        ["decode", "{d}/img.qinr", "-o", "{d}/o.png", *PAID, "--max-cost", "9", "--run-dir", "{d}/run"],
        r"run\.json is damaged", ["o.png"], setup=_bad_run_json),
    "noise spec saved as text": Case(["noise", "depolarizing=0.01", "-o", "{d}/n.txt"], r"n\.txt: .* must end in \.json",
                                     ["n.txt"]),
    "study into a file": Case(["study", "shots", "{d}/img.qinr", "--backend", "torch", "--shots", "8", "--out",
                               "{d}/img.png", "--quiet"], r"img\.png: exists and is not a folder"),
    "rd into a file": Case(["rd", "{d}/img.png", "--codecs", "jpeg2000", "--out", "{d}/img.qinr", "--quiet"],
                           r"img\.qinr: exists and is not a folder"),
    "range image onto its scan": Case(["lidar-to-range", "{d}/scan.npy", "-o", "{d}/scan.npy"],
                                      r"scan\.npy: the range image is the input",
                                      setup=lambda d: (d / "scan.npy").write_bytes(b"\0" * 32)),
    "a record in a folder nothing can be created in": Case(
        ["decode", "{d}/img.qinr", "-o", "{d}/o.png", *PAID, "--max-cost", "9", "--record", "/proc/r.npz"],
        r"r\.npz: folder /proc (is not writable|does not exist)", ["o.png"]),
    "a rate table in a folder nothing can be created in": Case(
        ["search", "{d}/img.png", "--minutes", "1", "--out", "{d}/s.jsonl", "--networks", "3:5:1", "--table",
         "/proc/t.json", "--quiet"], r"t\.json: folder /proc (is not writable|does not exist)", ["s.jsonl"]),
    "a billed profile pointed at another device": Case(
        ["decode", "{d}/img.qinr", "-o", "{d}/o.png", "--backend", "braket.iqm_garnet", "--shots", "10", "--max-cost",
         "1000", "-O", "device_arn=arn:aws:braket:us-east-1::device/qpu/ionq/Forte-1"],
        r"braket\.iqm_garnet prices device_arn=.*iqm/Garnet; the options send circuits to .*ionq/Forte-1", ["o.png"]),
    "a billed PennyLane device with several circuits a task": Case(
        ["decode", "{d}/img.qinr", "-o", "{d}/o.png", "--backend", "cloudpl", "--shots", "10", "--max-cost", "9"],
        r"a billed PennyLane device is charged per circuit, as its plugin submits them", ["o.png"],
        {"cloudpl": _profile("cloudpl", DRILL.replace("torch_exact", "pennylane")
                             + '[options]\ndevice = "braket.aws.qubit"\n')}),
    "exact probabilities priced per shot": Case(
        ["decode", "{d}/img.qinr", "-o", "{d}/o.png", "--backend", "exactq", "-O", "queue={q}", "--max-cost", "9"],
        r"this backend's price is per shot .*: give --shots", ["o.png"],
        {"exactq": _profile("exactq", DRILL.replace("exact = false", "exact = true"),
                            PRICE.replace("per_task = 0.3", "per_task = 0"))}),
    # --- inputs: one line naming the path and the problem
    "missing image": Case(["encode", "{d}/missing.png", "-o", "{d}/x.qinr", "--quiet"], r"missing\.png: no such file",
                          ["x.qinr"]),
    "missing bitstream": Case(["decode", "{d}/missing.qinr", "-o", "{d}/o.png"], r"missing\.qinr: no such file", ["o.png"]),
    "an empty folder as the images": Case(["encode", "{d}/sub", "-o", "{d}/x.qinr", "--quiet"],
                                          r"sub: no signals found", ["x.qinr"], setup=lambda d: (d / "sub").mkdir()),
    "a device as the bitstream": Case(["decode", "/dev/zero", "-o", "{d}/o.png"], r"/dev/zero: not a regular file",
                                      ["o.png"]),
    "decompression bomb": Case(["encode", "{d}/bomb.png", "-o", "{d}/x.qinr", "--quiet"],
                               r"bomb\.png: 100000x100000 = 10000000000 pixels is over the limit", ["x.qinr"]),
    "over --max-pixels": Case(["encode", "{d}/img.png", "-o", "{d}/x.qinr", "--max-pixels", "10", "--quiet"],
                              r"img\.png: 8x8 = 64 pixels is over the limit of 10", ["x.qinr"]),
    "a header claiming a huge signal": Case(["decode", "{d}/huge.qinr", "-o", "{d}/o.png", *PAID, "--max-cost", "9"],
                                            r"the decode: 65535x1000 = 65535000 pixels is over the limit", ["o.png"]),
    "16-bit colour Pillow would cut to 8 bits": Case(
        ["encode", "{d}/deep.ppm", "-o", "{d}/x.qinr", "--quiet"], r"deep\.ppm: a colour image with more than 8 bits",
        ["x.qinr"], setup=lambda d: (d / "deep.ppm").write_bytes(b"P6\n2 2\n65535\n" + bytes(24))),
    "zero-size array": Case(["encode", "{d}/empty.npy", "-o", "{d}/x.qinr", "--quiet"], r"empty\.npy: the array is empty",
                            ["x.qinr"]),
    "animated gif": Case(["encode", "{d}/anim.gif", "-o", "{d}/x.qinr", "--quiet"], r"anim\.gif: has 2 frames; choose one "
                         r"with --frame", ["x.qinr"]),
    "a frame that does not exist": Case(["encode", "{d}/anim.gif", "-o", "{d}/x.qinr", "--frame", "5", "--quiet"],
                                        r"frame 5 does not exist", ["x.qinr"]),
    "task_delay nan": Case(["decode", "{d}/img.qinr", "-o", "{d}/o.png", "--backend", "torch", "-O", "task_delay=nan"],
                           r"option task_delay='nan' must be a finite number", ["o.png"]),
    "an option out of range": Case(["decode", "{d}/img.qinr", "-o", "{d}/o.png", "--backend", "aer.fake_manila",
                                    "--shots", "10", "-O", "optimization_level=9"],
                                   r"option optimization_level='9' must be <= 3", ["o.png"]),
    "encode seed past 32 bits": Case(["encode", "{d}/img.png", "-o", "{d}/x.qinr", "--seed", "100000000000000000000",
                                      "--quiet"], r"seed must be an integer in \[0, 4294967295\]", ["x.qinr"]),
    "decode seed past 32 bits": Case(["decode", "{d}/img.qinr", "-o", "{d}/o.png", *PAID, "--max-cost", "9",
                                      "--seed", "100000000000000000000"], r"seed must be an integer", ["o.png"]),
    "negative decode seed": Case(["decode", "{d}/img.qinr", "-o", "{d}/o.png", "--backend", "torch", "--shots", "5",
                                  "--seed", "-3"], r"seed must be an integer in \[0", ["o.png"]),
    "scale nan": Case(["decode", "{d}/img.qinr", "-o", "{d}/o.png", "--scale", "nan"], r"scale must be in \(0, 16\]",
                      ["o.png"]),
    "extreme quantization ranges": Case(["decode", "{d}/extreme.qinr", "-o", "{d}/o.png"],
                                        r"beyond \+-2\^32: no trained network has such weights", ["o.png"]),
    # --- values that mean nothing, refused before any work
    "bits psnr:nan": Case(["encode", "{d}/img.png", "-o", "{d}/x.qinr", "--bits", "psnr:nan", "--quiet"],
                          r"bits psnr:DB needs a finite DB > 0, got 'nan'", ["x.qinr"]),
    "bits auto:-1": Case(["encode", "{d}/img.png", "-o", "{d}/x.qinr", "--bits", "auto:-1", "--quiet"],
                         r"bits auto:DB needs a finite DB >= 0", ["x.qinr"]),
    "a negative target PSNR": Case(["encode", "{d}/img.png", "-o", "{d}/x.qinr", "--target-psnr", "-5", "--quiet"],
                                   r"target PSNR must be a finite number of dB above 0", ["x.qinr"]),
    "a ladder past every file": Case(["search", "{d}/img.png", "--minutes", "1", "--out", "{d}/s.jsonl", "--networks",
                                      "3:5:1", "--ladder", "1e9", "--quiet"], r"the ladder needs fractions of the auto "
                                     r"file in \(0, 4\]", ["s.jsonl"]),
    "a network item that does not add up": Case(
        ["search", "{d}/img.png", "--minutes", "1", "--out", "{d}/s.jsonl", "--networks", "6:26+6:2:1:3", "--quiet"],
        r"network 6:26\+6:2:1:3: embed_dims must be one integer M per block \(3 blocks\)", ["s.jsonl"]),
    "rd without codecs": Case(["rd", "{d}/img.png", "--codecs", ",", "--out", "{d}/rdo", "--quiet"],
                              r"--codecs names no codec; choose from quinr", ["rdo"]),
    "rd with no points": Case(["rd", "{d}/img.png", "--codecs", "jpeg2000", "--points", "0", "--out", "{d}/rdo",
                               "--quiet"], r"--points must be at least 1", ["rdo"]),
    "budget for a drop of nan dB": Case(["budget", "{d}/img.qinr", "--backend", "torch", "--reference", "{d}/img.png",
                                         "--target-psnr-drop", "nan"], r"--target-psnr-drop must be a finite number"),
    "an empty crop": Case(["decode", "{d}/img.qinr", "-o", "{d}/o.png", "--crop", "0,0,0,0"],
                          r"crop \(0, 0, 0, 0\) is empty", ["o.png"]),
    "a backend in capitals": Case(["decode", "{d}/img.qinr", "-o", "{d}/o.png", "--backend", "AER"],
                                  r"unknown backend 'AER'\. Did you mean aer", ["o.png"]),
    "an empty input path": Case(["encode", "", "-o", "{d}/x.qinr", "--quiet"], r"an empty input path", ["x.qinr"]),
    "an empty output path": Case(["encode", "{d}/img.png", "-o", "", "--quiet"], r"an empty path for the bitstream"),
    "an empty bitstream": Case(["decode", "{d}/zero.qinr", "-o", "{d}/o.png"], r"empty file \(0 bytes\)", ["o.png"],
                               setup=lambda d: (d / "zero.qinr").write_bytes(b"")),
    "an empty scan": Case(["lidar-to-range", "{d}/scan.bin", "-o", "{d}/r.npy"], r"scan\.bin: the file is empty",
                          ["r.npy"], setup=lambda d: (d / "scan.bin").write_bytes(b"")),
    "a float signal against an 8-bit image": Case(["compare", "{d}/float.npy", "{d}/img.png"],
                                                  r"the reference is a float signal but the other is an 8-bit one"),
    # --- replay reads only files inside the record
    "replay of nothing": Case(["replay", "{d}/nosuch"], r"nosuch: no such folder"),
    "replay escapes the record": Case(["replay", "{d}/rec"], r"'\.\./\.\./etc/passwd' is not a file name inside it",
                                      setup=_record({**GOOD_MANIFEST, "input": {"file": "../../etc/passwd",
                                                                                  "sha256": "0" * 64}})),
    "replay reads a device": Case(["replay", "{d}/rec"], r"'/dev/zero' is not a file name inside it",
                                  setup=_record({**GOOD_MANIFEST, "input": {"file": "/dev/zero", "sha256": "0" * 64}})),
    "replay of a manifest without keys": Case(["replay", "{d}/rec"], r"manifest\.json has no 'input'", setup=_record({})),
    "replay of a mistyped manifest": Case(["replay", "{d}/rec"], r"manifest\.json's 'shots' has the wrong type \(str\)",
                                          setup=_record({**GOOD_MANIFEST, "shots": "100"})),
    "replay of a folder that is no record": Case(["replay", "{d}/sub"], r"sub is not a quinr run record",
                                                 setup=lambda d: (d / "sub").mkdir()),
}


def _digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (a special file by its kind, never opened) and its content's hash."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "special"
            for p in sorted(folder.rglob("*")) if not p.is_symlink() and not p.is_dir()}


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input_is_one_clear_line_and_nothing_happens(name, world, tmp_path, monkeypatch, capsys):
    case = CASES[name]
    d = tmp_path / "case"
    shutil.copytree(world, d)
    queue = tmp_path / "queue"
    cat = tmp_path / "catalogue"
    cat.mkdir()
    (cat / "paidq.toml").write_text(_profile("paidq"))
    for pname, text in case.profiles.items():
        (cat / f"{pname}.toml").write_text(text)
    monkeypatch.setenv("QUINR_BACKENDS_PATH", str(cat))
    if case.setup is not None:
        case.setup(d)
    before = _digest(d)
    args = [a.replace("{d}", str(d)).replace("{q}", str(queue)) for a in case.args]
    assert main(args) == 1
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("quinr: error: "), out.err  # one line, no traceback
    import re

    assert re.search(case.match, lines[0]), lines[0]
    assert "internal error" not in lines[0] and "Traceback" not in out.err
    for o in case.outputs:
        assert not (d / o).exists(), f"{o} was left behind"
    assert not list(d.rglob(".*.tmp")), "a temporary file was left behind"
    assert _digest(d) == before  # the inputs are untouched (and nothing new was written)
    assert not queue.exists() or TaskQueue(queue).submitted() == []  # nothing reached the provider


def test_a_closed_stdout_ends_quietly(tmp_path):
    """``quinr ... | head``: the reader goes away; quinr exits without a BrokenPipe traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "quinr.cli", "backends"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # before quinr has imported itself: every write meets a closed pipe
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert err == "", err


def test_written_files_get_the_permissions_open_would_give(world, tmp_path):
    """Files are written through a temporary file (0600 as mkstemp makes it); the result must be
    readable as any new file would be, by the umask."""
    from quinr.files import atomic_write

    old = os.umask(0o022)
    try:
        path = atomic_write(tmp_path / "a.bin", b"x")
        assert path.stat().st_mode & 0o777 == 0o644
        encode(str(world / "img.png"), tmp_path / "b.qinr", model=TINY, train=TrainConfig(steps=2))
        assert (tmp_path / "b.qinr").stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        assert atomic_write(tmp_path / "c.bin", b"x").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


def test_a_psnr_rule_out_of_reach_is_said(world, tmp_path, capsys):
    assert main(["encode", str(world / "img.png"), "-o", str(tmp_path / "x.qinr"), "--qubits", "3", "--embed", "5",
                 "--steps", "2", "--bits", "psnr:99", "--quiet"]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if "target" in ln)
    assert "99 dB not reached" in line and "dB short" in line


@pytest.fixture
def drill(world, tmp_path, monkeypatch) -> Path:
    """A case folder with the priced drill profile (paidq: 8 circuits a task) on the catalogue path."""
    d = tmp_path / "case"
    shutil.copytree(world, d)
    cat = tmp_path / "catalogue"
    cat.mkdir()
    (cat / "paidq.toml").write_text(_profile("paidq"))
    monkeypatch.setenv("QUINR_BACKENDS_PATH", str(cat))
    return d


def test_a_user_override_of_a_built_in_is_flagged_everywhere(drill, tmp_path, capsys):
    (tmp_path / "catalogue" / "torch.toml").write_text(
        "overrides = true\n" + _profile("torch", DRILL.replace('"qpu"', '"simulator"').replace("exact = false", "exact = true"), ""))
    assert main(["backends"]) == 0
    assert "torch (user override)" in capsys.readouterr().out
    out = drill / "o.png"
    assert main(["decode", str(drill / "img.qinr"), "-o", str(out), "--backend", "torch", "--report"]) == 0
    assert "a user profile overrides the built-in torch" in capsys.readouterr().out
    report = json.loads((drill / "o.png.report.json").read_text())
    assert report["profile_overrides_builtin"] is True
    assert any("overrides the built-in" in n for n in report["notes"])


def test_the_estimate_counts_tasks_per_model_call_exactly_as_they_run(drill, tmp_path, capsys):
    """Two stacked blocks are two model calls, each split into tasks: the guard's estimate is the
    number of tasks the provider receives, and a budget of exactly the estimate is enough."""
    q = drill / "blocks.qinr"
    encode(str(drill / "img.png"), q, model=ModelConfig(n_qubits=3, embed_dim=5, blocks=2), train=TrainConfig(steps=2))
    assert main(["budget", str(q), "--backend", "paidq", "--shots", "10", "--json"]) == 0
    est = json.loads(capsys.readouterr().out)
    assert est["tasks"] == 2 * 64 // 8 and est["circuits"] == 2 * 64
    queue = tmp_path / "queue"
    args = ["decode", str(q), "-o", str(drill / "o.png"), "--backend", "paidq", "--shots", "10", "-O", f"queue={queue}"]
    assert main([*args, "--max-cost", f"{est['cost'] * 0.999:.6f}"]) == 1  # a hair under the estimate: refused
    assert not queue.exists() or TaskQueue(queue).submitted() == []
    assert main([*args, "--max-cost", repr(est["cost"]), "--report"]) == 0
    report = json.loads((drill / "o.png.report.json").read_text())
    assert len(TaskQueue(queue).submitted()) == est["tasks"] == report["tasks"]
    assert report["estimated_cost"] == pytest.approx(est["cost"])


def test_the_guard_charges_every_task_and_never_more_than_approved(drill):
    from quinr.backends import get_backend
    from quinr.budget import BudgetGuard
    from quinr.errors import BudgetError

    be = get_backend("paidq")
    guard = BudgetGuard(be, [16], 10, max_cost=10.0)  # 2 tasks of 8 circuits approved
    guard.charge(8)
    guard.charge(8)
    with pytest.raises(BudgetError, match="past what was approved"):
        guard.charge(8)  # a miscount elsewhere cannot spend a third task
    guard.refund(8)  # the provider reported one failed: nothing billed, it may be submitted again
    guard.charge(8)
    with pytest.raises(BudgetError, match="max-cost must be a finite"):
        BudgetGuard(be, [16], 10, max_cost=float("nan"))
    yes = BudgetGuard(be, [16], 10, yes=True)  # --yes approves the estimate, not more
    yes.charge(8)
    yes.charge(8)
    with pytest.raises(BudgetError):
        yes.charge(1)


def test_no_secret_reaches_the_report_the_recorded_command_or_the_run_directory(drill, monkeypatch):
    account = "crn:v1:bluemix:public:quantum-computing:us-east:a/fakeaccount0042::"
    monkeypatch.setenv("QUINR_FAKE_API_TOKEN", "envtoken-do-not-leak-0042")
    run, rec = drill / "run", drill / "rec.npz"
    args = ["decode", str(drill / "img.qinr"), "-o", str(drill / "o.png"), "--backend", "aer", "--shots", "50",
            "--seed", "1", f"--option=instance={account}", "--report",
            "--run-dir", str(run), "--record", str(rec)]
    assert main(args) == 0
    files = [drill / "o.png.report.json", rec, *[p for p in run.rglob("*") if p.is_file()]]
    assert {"manifest.json", "run.json", "submissions.jsonl", "results.npz"} <= {p.name for p in files}
    for p in files:
        blob = p.read_bytes()
        for secret in (account, "fakeaccount0042", "envtoken-do-not-leak-0042"):
            assert secret.encode() not in blob, f"{secret} leaked into {p.name}"
    manifest = json.loads((run / "manifest.json").read_text())
    assert "--option=instance=<redacted>" in manifest["command"]
    assert manifest["options"]["instance"] == "<redacted>"


def test_the_redactor_knows_every_spelling_of_an_option():
    from quinr.redact import Redactor

    r = Redactor({"instance": "crn:v1:x:abc", "token": "tok-12345"})
    argv = ["-O", "token=tok-12345", "-Oinstance=crn:v1:x:abc", "--option", "api_key=zz-top", "--option=password=hunter22",
            "-O", "device=cpu", "note tok-12345 here", "--opt", "token=abc", "--optio=instance=xyz", "--max-cost=5"]
    assert r.command(argv) == ["-O", "token=<redacted>", "-Oinstance=<redacted>", "--option", "api_key=<redacted>",
                               "--option=password=<redacted>", "-O", "device=cpu", "note <redacted> here", "--opt",
                               "token=<redacted>", "--optio=instance=<redacted>", "--max-cost=5"]
    assert r.json({"a": ["AKIAABCDEFGHIJKLMNOP", {"secret": "s3cr3t!"}], "n": 3, "token": ["abc"]}) == {
        "a": ["<redacted>", {"secret": "<redacted>"}], "n": 3, "token": "<redacted>"}
    # machine fields are never scrubbed: a checksum or a task id that happens to contain a secret stays whole
    assert r.json({"sha256": "00tok-1234500", "task_ids": ["tok-12345"]}) == {"sha256": "00tok-1234500",
                                                                             "task_ids": ["tok-12345"]}


def test_an_environment_variable_never_corrupts_a_checksum(drill, monkeypatch):
    """Values of environment variables named like sessions or ids are not secrets: a resume still
    finds its chunks' checksums intact, and runs nothing again."""
    run = drill / "run"
    args = ["decode", str(drill / "img.qinr"), "-o", str(drill / "o.png"), "--backend", "torch", "--shots", "9",
            "--seed", "1", "--run-dir", str(run)]
    assert main(args) == 0
    done = [json.loads(x) for x in (run / "submissions.jsonl").read_text().splitlines() if '"done"' in x][0]
    monkeypatch.setenv("XDG_SESSION_ID", done["sha256"][10:14])
    monkeypatch.setenv("CDK_DEFAULT_ACCOUNT", done["sha256"][20:32])
    assert main(args) == 0
    manifest = json.loads((run / "manifest.json").read_text())
    assert any("reused" in n for n in manifest["notes"]) and not any("not used" in n for n in manifest["notes"])


def test_sixteen_bit_rgb_pngs_keep_their_sixteen_bits(tmp_path):
    import png

    rng = np.random.default_rng(0)
    arr = (np.linspace(0, 65535, 6 * 5 * 3).reshape(6, 5, 3) + rng.integers(0, 7, (6, 5, 3))).clip(0, 65535)
    arr = arr.astype(np.uint16)
    src = tmp_path / "rgb16.png"
    with src.open("wb") as f:
        png.Writer(5, 6, greyscale=False, bitdepth=16).write(f, arr.reshape(6, 15).tolist())
    from quinr.signal import load_signal

    sig = load_signal(src)
    assert sig.kind is SignalKind.U16 and sig.shape == (6, 5, 3) and np.array_equal(sig.data, arr)
    assert main(["encode", str(src), "-o", str(tmp_path / "x.qinr"), "--qubits", "3", "--embed", "5", "--steps", "3",
                 "--quiet"]) == 0
    assert main(["decode", str(tmp_path / "x.qinr"), "-o", str(tmp_path / "back.png")]) == 0
    back = load_signal(tmp_path / "back.png")
    assert back.kind is SignalKind.U16 and back.shape == (6, 5, 3) and back.data.max() > 255


def test_a_frame_of_a_multi_frame_image_is_chosen_by_option(world, tmp_path):
    from quinr.signal import load_signal

    assert load_signal(world / "anim.gif", frame=1).data[0, 0].tolist() == [0, 0, 255]
    assert main(["encode", str(world / "anim.gif"), "-o", str(tmp_path / "a.qinr"), "--frame", "0", "--steps", "2",
                 "--qubits", "3", "--embed", "4", "--quiet"]) == 0


def test_a_paid_decode_that_fails_at_the_end_keeps_what_was_paid_for(drill, tmp_path, monkeypatch, capsys):
    """Without --run-dir a billed decode still checkpoints (in the run cache, named after the
    decode); when it fails after paying, the message says so, and the same command run again pays
    for nothing twice. A success leaves nothing in the cache."""
    import quinr.signal
    from quinr.errors import FileError
    from quinr.rundir import run_cache

    queue = tmp_path / "queue"
    real = quinr.signal.save_signal

    def disk_full(signal, path):
        raise FileError(f"{path}: No space left on device")

    monkeypatch.setattr(quinr.signal, "save_signal", disk_full)
    args = ["decode", str(drill / "img.qinr"), "-o", str(drill / "o.png"), "--backend", "paidq", "--shots", "10",
            "--seed", "2", "-O", f"queue={queue}", "--max-cost", "9"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "No space left on device -- the results of the 8 task(s) already run are kept in" in err
    assert "rerun the same command" in err
    kept = Path(err.split("are kept in ")[1].split(":")[0])
    paid = TaskQueue(queue).submitted()
    assert len(paid) == 8 and (kept / "run.json").exists() and kept.parent == run_cache()
    monkeypatch.setattr(quinr.signal, "save_signal", real)
    import quinr.rundir

    def interrupted(self):  # the rerun is stopped before it has reused (counted) anything
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(quinr.rundir.RunDir, "journal", interrupted)
        assert main(args) != 0
    assert "the results of the tasks already paid for are kept in" in capsys.readouterr().err
    assert (kept / "run.json").exists() and any((kept / "chunks").iterdir())  # an early failure deletes nothing
    assert main(args) == 0
    assert TaskQueue(queue).submitted() == paid  # nothing paid for twice
    assert (drill / "o.png").exists() and not kept.exists()


def test_a_submission_that_may_have_reached_the_provider_is_never_resubmitted_blind(drill, tmp_path, monkeypatch,
                                                                                     capsys):
    """The provider accepts the task but its reply is lost: quinr stops instead of submitting
    again (which would pay twice), names the task's tags, keeps what was paid for, and a rerun
    notes the possibly orphaned task."""
    from quinr.backends import base

    queue = tmp_path / "queue"
    real = base.Backend.submit
    calls = {"n": 0}

    def reply_lost(self, *a, **k):
        task = real(self, *a, **k)
        calls["n"] += 1
        if calls["n"] == 3:
            raise ConnectionError("connection reset by peer")
        return task

    monkeypatch.setattr(base.Backend, "submit", reply_lost)
    args = ["decode", str(drill / "img.qinr"), "-o", str(drill / "o.png"), "--backend", "paidq", "--shots", "10",
            "--seed", "2", "-O", f"queue={queue}", "--max-cost", "9"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "may have reached the provider, so it is not submitted again automatically" in err and "quinr-run=" in err
    assert len(TaskQueue(queue).submitted()) == 3  # the third was accepted; nothing after it was sent
    assert "are kept in" in err


def test_max_cost_bounds_the_whole_decode_across_resumes(drill, tmp_path, monkeypatch, capsys):
    """A decode paid 8 tasks (3.04) and failed at the end; its journal then reads as if it had died
    while submitting two of them (their submissions may have been billed; their results are
    gone). Asked again with --max-cost 3.50, the first of the two tasks it needs fits (3.42); the
    second would take the decode to 3.80 and is refused, though each process alone stays under the
    budget. With 3.80 it finishes."""
    import quinr.signal
    from quinr.errors import FileError
    from quinr.rundir import run_cache

    queue = tmp_path / "queue"
    args = ["decode", str(drill / "img.qinr"), "-o", str(drill / "o.png"), "--backend", "paidq", "--shots", "10",
            "--seed", "2", "-O", f"queue={queue}"]
    with monkeypatch.context() as m:
        m.setattr(quinr.signal, "save_signal", lambda s, p: (_ for _ in ()).throw(FileError(f"{p}: disk full")))
        assert main([*args, "--max-cost", "9"]) == 1
    (kept,) = run_cache().iterdir()
    lines = [json.loads(ln) for ln in (kept / "submissions.jsonl").read_text().splitlines()]
    lost = {(0, 0), (0, 1)}
    keep = [ln for ln in lines if (ln["call"], ln["chunk"]) not in lost or ln["event"] == "submit"]
    (kept / "submissions.jsonl").write_text("".join(json.dumps(ln) + "\n" for ln in keep))
    for call, k in lost:
        (kept / "chunks" / f"c{call:04d}_k{k:06d}.npy").unlink()
    capsys.readouterr()
    assert main([*args, "--max-cost", "3.5"]) == 1
    assert "would take this run past what was approved" in capsys.readouterr().err
    assert len(TaskQueue(queue).submitted()) == 9  # the second was refused before it was submitted
    assert main([*args, "--max-cost", "3.8"]) == 0
    assert len(TaskQueue(queue).submitted()) == 10


def test_an_accepted_task_whose_journal_line_fails_is_named(drill, tmp_path, monkeypatch, capsys):
    import quinr.rundir
    from quinr.errors import FileError

    queue = tmp_path / "queue"
    real = quinr.rundir.RunDir.log

    def disk_full(self, event, **entry):
        if event == "submitted":
            raise FileError("submissions.jsonl: No space left on device")
        return real(self, event, **entry)

    monkeypatch.setattr(quinr.rundir.RunDir, "log", disk_full)
    args = ["decode", str(drill / "img.qinr"), "-o", str(drill / "o.png"), "--backend", "paidq", "--shots", "10",
            "--seed", "2", "-O", f"queue={queue}", "--max-cost", "9"]
    assert main(args) == 1
    err = capsys.readouterr().err
    (task,) = TaskQueue(queue).submitted()  # one task reached the provider, and nothing after it
    assert f"task {task} (chunk" in err and "was accepted but could not be journaled" in err


def test_a_resume_without_its_journal_is_noted_in_the_record(drill, tmp_path):
    run = drill / "run"
    args = ["decode", str(drill / "img.qinr"), "-o", str(drill / "o.png"), "--backend", "torch", "--shots", "20",
            "--seed", "1", "--run-dir", str(run)]
    assert main(args) == 0
    (run / "submissions.jsonl").unlink()
    assert main(args) == 0
    manifest = json.loads((run / "manifest.json").read_text())
    assert any("journal (submissions.jsonl) was missing" in n for n in manifest["notes"])
    assert any("was not used: its journal line is missing" in n for n in manifest["notes"])
    assert manifest["tasks"] == 1  # the chunk was run again (and counted), not taken on trust


def test_a_large_decode_is_estimated_as_it_runs_chunk_by_chunk(drill, tmp_path, capsys):
    """Past 65,536 coordinates the decoder evaluates in chunks, each split into tasks: the estimate
    counts tasks the same way, so a budget of exactly the estimate finishes the decode."""
    (tmp_path / "catalogue" / "bigq.toml").write_text(_profile("bigq").replace("max_circuits_per_task = 8",
                                                                               "max_circuits_per_task = 1000"))
    Image.fromarray(smooth_rgb(17, 17, seed=5)).save(drill / "big.png")
    q = drill / "big.qinr"
    encode(str(drill / "big.png"), q, model=TINY, train=TrainConfig(steps=2))
    assert main(["budget", str(q), "--backend", "bigq", "--shots", "1", "--scale", "16", "--json"]) == 0
    est = json.loads(capsys.readouterr().out)
    assert est["circuits"] == 272 * 272 == 73984 and est["tasks"] == 66 + 9  # 65,536 + 8,448 coordinates
    args = ["decode", str(q), "-o", str(drill / "out.png"), "--backend", "bigq", "--shots", "1", "--scale", "16",
            "--seed", "1", "--max-cost", repr(est["cost"]), "--report"]
    assert main(args) == 0, capsys.readouterr().err
    assert json.loads((drill / "out.png.report.json").read_text())["tasks"] == est["tasks"]


def test_a_crafted_journal_line_is_ignored_not_trusted(drill):
    run = drill / "run"
    args = ["decode", str(drill / "img.qinr"), "-o", str(drill / "o.png"), "--backend", "torch", "--shots", "9",
            "--seed", "1", "--run-dir", str(run)]
    assert main(args) == 0
    lines = [json.loads(x) for x in (run / "submissions.jsonl").read_text().splitlines()]
    for e in lines:
        if e["event"] == "done":
            e["task_ids"], e["circuits"] = "abcdef", "many"  # types a resume must not take on trust
    (run / "submissions.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines) + "{not json\n")
    assert main(args) == 0
    manifest = json.loads((run / "manifest.json").read_text())
    assert any("journal line(s) were damaged and ignored" in n for n in manifest["notes"])
    assert any("its journal line is missing" in n for n in manifest["notes"])  # so the chunk was run again
    assert manifest["tasks"] == 1 and manifest["circuits"] == 64


def test_a_lock_on_a_file_removed_meanwhile_is_not_taken(tmp_path, monkeypatch):
    """A finished billed decode removes its run-cache folder while it still holds the lock; a
    rerun that opened the lock file just before that must not lock the removed file and go on
    in a folder that no longer exists (its paid chunks would be written nowhere)."""
    from pathlib import Path

    from quinr.files import try_lock

    lock = tmp_path / "lock"
    held = try_lock(lock)
    assert held is not None and try_lock(lock) is None  # held: refused
    real_open = Path.open

    def open_then_removed(self, *args, **kwargs):  # the holder removes the folder right after this open
        f = real_open(self, *args, **kwargs)
        if self == lock:
            self.unlink()
            held.close()
        return f

    monkeypatch.setattr(Path, "open", open_then_removed)
    assert try_lock(lock) is None
    monkeypatch.setattr(Path, "open", real_open)
    fresh = try_lock(lock)  # a new file at the path is a new, free lock
    assert fresh is not None
    fresh.close()
