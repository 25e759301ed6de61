"""The cost model, auto-folding and the mixed-precision search on the vgg / darknet presets (same-padded 3x3,
1x1, pools with kernel != stride, global pooling) use hw's one cycle rule: per layer and per candidate folding,
cycles == hw/folding.layer_cycles (and the max-pool stage behind the layer, hw/folding.pool_cycles)."""

from dataclasses import replace
from functools import lru_cache

import numpy as np
import pytest

from bitscale.boards import get as get_board
from bitscale.cost_model import model
from bitscale.cost_model.autofold import _Table, auto_fold
from bitscale.cost_model.search import CostTable
from bitscale.hw import folding as fold
from bitscale.nn.random_net import random_preset

MODEL_SCALE = {"vgg": 1 / 8, "darknet": 1 / 8}


@lru_cache(maxsize=None)
def _preset(name, w, a, scale=None):
    from bitscale.nn.presets import spec

    return random_preset(spec(name, scale or MODEL_SCALE[name]), (32, 32, 3), w, a, num_classes=10, seed=1)


def _hw_cycles(net, layer, pe, simd, mode):
    """hw's cycles of one compute layer at (pe, simd, mode), with the max-pool stage it feeds (hw/top.py's
    chain: a pool takes the producing layer's PE lanes)."""
    c = fold.layer_cycles(layer, fold.LayerFolding(layer.name, int(pe), int(simd), fold.MODES[int(mode)]))
    names = [l.name for l in net.layers]
    after = net.layers[names.index(layer.name) + 1 :]
    for nxt in after:
        if nxt.is_compute:
            break
        if nxt.kind == "maxpool":
            lanes = int(pe) if nxt.in_shape[2] % int(pe) == 0 else int(np.gcd(nxt.in_shape[2], int(pe)))
            c = max(c, fold.pool_cycles(nxt, lanes))
            break
    return c


VGG_SLOW = pytest.param("vgg", marks=pytest.mark.slow)  # vgg: 13 convs, ~5-9 s per test on the shared machine


@pytest.mark.parametrize("name", [VGG_SLOW, "darknet"])
def test_presets_have_the_new_layers(name):
    net = _preset(name, 2, 2)
    kinds = {(l.kind, l.kernel, l.stride, l.pad) for l in net.layers}
    assert ("conv", 3, 1, 1) in kinds and ("maxpool", 2, 2, 0) in kinds
    if name == "darknet":
        assert ("conv", 1, 1, 0) in kinds and ("maxpool", 3, 2, 0) in kinds


@pytest.mark.parametrize(
    "name,w,a", [pytest.param("vgg", 2, 2, marks=pytest.mark.slow), ("darknet", 1, 1), ("darknet", 4, 8)]
)
def test_every_candidate_folding_costs_hw_cycles(name, w, a):
    """Auto-folding's candidate table (all legal PE x SIMD x mode x MAC): cycles == hw's, every layer."""
    net = _preset(name, w, a)
    coef = model.coefficients("xc7")
    n = 0
    for info, layer in zip(model.layer_infos(net), net.compute_layers):
        t = _Table(info, "xc7", coef, fold.MODES)
        want = [_hw_cycles(net, layer, p, s, m) for p, s, m in zip(t.pe, t.simd, t.mode)]
        assert t.cycles.tolist() == want, layer.name
        n += len(want)
    assert n > 100


@pytest.mark.parametrize("name", [VGG_SLOW, "darknet"])
def test_search_costs_hw_cycles_at_every_bit_width(name):
    """The ILP's cost table (cost_model/search.py) at every (w, a_in, a_out): each option's cycles equal hw's
    for the layer at those bits (serial modes' planes depend on them)."""
    net = _preset(name, 2, 2)
    ct = CostTable(net, get_board("pynq-z1"), 2000.0, (1, 2, 4), (2, 4, 8))
    checked = 0
    for (li, w, a, ao), opts in ct.cost.items():
        layer = replace(net.compute_layers[li], wbits=w, in_bits=a)
        for o in opts:
            assert o["cycles"] == _hw_cycles(net, layer, o["pe"], o["simd"], fold.MODES.index(o["mode"])), (
                layer.name,
                w,
                a,
                ao,
                o,
            )
            assert o["cycles"] <= ct.budget_cycles
            checked += 1
    assert checked > 50


@pytest.mark.parametrize("name", [VGG_SLOW, "darknet"])
def test_estimate_and_auto_fold_cycles_equal_network_cycles(name):
    """estimate(): per-layer cycles == hw's, total == fold.network_cycles, at auto-folding's pick and at the
    default folding; auto-folding's pick reaches its FPS by hw's count."""
    net = _preset(name, 2, 2)
    for f in (fold.default_folding(net), auto_fold(net, "pynq-z1", 2000.0)):
        est = model.estimate(net, f, "pynq-z1")
        for le, layer in zip(est.layers, net.compute_layers):
            lf = f[layer.name]
            assert le.cycles == _hw_cycles(net, layer, lf.pe, lf.simd, fold.MODES.index(lf.mode)), layer.name
        assert est.cycles == fold.network_cycles(net, f)
    assert fold.network_cycles(net, f) <= get_board("pynq-z1").clock_mhz * 1e6 // 2000


@pytest.mark.slow
@pytest.mark.parametrize("name,scale", [("vgg", 1 / 32), ("darknet", 1 / 16)])
def test_template_matches_the_exported_preset(name, scale):
    """random_preset (the search's template for a float run) has the layer shapes of the Brevitas preset exported
    through QONNX and imported (nn/presets.export)."""
    import torch

    from bitscale.nn.presets import ConvNet, export

    torch.manual_seed(0)
    got = export(ConvNet(name, 2, 2, scale, 10, (32, 32, 3)).eval(), 10)
    tmpl = _preset(name, 2, 2, scale)
    sig = lambda n: [(l.kind, l.in_shape, l.out_shape, l.kernel, l.stride, l.pad) for l in n.layers]  # noqa: E731
    assert sig(tmpl) == sig(got)


def test_mixed_template_of_a_float_preset_run(tmp_path):
    """bitscale search on a float vgg/darknet run costs the preset's own topology (not a cnv stand-in)."""
    from bitscale.mixed import template_net
    from bitscale.nn.train import TrainConfig

    cfg = TrainConfig(model="darknet", wbits=0, abits=0, scale=1 / 8, dataset="fashion-mnist")
    net = template_net(tmp_path, cfg)
    assert [l.name for l in net.layers] == [l.name for l in _preset("darknet", 2, 2).layers]
    assert any(l.kind == "conv" and l.pad == 1 for l in net.layers)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["vgg", "darknet"])
def test_window_memories_match_the_generated_design(name):
    """The cost model's sliding-window rings (convs with padding, pools with kernel != stride) have the depths of
    the generator's (hw/generate.describe of the elaborated Accelerator), and its per-layer cycles hw's."""
    from bitscale.hw.generate import describe
    from bitscale.hw.top import Accelerator

    net = _preset(name, 2, 2)
    f = fold.default_folding(net)
    est = model.estimate(net, f, "pynq-z1")
    design = describe(Accelerator(net, f))
    hw = sorted(d["window_buffer"]["depth"] for d in design["layers"] if d.get("window_buffer"))
    assert hw == sorted(m.depth for l in est.layers for m in l.memories if m.name.endswith("swg"))
    for d in design["layers"]:
        if d["kind"] in ("conv", "dense"):
            assert d["cycles_per_frame"] == fold.layer_cycles(
                next(l for l in net.layers if l.name == d["name"]), f[d["name"]]
            )
