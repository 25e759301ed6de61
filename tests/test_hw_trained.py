"""Accelerators of really trained networks (digits, 1 epoch, tiny scale) in Amaranth's simulator:
outputs equal nn/golden.run on every simulated test image (all 360 for fc in parallel mode, 40
bit-serial; the first 3 for cnv, whose
first conv alone takes ~8100 cycles a frame in the Python simulator; SIM's Verilator runs cover more)."""

import numpy as np
import pytest

from bitscale.hw.folding import default_folding
from bitscale.hw.testbench import run_accelerator
from bitscale.hw.top import Accelerator
from bitscale.nn import golden, ir
from bitscale.nn import data as nn_data
from bitscale.nn.train import TrainConfig, train


def _trained(tmp_path, model, scale, w, a):
    cfg = TrainConfig(
        model=model, wbits=w, abits=a, scale=scale, dataset="digits", epochs=1, seed=0, batch_size=64, lr=0.01
    )
    train(cfg, tmp_path / "run", log=lambda s: None)
    net = ir.load(tmp_path / "run")
    x, _ = nn_data.test_set(tmp_path / "run")
    return net, x


@pytest.mark.slow
@pytest.mark.training
def test_trained_fc_every_test_image(tmp_path):
    net, x = _trained(tmp_path, "fc", 1 / 128, 2, 2)
    assert len(x) == 360
    want = golden.run(net, x)
    got, _, _ = run_accelerator(Accelerator(net, default_folding(net, mode="parallel")), x)
    np.testing.assert_array_equal(got, want)
    # bit-serial takes w*a = 4x the cycles: the first 40 images
    got, _, _ = run_accelerator(Accelerator(net, default_folding(net, mode="bit-serial")), x[:40])
    np.testing.assert_array_equal(got, want[:40])


@pytest.mark.slow
@pytest.mark.training
def test_trained_cnv_test_images(tmp_path):
    net, x = _trained(tmp_path, "cnv", 1 / 32, 2, 2)
    x = x[:3]
    got, _, _ = run_accelerator(Accelerator(net, default_folding(net)), x, in_gap=0.1, out_stall=0.1)
    np.testing.assert_array_equal(got, golden.run(net, x))
