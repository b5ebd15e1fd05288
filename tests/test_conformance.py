"""The format's conformance suite (docs/bitstream.md section 9): quinr and the clean-room numpy
reference decoder (quinr/reference.py, written from the specification alone) decode every file
to its expected output within the tolerance of section 7, and the writer still makes the files."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from quinr import bitstream
from quinr.codec import decode

HERE = Path(__file__).parent / "conformance"
INDEX = json.loads((HERE / "index.json").read_text())


def _maker():
    spec = importlib.util.spec_from_file_location("make_conformance", HERE / "make_conformance.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def assert_within_tolerance(got: np.ndarray, expected: np.ndarray, data: bytes) -> None:
    """Section 7: one level for 8/16-bit samples; 1e-9 of the range plus one float32 ulp."""
    hdr = bitstream.read(data).header
    assert got.shape == expected.shape and got.dtype == expected.dtype
    diff = np.abs(got.astype(np.float64) - expected.astype(np.float64))
    if expected.dtype == np.float32:
        bound = 1e-9 * (hdr.vmax - hdr.vmin) + np.spacing(np.abs(expected)).astype(np.float64)
        assert np.all(diff <= bound), float(np.max(diff - bound))
    else:
        assert diff.max(initial=0) <= 1
        assert np.mean(diff > 0) < 0.01  # a level only at rounding boundaries: rare


@pytest.mark.parametrize("entry", INDEX, ids=lambda e: e["file"])
def test_quinr_decodes_every_conformance_file(entry):
    data = (HERE / entry["file"]).read_bytes()
    assert_within_tolerance(decode(data).data, np.load(HERE / entry["expected"]), data)


@pytest.mark.parametrize("entry", INDEX, ids=lambda e: e["file"])
def test_the_reference_decoder_decodes_every_conformance_file(entry):
    from quinr import reference

    data = (HERE / entry["file"]).read_bytes()
    if not entry["reference"]:
        with pytest.raises(reference.FormatError, match="constriction"):
            reference.decode(data)
        return
    assert_within_tolerance(reference.decode(data), np.load(HERE / entry["expected"]), data)


def test_the_writer_still_makes_every_conformance_file():
    maker = _maker()
    assert [c[0] for c in maker.CASES] == [e["file"] for e in INDEX]
    for case in maker.CASES:
        assert maker.build(case) == (HERE / case[0]).read_bytes(), case[0]


def test_the_conformance_files_cover_every_feature():
    from quinr.circuit import ENTANGLERS
    from quinr.config import LINKS
    from quinr.header import pack_placement

    seen: dict[str, set] = {k: set() for k in ("version", "model", "blocks", "kind", "grid", "bits", "entangler",
                                                "placed")}
    for e in INDEX:
        data = (HERE / e["file"]).read_bytes()
        hdr = bitstream.read(data).header
        m = hdr.model
        seen["version"].add(hdr.version)
        seen["blocks"].add(m.blocks)
        seen["kind"].add((int(hdr.kind), hdr.channels > 1))
        seen["grid"].add("1-D" if len(hdr.grid) == 1 else "1xN" if hdr.height == 1 else "Nx1" if hdr.width == 1 else "2-D")
        seen["bits"].update(hdr.bits_of())
        seen["entangler"].add(m.spec.entangler)
        seen["placed"].add((bool(m.spec.target), bool(m.spec.layout)))
        off = 41 + (len(pack_placement(hdr.model.spec)) if hdr.version >= 4 else 0) + (
            2 * (m.blocks - 1) if hdr.version >= 5 else 0) + (hdr.version >= 6)
        if hdr.version > 1:
            for _ in m.tensor_shapes():
                model = data[off] >> 5
                seen["model"].add((hdr.version, model))
                off += 9 + {0: 0, 1: 8, 2: 6}[model]
        assert e["description"] and "\n" not in e["description"]
        seen["per-block M"] = seen.get("per-block M", set()) | {bool(m.embed_dims)}
        seen["readout"] = seen.get("readout", set()) | {(m.readout, m.blocks > 1)}
        seen["link"] = seen.get("link", set()) | {m.link}
    assert seen["readout"] == {("probs", False), ("probs", True), ("z", False), ("z", True)}
    assert seen["link"] == set(LINKS)
    assert seen["version"] == {1, 2, 3, 4, 5, 6} and seen["blocks"] == {1, 2, 3} and seen["per-block M"] == {False, True}
    assert {(2, 0), (2, 1), (3, 0), (3, 2), (4, 0), (5, 2), (6, 0), (6, 2)} <= seen["model"]
    assert seen["entangler"] == set(ENTANGLERS) and {(False, False), (True, False), (True, True)} <= seen["placed"]
    assert {(0, False), (0, True), (1, False), (1, True), (2, False), (2, True)} <= seen["kind"]
    assert seen["grid"] == {"1-D", "1xN", "Nx1", "2-D"}
    assert set(range(2, 17)) <= seen["bits"] and 32 in seen["bits"]
