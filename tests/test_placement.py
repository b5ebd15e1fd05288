"""Hardware-aware circuits: entangler topologies, their bitstream field, layouts chosen from a
calibration, pinned through transpilation, and refused where a device would have to route."""

from __future__ import annotations

import struct
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from quinr import bitstream
from quinr.backends import get_backend
from quinr.backends.device_model import fake_device, transpile_for
from quinr.backends.placement import Calibration, choose_layout, place
from quinr.bitstream import Header
from quinr.circuit import CircuitSpec, gate_counts, lower
from quinr.cli import main
from quinr.config import ModelConfig
from quinr.errors import BackendError, BitstreamError, ConfigError
from quinr.header import pack_placement
from quinr.quant import quantize
from quinr.signal import SignalKind
from quinr.sim import probabilities

CONFORMANCE = Path(__file__).parent / "conformance"


# ------------------------------------------------------------------------------ the entangler
@pytest.mark.parametrize("kind, n, pairs", [
    ("all", 4, ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))),
    ("linear", 4, ((0, 1), (1, 2), (2, 3))),
    ("ring", 4, ((0, 1), (0, 3), (1, 2), (2, 3))),
    ("ring", 2, ((0, 1),)),
    ("linear", 1, ()),
])
def test_entangler_pairs_and_angle_count(kind, n, pairs):
    spec = CircuitSpec(n, 5, entangler=kind)
    assert spec.pairs == pairs
    assert spec.n_theta == spec.reuploads * spec.layers * (4 * n + len(pairs))
    assert gate_counts(lower(spec))[1] == len(pairs) * spec.reuploads * spec.layers


def test_listed_pairs_are_sorted_and_checked():
    spec = CircuitSpec(4, 5, entangler="listed", couplings=((2, 3), (0, 1)))
    assert spec.pairs == ((0, 1), (2, 3))
    for bad, message in [(((0, 4),), "not a pair"), (((1, 0),), "not a pair"), (((0, 1), (0, 1)), "twice"),
                         ((), "at least one pair")]:
        with pytest.raises(ConfigError, match=message):
            CircuitSpec(4, 5, entangler="listed", couplings=bad)
    with pytest.raises(ConfigError, match="couplings are for a listed"):
        CircuitSpec(4, 5, entangler="linear", couplings=((0, 1),))
    with pytest.raises(ConfigError, match="unknown entangler"):
        CircuitSpec(4, 5, entangler="star")
    with pytest.raises(ConfigError, match="distinct physical qubits"):
        CircuitSpec(3, 5, layout=(1, 1, 2))
    with pytest.raises(ConfigError, match="distinct physical qubits"):
        CircuitSpec(3, 5, layout=(1, 2))
    with pytest.raises(ConfigError, match="printable ASCII"):
        CircuitSpec(3, 5, target="ibm torino")


def test_a_sparse_entangler_matches_the_paper_circuit_with_the_missing_pairs_at_zero():
    """The simulator honours the pairs: a linear circuit is the all-pairs circuit whose CRZ
    angles off the line are zero."""
    lin, full = CircuitSpec(4, 7, entangler="linear"), CircuitSpec(4, 7)
    g = torch.Generator().manual_seed(0)
    h = torch.rand(5, 7, generator=g, dtype=torch.float64)
    theta = torch.rand(lin.n_theta, generator=g, dtype=torch.float64) * 6
    expanded = torch.zeros(full.n_theta, dtype=torch.float64)
    for layer in range(lin.n_layers_total):
        a, b = lin.layer_offsets(layer), full.layer_offsets(layer)
        for key in ("rz_a", "rx_a", "rz_b", "rx_b"):
            expanded[b[key]] = theta[a[key]]
        for k, pair in enumerate(lin.pairs):
            expanded[b["crz"].start + full.pairs.index(pair)] = theta[a["crz"].start + k]
    assert torch.allclose(probabilities(lin, h, theta), probabilities(full, h, expanded), atol=1e-12)


@pytest.mark.parametrize("name", ["aer", "default.qubit", "braket"])
def test_circuit_backends_run_a_sparse_entangler_as_the_simulator_does(name):
    spec = CircuitSpec(4, 7, entangler="ring", shuffle_seed=2)
    rng = np.random.default_rng(1)
    h, theta = rng.uniform(-1, 1, (3, 7)), rng.uniform(-3, 3, spec.n_theta)
    be = get_backend(name)
    p = be.run(spec, h, theta, None, None, be.new_report(None))
    ref = probabilities(spec, torch.from_numpy(h), torch.from_numpy(theta)).numpy()
    assert np.max(np.abs(p - ref)) < 1e-6


# --------------------------------------------------------------------------- bitstream field
def _file(spec: CircuitSpec, version: int | None = None) -> bytes:
    model = ModelConfig(out_features=1, spec=spec)
    header = Header(SignalKind.U8, 3, 4, 1, 0.0, 255.0, model, 8)
    tensors = [quantize(np.sin(np.arange(int(np.prod(s))) + 1.0).reshape(s), 8) for _, s in model.tensor_shapes()]
    return bitstream.write(header, tensors, version=version)


def test_the_paper_circuit_is_still_written_as_version_3_and_a_placed_one_as_version_4():
    assert _file(CircuitSpec(3, 4))[4] == 3
    spec = CircuitSpec(3, 4, entangler="listed", couplings=((0, 2), (1, 2)), layout=(300, 7, 12), target="ibm.fez")
    data = _file(spec)
    assert data[4] == 4
    assert bitstream.read(data).header.model.spec == spec
    assert bitstream.read(_file(CircuitSpec(3, 4), version=4)).header.model.spec == CircuitSpec(3, 4)
    with pytest.raises(ConfigError, match="needs version 4"):
        _file(spec, version=3)


def _forge_placement(placement: bytes) -> bytes:
    """The c17 conformance file (Nq 5, linear) with its placement bytes replaced, CRC re-forged."""
    data = (CONFORMANCE / "c17_v4_linear.qinr").read_bytes()
    hdr = bitstream.read(data).header
    start = 41
    end = start + len(pack_placement(hdr.model.spec))
    body = data[:start] + placement + data[end:-4]
    return body + struct.pack(">I", zlib.crc32(body))


@pytest.mark.parametrize("placement, message", [
    (b"\x09\x00\x00", "unknown entangler id 9"),
    (b"\x03\x01\x00\x05\x00\x00", "not a pair"),  # wire 5 of 5
    (b"\x03\x02\x01\x02\x00\x01\x00\x00", "not strictly increasing"),
    (b"\x03\x02\x00\x01\x00\x01\x00\x00", "not strictly increasing"),  # a pair twice
    (b"\x03\x00\x00\x00", "at least one pair"),
    (b"\x01\x03ib\x01\x00", "printable ASCII"),
    (b"\x01\x41" + b"x" * 65 + b"\x00", "longer than 64"),
    (b"\x01\x00\x02\x00\x01\x00\x02", "layout must be 5"),
    (b"\x01\x00\x05" + struct.pack(">5H", 1, 2, 3, 4, 4), "distinct physical qubits"),
    (b"\x01\x00\xff", "cut short|truncated"),
])
def test_damaged_placements_are_bitstream_errors(placement, message):
    with pytest.raises(BitstreamError, match=message):
        bitstream.read(_forge_placement(placement))


def test_the_untouched_placement_reads():
    hdr = bitstream.read(_forge_placement(b"\x01\x00\x00")).header
    assert hdr.model.spec.entangler == "linear" and not hdr.model.spec.layout


# ------------------------------------------------------------------------- layouts on devices
@pytest.mark.parametrize("device", ["FakeTorino", "FakeFez"])
@pytest.mark.parametrize("n, kind", [(4, "listed"), (6, "linear"), (8, "listed"), (12, "ring")])
def test_the_chosen_qubits_are_coupled_where_the_circuit_entangles(device, n, kind):
    dev = fake_device(device)
    cal = Calibration(dev)
    chosen = choose_layout(dev, n, kind)
    assert len(set(chosen.layout)) == n
    pairs = chosen.pairs if kind == "listed" else CircuitSpec(n, 1, entangler=kind).pairs
    assert all(cal.coupled(chosen.layout[i], chosen.layout[j]) for i, j in pairs)
    # connected: every wire reaches wire 0 through the pairs
    reach, grew = {0}, True
    while grew:
        new = {j for i, j in pairs if i in reach} | {i for i, j in pairs if j in reach}
        grew, reach = not new <= reach, reach | new
    assert reach == set(range(n))
    # no other candidate of the same kind scores better than a random one
    assert chosen.score <= cal.score(chosen.layout, pairs) + 1e-12


def test_no_ring_where_the_lattice_has_no_cycle_of_that_length():
    with pytest.raises(BackendError, match="no cycle of 6"):
        choose_layout(fake_device("FakeTorino"), 6, "ring")


def test_a_placed_circuit_is_transpiled_onto_its_layout_without_routing():
    spec = place(CircuitSpec(6, 12), "FakeTorino")
    tr = transpile_for(fake_device("FakeTorino"), spec)
    assert tr.physical == spec.layout and tr.touched == tuple(sorted(spec.layout))
    ops = tr.isa.count_ops()
    assert "swap" not in ops
    # every pair's ZZ compiles to two CZ: nothing added for routing
    assert ops["cz"] == 2 * len(spec.pairs) * spec.n_layers_total
    paper = transpile_for(fake_device("FakeTorino"), CircuitSpec(6, 12)).isa.count_ops()["cz"]
    assert paper > 4 * ops["cz"]


def test_a_device_that_would_have_to_route_is_refused_with_the_reason():
    spec = place(CircuitSpec(4, 8), "aer.fake_torino")
    with pytest.raises(BackendError, match=r"does not couple|has \d+ qubits") as err:
        transpile_for(fake_device("FakeFez"), spec)
    assert str(list(spec.layout)) in str(err.value)
    with pytest.raises(BackendError, match="no coupling map"):
        place(CircuitSpec(4, 8), "braket.iqm_garnet")


def test_encode_for_a_target_decodes_there_and_is_refused_elsewhere(rgb_png, tmp_path, capsys):
    q = tmp_path / "t.qinr"
    argv = ["encode", str(rgb_png), "-o", str(q), "--qubits", "4", "--embed", "8", "--steps", "8", "--quiet",
            "--batch-size", "32", "--target", "torch.fake_torino"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "target   torch.fake_torino on physical qubits" in out and "device model" in out
    spec = bitstream.read(q.read_bytes()).header.model.spec
    assert spec.entangler == "listed" and spec.target == "torch.fake_torino" and len(spec.layout) == 4
    assert main(["info", str(q)]) == 0
    assert f"target   torch.fake_torino on physical qubits {list(spec.layout)}" in capsys.readouterr().out
    assert main(["decode", str(q), "-o", str(tmp_path / "d.png"), "--backend", "torch.fake_torino"]) == 0
    assert f"onto physical qubits {list(spec.layout)}" in get_backend("torch.fake_torino").driver.device_model() \
        .program(spec).source
    capsys.readouterr()
    assert main(["decode", str(q), "-o", str(tmp_path / "e.png"), "--backend", "torch.fake_fez"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pinned to physical qubits" in err and "torch.fake_fez runs on fake_fez" in err
    assert not (tmp_path / "e.png").exists()
    assert main(["decode", str(q), "-o", str(tmp_path / "g.png"), "--backend", "braket.iqm_garnet", "--shots", "10",
                 "--max-cost", "1000"]) == 1
    assert "qubits of its own choosing" in capsys.readouterr().err
    assert main(["decode", str(q), "-o", str(tmp_path / "s.png"), "--backend", "aer", "--shots", "10"]) == 0


@pytest.mark.parametrize("argv, message", [
    (["--entangler", "device:"], "needs a backend"),
    (["--entangler", "star"], "unknown entangler"),
    (["--entangler", "device"], "needs a backend"),
    (["--target", "aer.fake_fez", "--entangler", "device:aer.fake_torino"], "different devices"),
    (["--target", "braket.ionq_forte"], "no coupling map"),
    (["--target", "aer.fake_tornio"], "Did you mean"),
    (["--target", "FakeProviderForBackendV2", "--entangler", "all"], "no IBM fake device"),
])
def test_bad_placement_options_get_one_line(argv, message, rgb_png, tmp_path, capsys):
    assert main(["encode", str(rgb_png), "-o", str(tmp_path / "x.qinr"), "--qubits", "4", "--quiet", *argv]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_model_config_carries_the_placement():
    spec = replace(CircuitSpec(3, 4), entangler="ring", layout=(5, 6, 7), target="FakeFez")
    cfg = ModelConfig(out_features=1, spec=spec)
    assert ModelConfig(**cfg.to_dict()) == cfg
