"""Shot and noise studies (library and CLI), and the noise flags of encode and decode."""

from __future__ import annotations

import json
import math
import warnings

import pytest
from PIL import Image

from quinr import encode
from quinr.cli import main
from quinr.errors import ConfigError
from quinr.model import ModelConfig
from quinr.study import study_noise, study_shots
from quinr.train import TrainConfig

warnings.filterwarnings("ignore", category=DeprecationWarning)


@pytest.fixture(scope="module")
def qinr_file(tmp_path_factory):
    from quinr_testutils import smooth_rgb

    d = tmp_path_factory.mktemp("study")
    png = d / "img.png"
    Image.fromarray(smooth_rgb(10, 12, seed=5)).save(png)
    out = d / "img.qinr"
    encode(str(png), out, model=ModelConfig(n_qubits=4, embed_dim=8), train=TrainConfig(steps=60))
    return out, png


def test_noise_study_measures_what_it_predicts_on_an_exact_backend(qinr_file, tmp_path):
    path, png = qinr_file
    res = study_noise(str(path), "aer.dm", "readout", [0.0, 0.04, 0.1], reference=str(png))
    means = [p.mean for p in res.points]
    assert means[0] > means[1] > means[2]  # more readout error, lower PSNR
    for p in res.points:
        assert len(p.psnr) == 1 and p.predicted_psnr == pytest.approx(p.mean, abs=0.05)  # both exact
    files = res.save(tmp_path)
    data = json.loads(files["json"].read_text())
    assert data["parameter"] == "readout" and len(data["points"]) == 3 and data["reference"] == "original"
    assert files["csv"].read_text().splitlines()[0].startswith("readout,shots,psnr_mean")
    assert Image.open(files["png"]).size[0] > 100


def test_shot_study_mean_is_near_the_prediction(qinr_file):
    path, _ = qinr_file
    res = study_shots(str(path), "torch", [64, 2048], repeats=4, seed=3, noise="readout=0.03")
    assert res.reference == "exact decode" and res.noise.startswith("readout")
    lo, hi = res.points
    assert lo.value == 64 and hi.value == 2048 and len(lo.psnr) == 4 and lo.std > 0
    assert hi.mean > lo.mean + 5  # more shots, better
    for p in res.points:
        assert p.predicted_psnr == pytest.approx(p.mean, abs=0.75)


def test_study_refuses_bad_settings(qinr_file):
    path, _ = qinr_file
    with pytest.raises(ConfigError, match="unknown noise parameter"):
        study_noise(str(path), "aer.dm", "cosmic_rays", [0.1])
    with pytest.raises(ConfigError, match="positive integers"):
        study_shots(str(path), "torch", [0, 10])
    with pytest.raises(ConfigError, match="repeats"):
        study_shots(str(path), "torch", [10], repeats=0)


def test_cli_study_writes_table_and_files(qinr_file, tmp_path, capsys):
    path, _ = qinr_file
    out = tmp_path / "s"
    rc = main(["study", "noise", str(path), "--backend", "torch", "--param", "depolarizing",
               "--values", "0,0.01", "--quiet", "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0 and "study noise on torch" in text and "predicted" in text
    assert (out / "study_noise.png").exists() and (out / "study_noise.csv").exists()
    with pytest.raises(SystemExit) as exc:
        main(["study", "shots", str(path), "--backend", "torch", "--shots", "16,x", "--quiet"])
    assert exc.value.code == 2


def test_cli_noise_encode_decode_and_mitigate(qinr_file, tmp_path, capsys):
    path, png = qinr_file
    assert main(["noise", "device=FakeManilaV2", "-o", str(tmp_path / "m.json")]) == 0
    assert "fake_manila calibration" in json.loads((tmp_path / "m.json").read_text())["source"]
    out = tmp_path / "aware.qinr"
    rc = main(["encode", str(png), "-o", str(out), "--qubits", "4", "--embed", "8", "--steps", "20", "--quiet",
               "--noise", "readout=0.05/0.1"])
    text = capsys.readouterr().out
    assert rc == 0 and "noisy" in text and "readout" in text
    rc = main(["decode", str(path), "-o", str(tmp_path / "d.png"), "--backend", "aer.dm", "--noise", "readout=0.05",
               "--mitigate", "readout"])
    text = capsys.readouterr().out
    assert rc == 0 and "mitigation: readout" in text and "readout=0.05" in text and "((" not in text
    assert main(["decode", str(path), "-o", str(tmp_path / "e.png"), "--mitigate", "readout"]) == 1
    assert "need --backend" in capsys.readouterr().err
    assert main(["noise", "depolarizing=2"]) == 1


def test_study_with_and_without_mitigation_lossless_point_and_counts(qinr_file, tmp_path, capsys):
    """One plot with both series; a lossless point is kept (inf in JSON/CSV, drawn at the top); the
    CSV has each column once; the progress bar counts the decodes that ran."""
    import csv

    path, _ = qinr_file
    decodes = []
    res = study_noise(str(path), "torch", "readout", [0.0, 0.05], shots=None, mitigate="readout",
                      progress=lambda done, total: decodes.append((done, total)))
    # exact: one decode per point; the mitigation applies only where there is readout error
    assert decodes == [(1, 3), (2, 3), (3, 3)]
    lossless, noisy = res.points
    assert math.isinf(lossless.mean) and math.isinf(lossless.mitigated_mean)
    assert math.isinf(noisy.mitigated_mean) and noisy.mean < 60  # exact probabilities: the inversion is exact
    sampled = study_noise(str(path), "torch", "readout", [0.08], shots=4000, repeats=2, mitigate="readout").points[0]
    assert sampled.mitigated_mean > sampled.mean + 1  # the readout correction helps under shot noise too
    assert abs(sampled.predicted_mitigated - sampled.mitigated_mean) < 1.0
    paths = res.save(tmp_path / "out")
    rows = list(csv.reader(paths["csv"].open()))
    assert len(rows[0]) == len(set(rows[0])) and "psnr_mean_readout" in rows[0]
    assert rows[1][rows[0].index("psnr_mean")] == "inf"
    shots = study_shots(str(path), "torch", [32, 64], repeats=2)
    header = next(csv.reader(shots.save(tmp_path / "s")["csv"].open()))
    assert header.count("shots") == 1 and header[0] == "shots"
    rc = main(["study", "noise", str(path), "--backend", "torch", "--param", "readout", "--values", "0.05",
               "--mitigate", "readout", "--quiet", "--out", str(tmp_path / "cli")])
    assert rc == 0 and "with readout" in capsys.readouterr().out
