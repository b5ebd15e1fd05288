import math

import numpy as np
import pytest

from quinr.circuit import CircuitSpec, Gate, basis_bits, seeded_permutation
from quinr.errors import ConfigError


def test_layout_counts_match_the_paper_formula():
    spec = CircuitSpec(n_qubits=8, embed_dim=24, reuploads=4, layers=2)
    assert spec.folds == 3
    assert len(spec.pairs) == 28
    assert spec.params_per_layer == 4 * 8 + 28
    assert spec.n_theta == 4 * 2 * 60
    assert spec.n_states == 256


def test_folded_embedding_alternates_rx_rz_and_pads_the_last_fold():
    spec = CircuitSpec(n_qubits=4, embed_dim=10, reuploads=1, layers=1)
    emb = spec.embedding_gates(0)
    assert spec.folds == 3
    assert len(emb) == 10  # padded slots 10, 11 are identities and not emitted
    assert [g.name for g in emb[:4]] == ["RX"] * 4
    assert [g.name for g in emb[4:8]] == ["RZ"] * 4
    assert [g.name for g in emb[8:]] == ["RX"] * 2
    assert [g.wires for g in emb] == [(m % 4,) for m in range(10)]
    assert [g.index for g in emb] == list(range(10))  # upload 0 is unpermuted


def test_entangling_layer_order_and_parameter_layout():
    spec = CircuitSpec(n_qubits=3, embed_dim=3, reuploads=1, layers=2)
    gates = spec.entangling_gates(1)
    names = [g.name for g in gates]
    assert names == ["RZ"] * 3 + ["RX"] * 3 + ["CRZ"] * 3 + ["RZ"] * 3 + ["RX"] * 3
    assert [g.wires for g in gates if g.name == "CRZ"] == [(0, 1), (0, 2), (1, 2)]
    assert [g.index for g in gates] == list(range(15, 30))
    assert all(g.source == "theta" for g in gates)


def test_reuploads_use_distinct_seeded_permutations():
    spec = CircuitSpec(n_qubits=4, embed_dim=12, reuploads=3, layers=1, shuffle_seed=5)
    p0, p1, p2 = (spec.permutation(r) for r in range(3))
    assert p0 == tuple(range(12))
    assert sorted(p1) == sorted(p2) == list(range(12))
    assert p1 != p0 and p2 != p1
    assert CircuitSpec(4, 12, 3, 1, shuffle_seed=5).permutation(1) == p1
    assert CircuitSpec(4, 12, 3, 1, shuffle_seed=6).permutation(1) != p1
    second_upload = [g for g in spec.gates() if g.source == "h"][12:24]
    assert [g.index for g in second_upload] == list(p1)


def test_permutation_generator_is_frozen():
    # The decoder rebuilds these from the header forever: any change here breaks old files.
    assert seeded_permutation(10, 0, 1) == (5, 9, 2, 4, 7, 3, 6, 1, 8, 0)
    assert seeded_permutation(6, 123, 2) == (0, 5, 3, 4, 2, 1)


def test_whole_circuit_gate_count():
    spec = CircuitSpec(n_qubits=5, embed_dim=13, reuploads=2, layers=3)
    gates = spec.gates()
    assert sum(g.source == "h" for g in gates) == 2 * 13
    assert sum(g.source == "theta" for g in gates) == spec.n_theta
    assert sorted(g.index for g in gates if g.source == "theta") == list(range(spec.n_theta))
    assert isinstance(gates[0], Gate) and gates[0].name == "RX"  # the first gate changes |0>


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_qubits": 0, "embed_dim": 4},
        {"n_qubits": 21, "embed_dim": 4},
        {"n_qubits": 4, "embed_dim": 0},
        {"n_qubits": 4, "embed_dim": 4, "reuploads": 0},
        {"n_qubits": 4, "embed_dim": 4, "layers": 0},
        {"n_qubits": 4, "embed_dim": 4, "shuffle_seed": -1},
        {"n_qubits": 4, "embed_dim": 4, "angle_scale": math.nan},
        {"n_qubits": 4.0, "embed_dim": 4},
        {"n_qubits": True, "embed_dim": 4},
    ],
)
def test_invalid_specs_raise_config_error(kwargs):
    with pytest.raises(ConfigError):
        CircuitSpec(**kwargs)


def test_spec_module_does_not_import_pennylane():
    import subprocess
    import sys

    code = "import sys, quinr.circuit; print('pennylane' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_basis_bits_put_wire_0_in_the_most_significant_bit():
    bits = basis_bits(3)
    assert bits.shape == (8, 3)
    assert bits[1].tolist() == [0, 0, 1] and bits[4].tolist() == [1, 0, 0] and bits[6].tolist() == [1, 1, 0]
    assert (bits @ (1 << np.arange(2, -1, -1)) == np.arange(8)).all()  # the rows spell their index
    assert basis_bits(4, 2).tolist() == basis_bits(4)[:, :2].tolist()
