"""Imported networks in RTL: BNN-PYNQ (brevitas_examples) and the vgg/darknet presets, Verilator, bit-exact, cycles = model."""

import warnings

import numpy as np
import pytest
import torch

torch.set_num_threads(1)

pytestmark = [pytest.mark.verilator, pytest.mark.usefixtures("verilator_o0")]


def _generate_and_simulate(net, tmp_path, images=20, inputs=None):
    from bitscale.hw.folding import default_folding
    from bitscale.hw.generate import generate
    from bitscale.nn import ir
    from bitscale.sim.simulate import simulate

    ir.save(net, tmp_path / "run")
    d = generate(net, default_folding(net), tmp_path / "build", run_dir=tmp_path / "run")
    s = simulate(tmp_path / "build", images=images, inputs=inputs, log=lambda *a, **k: None)
    assert s["golden_match"] == images and s["all_frames_match"], s
    assert s["cycles_per_frame"] == d["model_cycles_per_frame"], s
    return s


def test_bnn_pynq_tfc_w1a1_import_generate_simulate(tmp_path):
    """brevitas_examples' TFC w1a1 (random weights) -> export_qonnx -> bitscale import -> generate -> 20 images."""
    warnings.simplefilter("ignore")
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    from import_bnn_pynq import export

    from bitscale.nn import ir
    from bitscale.nn.importer import import_to_run_dir

    export("tfc_1w1a", tmp_path / "tfc.onnx")
    met = import_to_run_dir(tmp_path / "tfc.onnx", tmp_path / "imp", images=100, log=lambda *a: None)
    assert met["qonnx_agreement"] == 1.0 and met["qonnx_max_abs_diff"] < 1e-3
    net = ir.load(tmp_path / "imp")
    from bitscale.nn.data import test_set

    x, _ = test_set(tmp_path / "imp")
    _generate_and_simulate(net, tmp_path, 20, inputs=x[:20])


@pytest.mark.parametrize("model,scale", [("vgg", 1 / 32), ("darknet", 1 / 16)])
def test_preset_in_verilator(tmp_path, model, scale):
    """One Verilator run of each new preset (random weights, w2a2): 20 images bit-exact, cycles = model."""
    from bitscale.nn.presets import ConvNet, export

    torch.manual_seed(1)
    m = ConvNet(model, 2, 2, scale, 10, (32, 32, 3))
    m.train()
    with torch.no_grad():
        m(torch.rand(16, 3, 32, 32))
    net = export(m.eval(), 10)
    x = np.random.default_rng(0).integers(0, 256, (20, 32, 32, 3)).astype(np.uint8)
    _generate_and_simulate(net, tmp_path, 20, inputs=x)
