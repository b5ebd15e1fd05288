"""encode -> file -> decode, for every supported input type."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from quinr_testutils import smooth_rgb

import quinr
from quinr.errors import ConfigError, SignalError
from quinr.signal import SignalKind, coordinates, load_signal, psnr, save_signal

TINY = quinr.ModelConfig(n_qubits=4, embed_dim=8, reuploads=2, layers=1)


def _train(steps: int = 30, **kw) -> quinr.TrainConfig:
    return quinr.TrainConfig(steps=steps, **kw)


def test_round_trip_reports_the_psnr_of_its_own_file(rgb_png, tmp_path):
    out = tmp_path / "x.qinr"
    res = quinr.encode(rgb_png, out, model=TINY, train=_train())
    assert out.stat().st_size == res.n_bytes == len(res.data)
    assert res.bpp == pytest.approx(8 * res.n_bytes / (12 * 16))
    decoded = quinr.decode(out)
    assert np.array_equal(decoded.data, res.decoded.data)  # bit-exact: what the encoder reported
    original = load_signal(rgb_png)
    assert psnr(original, decoded) == res.psnr
    assert res.n_params == TINY.n_params()
    # the fit is far better than the best constant image
    flat = quinr.Signal(np.broadcast_to(original.data.mean((0, 1)).round().astype(np.uint8), original.data.shape).copy(),
                        SignalKind.U8, 0, 255)
    assert res.psnr > psnr(original, flat) + 3


def test_same_seed_gives_identical_bitstreams_and_another_seed_does_not(rgb_png):
    a = quinr.encode(rgb_png, model=TINY, train=_train(10, seed=3))
    b = quinr.encode(rgb_png, model=TINY, train=_train(10, seed=3))
    c = quinr.encode(rgb_png, model=TINY, train=_train(10, seed=4))
    assert a.data == b.data
    assert a.data != c.data


def test_minibatch_training_and_fewer_bits_make_smaller_files(rgb_png):
    a = quinr.encode(rgb_png, model=TINY, train=_train(20, batch_size=64, eval_every=5), bits=16)
    b = quinr.encode(rgb_png, model=TINY, train=_train(20, batch_size=64, eval_every=5), bits=8)
    assert b.n_bytes < a.n_bytes
    assert a.psnr > 10 and b.psnr > 10


def test_grey_sixteen_bit_png_round_trip(tmp_path):
    y, x = np.mgrid[0:10, 0:14]
    img = (1000 + 3000 * x + 500 * y).astype(np.uint16)
    p = tmp_path / "g16.png"
    Image.fromarray(img).save(p)
    sig = load_signal(p)
    assert sig.kind is SignalKind.U16 and sig.shape == (10, 14, 1)
    res = quinr.encode(p, tmp_path / "g16.qinr", model=TINY, train=_train(40))
    dec = quinr.decode(tmp_path / "g16.qinr")
    assert dec.kind is SignalKind.U16 and dec.data.dtype == np.uint16
    assert res.peak == 65535.0
    out = save_signal(dec, tmp_path / "g16_out.png")
    assert load_signal(out).kind is SignalKind.U16


def test_float_npy_round_trip_keeps_the_value_range(tmp_path):
    y, x = np.mgrid[0:8, 0:20].astype(np.float32)
    arr = 5.0 + 70.0 * np.exp(-((x - 10) ** 2) / 40.0) + 0.5 * y
    p = tmp_path / "range.npy"
    np.save(p, arr)
    res = quinr.encode(p, tmp_path / "r.qinr", model=TINY, train=_train(40))
    hdr = quinr.info(tmp_path / "r.qinr")
    assert hdr.kind is SignalKind.F32
    assert hdr.vmin == pytest.approx(arr.min()) and hdr.vmax == pytest.approx(arr.max())
    dec = quinr.decode(tmp_path / "r.qinr")
    assert dec.data.dtype == np.float32 and dec.shape == (8, 20, 1)
    assert dec.data.min() >= arr.min() - 1e-4 and dec.data.max() <= arr.max() + 1e-4
    assert res.peak == pytest.approx(arr.max())


def test_grey_jpeg_input(tmp_path):
    p = tmp_path / "g.jpg"
    Image.fromarray(smooth_rgb()[..., 1]).save(p, quality=95)
    res = quinr.encode(p, model=TINY, train=_train(10))
    assert res.decoded.shape == (12, 16, 1)


def test_coordinates_are_normalised_per_axis():
    c = coordinates(3, 5)
    assert c.shape == (15, 2)
    assert c[:, 0].min() == -1 and c[:, 0].max() == 1 and c[:, 1].min() == -1 and c[:, 1].max() == 1
    assert np.allclose(c[:5, 0], -1) and np.allclose(c[:5, 1], np.linspace(-1, 1, 5))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: d / "missing.png", "no such file"),
        (lambda d: (d / "text.png").write_text("hello") and d / "text.png", "not an image"),
        (lambda d: (d / "bad.npy").write_bytes(b"\x93NUMPY garbage") and d / "bad.npy", "npy"),
        (lambda d: (np.save(d / "s.npy", np.array(["a", "b"])), d / "s.npy")[1], "numeric"),
        (lambda d: (np.save(d / "n.npy", np.full((3, 3), np.nan)), d / "n.npy")[1], "NaN"),
        (lambda d: (Image.new("RGBA", (4, 4)).save(d / "a.png"), d / "a.png")[1], "not supported"),
    ],
)
def test_bad_inputs_raise_signal_error(tmp_path, make, message):
    with pytest.raises(SignalError, match=message):
        quinr.encode(make(tmp_path), model=TINY, train=_train(1))


def test_bad_settings_raise_config_error(rgb_png):
    with pytest.raises(ConfigError, match="bits"):
        quinr.encode(rgb_png, model=TINY, train=_train(1), bits=1)
    with pytest.raises(ConfigError, match="steps"):
        quinr.TrainConfig(steps=0)
    with pytest.raises(ConfigError, match="CUDA|device"):
        quinr.encode(rgb_png, model=TINY, train=_train(1, device="cuda:7" if not __import__("torch").cuda.is_available() else "tpu"))
