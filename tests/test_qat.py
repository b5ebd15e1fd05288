"""Quantization-aware fine-tuning (``TrainConfig.qat_steps``, ``--qat-steps``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from quinr_testutils import smooth_rgb

import quinr
from quinr.errors import ConfigError
from quinr.model import QuINR
from quinr.quant import dequantize, quantize
from quinr.signal import Signal, SignalKind
from quinr.train import fake_quantize, quantized

TINY = quinr.ModelConfig(n_qubits=4, embed_dim=8, reuploads=2, layers=1)


@pytest.mark.parametrize("bits", [2, 3, 5, 8, 12, 16])
def test_fake_quantize_is_the_files_grid_exactly(bits):
    g = torch.Generator().manual_seed(bits)
    for x in (torch.randn(37, generator=g) * 3, torch.rand(4, 5, generator=g) - 7.0, torch.full((3,), 0.25)):
        want = dequantize(quantize(x.numpy(), bits), bits)
        got = fake_quantize(x, bits).numpy()
        assert got.dtype == want.dtype and got.shape == want.shape
        assert np.array_equal(got, want)


def test_quantized_weights_inside_the_block_and_float_ones_after_it():
    net = QuINR(TINY, seed=1)
    before = [t.detach().clone() for _, t in net.named_tensors()]
    bits = tuple(3 + k for k in range(len(before)))
    with quantized(net, bits):
        for (_, t), b, f in zip(net.named_tensors(), bits, before, strict=True):
            assert torch.equal(t, fake_quantize(f, b))
            assert len(torch.unique(t)) <= 1 << b
    assert all(torch.equal(t, f) for (_, t), f in zip(net.named_tensors(), before, strict=True))
    with pytest.raises(ConfigError, match="bit depths"), quantized(net, (8,)):
        pass


def test_fine_tuning_lifts_a_low_bit_file_and_keeps_a_byte_budget():
    sig = Signal(smooth_rgb(16, 24, seed=2), SignalKind.U8, 0, 255)
    plain = quinr.TrainConfig(steps=180, lr=0.05)  # as many steps in all as the fine-tuned run
    tuned = quinr.TrainConfig(steps=120, lr=0.05, qat_steps=60)
    for bits in (4, 5):
        a = quinr.encode(sig, model=TINY, train=plain, bits=bits)
        b = quinr.encode(sig, model=TINY, train=tuned, bits=bits)
        assert b.tensor_bits == a.tensor_bits
        assert b.psnr > a.psnr + 0.3, (bits, a.psnr, b.psnr)
        assert len(b.train.losses) == 120  # the training the user asked for; the fine-tuning follows it
    budget = quinr.encode(sig, model=TINY, train=plain, bits=6).n_bytes - 3
    c = quinr.encode(sig, model=TINY, train=tuned, bits=f"bytes:{budget}")
    assert c.n_bytes <= budget


def test_qat_settings_are_checked():
    with pytest.raises(ConfigError, match="qat_steps"):
        quinr.TrainConfig(qat_steps=-1)
    with pytest.raises(ConfigError, match="qat_lr_ratio"):
        quinr.TrainConfig(qat_lr_ratio=0.0)
