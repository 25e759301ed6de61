"""QONNX / Brevitas import: Brevitas -> export_qonnx -> import -> golden == Brevitas, checked by qonnx's executor."""

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from torch import nn

torch.set_num_threads(1)

from bitscale.nn import golden
from bitscale.nn.importer import check_against_qonnx, from_brevitas, import_qonnx

from bitscale.errors import UserError

N_IMAGES = 1000


def _bn_stats(module, x, steps=3):
    """Random weights plus BatchNorm statistics from a few forward passes (train mode), then eval."""
    module.train()
    with torch.no_grad():
        for _ in range(steps):
            module(x)
    for mod in module.modules():  # random affine BN params incl. negative slopes
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            g = torch.Generator().manual_seed(mod.num_features)
            mod.weight.data = torch.randn(mod.num_features, generator=g)
            mod.bias.data = 0.3 * torch.randn(mod.num_features, generator=g)
    return module.eval()


def _images(shape, n=N_IMAGES, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.int64).astype(np.uint8)


def _brevitas_vs_golden(module, net, x_hwc, torch_in):
    """argmax agreement and max |logit/scale - golden| of Brevitas (float64 eval) vs the golden model."""
    import copy

    m = copy.deepcopy(module).double().eval()
    with torch.no_grad():
        ref = m(torch_in(x_hwc).double()).numpy()
    g = golden.run(net, x_hwc)
    aff = net.meta["import"]["output"]
    ints = (ref - aff["beta"]) / aff["alpha"]
    return float((np.round(ints).argmax(1) == g.argmax(1)).mean()), float(np.abs(ints - g).max())


class Mixed(nn.Module):
    """A hand-written Brevitas CNN that is no preset: 5x5 same conv, stride-2 3x3 conv, 3x3/2 pool, 1x1 conv,
    explicit -1 padding of a bipolar map, 2x2/1 pool, global average pool, a linear head with bias."""

    def __init__(self, wbits=2, abits=2):
        super().__init__()
        from bitscale.nn.models import _input_quant
        from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear, QuantReLU
        from brevitas.quant import (
            SignedBinaryActPerTensorConst,
            SignedBinaryWeightPerTensorConst,
        )

        wq = {"weight_quant": SignedBinaryWeightPerTensorConst} if wbits == 1 else {"weight_bit_width": wbits}
        act = (
            (lambda: QuantIdentity(act_quant=SignedBinaryActPerTensorConst, return_quant_tensor=False))
            if abits == 1
            else (lambda: QuantReLU(bit_width=abits, return_quant_tensor=False))
        )
        self.iq = _input_quant()
        self.c1 = QuantConv2d(3, 8, 5, padding=2, bias=False, **wq)
        self.b1, self.a1 = nn.BatchNorm2d(8), act()
        self.c2 = QuantConv2d(8, 8, 3, stride=2, padding=1 if abits > 1 else 0, bias=False, **wq)
        self.b2, self.a2 = nn.BatchNorm2d(8), act()
        self.p2 = nn.MaxPool2d(3, 2)
        self.c3 = QuantConv2d(8, 12, 1, bias=False, **wq)
        self.b3, self.a3 = nn.BatchNorm2d(12), act()
        self.pad = -1.0 if abits == 1 else 0.0
        self.c4 = QuantConv2d(12, 12, 3, bias=False, **wq)
        self.b4, self.a4 = nn.BatchNorm2d(12), act()
        self.p4 = nn.MaxPool2d(2, 1)
        self.fc = QuantLinear(12, 10, bias=True, **wq)

    def forward(self, x):
        x = self.a1(self.b1(self.c1(self.iq(x))))
        x = self.p2(self.a2(self.b2(self.c2(x))))
        x = self.a3(self.b3(self.c3(x)))
        x = nn.functional.pad(x, (1, 1, 1, 1), value=self.pad)  # code-0 padding, explicit
        x = self.p4(self.a4(self.b4(self.c4(x))))
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


def _nchw(x):
    return torch.tensor(x.transpose(0, 3, 1, 2) / 255.0, dtype=torch.float32)


@pytest.mark.parametrize("wbits,abits", [pytest.param(2, 2, marks=pytest.mark.slow), (1, 1)])
def test_hand_written_module_round_trip(wbits, abits):
    torch.manual_seed(wbits)
    m = _bn_stats(Mixed(wbits, abits), torch.rand(64, 3, 16, 16))
    with torch.no_grad():  # an integer-valued bias in accumulator steps is not needed:
        m.fc.bias.data = torch.randn(10) * 0.5  # a float bias must be refused or exact; here per-tensor scale
    x = _images((16, 16, 3))
    with pytest.raises(UserError, match="bias"):
        from_brevitas(m, (3, 16, 16))
    with torch.no_grad():
        m.fc.bias.data.zero_()
    net, model = from_brevitas(m, (3, 16, 16))
    kinds = [(l.kind, l.kernel, l.stride, l.pad) for l in net.layers]
    assert ("conv", 5, 1, 2) in kinds and ("conv", 3, 2, 1 if abits > 1 else 0) in kinds
    assert ("conv", 1, 1, 0) in kinds and ("maxpool", 3, 2, 0) in kinds and ("maxpool", 2, 1, 0) in kinds
    assert ("conv", 3, 1, 1) in kinds  # the explicit Pad merged into the conv
    agree, diff = _brevitas_vs_golden(m, net, x, _nchw)
    assert agree == 1.0 and diff < 1e-6
    res, codes, _ = check_against_qonnx(net, model, _nchw(x[:200]).numpy())
    assert np.array_equal(codes, x[:200])
    assert res["qonnx_agreement"] >= 0.99 and res["qonnx_max_abs_diff"] < 1e-3


@pytest.mark.slow  # ~11 s on the shared machine
@pytest.mark.parametrize("wbits,abits", [(4, 8), (8, 8), (2, 6)])
def test_wide_activation_round_trip(wbits, abits):
    """Activations above 4 bits import as exact multiply-shift requantizers (act 'requant', as train's a >= 5):
    the hand-written module at w4a8 through QONNX, golden == Brevitas on 1,000 images and qonnx's executor."""
    torch.manual_seed(wbits)
    m = _bn_stats(Mixed(wbits, abits), torch.rand(64, 3, 16, 16))
    with torch.no_grad():
        m.fc.bias.data.zero_()
    net, model = from_brevitas(m, (3, 16, 16))
    hidden = [l for l in net.compute_layers if l.act != "none"]
    assert hidden and all(l.act == "requant" and l.out_bits == abits for l in hidden)
    x = _images((16, 16, 3))
    agree, diff = _brevitas_vs_golden(m, net, x, _nchw)
    assert agree == 1.0 and diff < 1e-2, (agree, diff)  # integer logits equal (float32 scales: ~1e-5..1e-3)
    res, codes, _ = check_against_qonnx(net, model, _nchw(x[:200]).numpy())
    assert res["qonnx_agreement"] == 1.0 and res["qonnx_max_abs_diff"] < 1e-2, res


@pytest.mark.slow
def test_wide_activation_in_hardware():
    """An imported w4a8 CNN (padded, stride-2, 1x1, pools, global pool; requantizers) in Amaranth's simulator
    == golden, and cycles == hw's cycle model."""
    from bitscale.hw.folding import default_folding, network_cycles
    from bitscale.hw.testbench import run_accelerator
    from bitscale.hw.top import Accelerator

    torch.manual_seed(5)
    m = _bn_stats(Mixed(4, 8), torch.rand(64, 3, 12, 12))
    with torch.no_grad():
        m.fc.bias.data.zero_()
    net, _ = from_brevitas(m, (3, 12, 12))
    assert any(l.act == "requant" for l in net.compute_layers)
    f = default_folding(net)
    acc = Accelerator(net, f)
    x = _images((12, 12, 3), 3, seed=7)
    got, cycles, _ = run_accelerator(acc, x)
    np.testing.assert_array_equal(got, golden.run(net, x))
    beats = acc.frame.output.beats
    assert cycles[2 * beats] - cycles[beats] == network_cycles(net, f)  # steady-state frame period


@pytest.mark.slow  # 20 s on the loaded 2-core machine (fast tier, #17)
def test_too_wide_activation_is_one_named_error(tmp_path):
    from brevitas.nn import QuantReLU

    class Wide(nn.Module):
        def __init__(self):
            super().__init__()
            from bitscale.nn.models import _input_quant
            from brevitas.nn import QuantLinear

            self.iq, self.fc1 = _input_quant(), QuantLinear(8, 4, bias=False, weight_bit_width=4)
            self.a1, self.fc2 = QuantReLU(bit_width=20), QuantLinear(4, 2, bias=False, weight_bit_width=4)

        def forward(self, x):
            return self.fc2(self.a1(self.fc1(self.iq(x))))

    p = _onnx_with(tmp_path, Wide(), (8,))
    with pytest.raises(UserError, match=r"cannot import node .*op_type Quant.*20-bit activations"):
        import_qonnx(p)


@pytest.mark.parametrize(
    "model,w,a",
    [
        ("fc", 2, 2),
        ("fc", 1, 1),
        pytest.param("cnv", 1, 1, marks=pytest.mark.slow),
        pytest.param("cnv", 2, 2, marks=pytest.mark.slow),
    ],
)
def test_preset_round_trip(model, w, a):
    """The train presets (tiny widths, random weights) through QONNX: golden == Brevitas on 1000 images."""
    from bitscale.nn.models import build_model, to_torch_input

    shape = (32, 32, 3) if model == "cnv" else (64,)
    torch.manual_seed(0)
    q = build_model(model, w, a, 1 / 16 if model == "cnv" else 1 / 128, 10, shape)
    xin = _images(shape, 64, seed=1)
    _bn_stats(q, to_torch_input(xin, q))
    net, _ = from_brevitas(q, tuple(to_torch_input(xin[:1], q).shape[1:]))
    x = _images(shape)
    agree, diff = _brevitas_vs_golden(q, net, x, lambda v: to_torch_input(v, q))
    assert agree == 1.0 and diff < 1e-6


def _onnx_with(tmp_path, module, shape):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from brevitas.export import export_qonnx
    p = tmp_path / "m.onnx"
    export_qonnx(module.eval(), args=torch.zeros(1, *shape), export_path=str(p), dynamo=False)
    return p


class _Bad(nn.Module):
    def __init__(self, what):
        super().__init__()
        from bitscale.nn.models import _input_quant
        from brevitas.nn import QuantConv2d, QuantIdentity
        from brevitas.quant import SignedBinaryActPerTensorConst

        self.what = what
        self.iq = _input_quant()
        self.c1 = QuantConv2d(1, 4, 3, bias=False, weight_bit_width=2)
        self.a1 = QuantIdentity(act_quant=SignedBinaryActPerTensorConst, return_quant_tensor=False)
        self.c2 = QuantConv2d(4, 4, 3, padding=1, bias=False, weight_bit_width=2)

    def forward(self, x):
        x = self.c1(self.iq(x))
        if self.what == "sigmoid":
            x = torch.sigmoid(x)
        x = self.a1(x)
        return self.c2(x)


@pytest.mark.parametrize(
    "what,match",
    [("sigmoid", r"op_type Sigmoid"), pytest.param("pad", r"op_type Conv.*zero padding", marks=pytest.mark.slow)],
)
def test_unmappable_node_is_one_named_error(tmp_path, what, match):
    p = _onnx_with(tmp_path, _Bad(what), (1, 8, 8))
    with pytest.raises(UserError, match=match):
        import_qonnx(p)
    r = subprocess.run(
        [sys.executable, "-m", "bitscale", "import", str(p), "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "cannot import node" in r.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_cli_import_writes_a_run_dir(tmp_path):
    """bitscale import MODEL.onnx --out RUN --calib-npz X.npz: network + metrics checked against qonnx."""
    torch.manual_seed(3)
    m = _bn_stats(Mixed(2, 2), torch.rand(32, 3, 16, 16))
    with torch.no_grad():
        m.fc.bias.data.zero_()
    p = _onnx_with(tmp_path, m, (3, 16, 16))
    x = _images((16, 16, 3), 50, seed=4)
    np.savez(tmp_path / "calib.npz", x=_nchw(x).numpy(), y=np.arange(50) % 10)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "bitscale",
            "import",
            str(p),
            "--out",
            str(tmp_path / "run"),
            "--calib-npz",
            str(tmp_path / "calib.npz"),
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    met = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert json.loads(r.stdout)["qonnx_agreement"] == met["qonnx_agreement"]  # --json: one document
    assert met["qonnx_agreement"] >= 0.98 and met["qonnx_max_abs_diff"] < 1e-3 and met["qonnx_images"] == 50
    assert met["input_is_pixel"] is True
    from bitscale.nn import ir
    from bitscale.nn.data import test_set

    net = ir.load(tmp_path / "run")
    xs, ys = test_set(tmp_path / "run")
    assert np.array_equal(xs, x) and len(ys) == 50
    assert (tmp_path / "run" / "model.onnx").is_file()
    assert "golden_test_acc" in met and net.layers[0].pad == 2


@pytest.mark.parametrize("pe", [pytest.param(1, marks=pytest.mark.slow), 2, pytest.param(5, marks=pytest.mark.slow)])
def test_last_layer_bias_in_hardware(pe):
    """An IR last layer with an integer bias (imported signed activations, BNN-PYNQ w2a2): MVTU == golden."""
    from dataclasses import replace as dreplace

    from bitscale.hw import folding as fold
    from bitscale.hw.testbench import run_accelerator
    from bitscale.hw.top import Accelerator
    from bitscale.nn import ir
    from bitscale.nn.random_net import random_fc, random_inputs

    net = random_fc([6], 2, 2, num_classes=10, in_features=12, seed=pe)
    last = net.layers[-1]
    lo, hi = ir.acc_range(last)
    tensors = dict(net.tensors, **{f"{last.name}.bias": np.random.default_rng(pe).integers(lo, hi + 1, 10)})
    net = ir.QuantizedNetwork(net.layers[:-1] + (dreplace(last, bias=True),), tensors, 10)
    ir.validate(net)
    f = fold.Folding(tuple(fold.LayerFolding(l.name, pe if l is net.layers[-1] else 2, 2) for l in net.compute_layers))
    x = random_inputs(net.input_shape, 4, seed=1)
    got, _, _ = run_accelerator(Accelerator(net, f), x)
    np.testing.assert_array_equal(got, golden.run(net, x))


def _preset(model, w, a, scale, seed=0):
    from bitscale.nn.presets import ConvNet

    torch.manual_seed(seed)
    return _bn_stats(ConvNet(model, w, a, scale, 10, (32, 32, 3)), torch.rand(32, 3, 32, 32), steps=2)


@pytest.mark.slow
@pytest.mark.parametrize(
    "model,w,a,scale",
    [
        ("vgg", 1, 1, 1 / 32),
        ("vgg", 2, 2, 1 / 32),
        ("darknet", 1, 1, 1 / 16),
        ("darknet", 2, 2, 1 / 16),
        ("darknet", 4, 8, 1 / 16),
    ],
)
def test_vgg_darknet_round_trip(model, w, a, scale):
    """vgg / darknet presets (tiny widths, random weights) through QONNX: golden == Brevitas on 1000 images."""
    from bitscale.nn.presets import check_export, export

    m = _preset(model, w, a, scale)
    net = export(m, 10)
    kinds = {(l.kind, l.kernel, l.stride, l.pad) for l in net.layers}
    assert ("conv", 3, 1, 1) in kinds
    if model == "darknet":
        assert ("conv", 1, 1, 0) in kinds and ("maxpool", 3, 2, 0) in kinds
    res = check_export(m, net, _images((32, 32, 3)))
    assert res["golden_agreement"] == 1.0 and res["golden_logits_exact"] == 1.0, res
