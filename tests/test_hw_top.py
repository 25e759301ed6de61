"""The whole accelerator in Amaranth's simulator: outputs equal nn/golden.run on every frame."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from bitscale.hw.folding import Folding, LayerFolding, default_folding, layer_cycles
from bitscale.hw.testbench import run_accelerator
from bitscale.hw.top import Accelerator
from bitscale.nn import golden
from bitscale.nn.random_net import random_cnv, random_fc, random_inputs


def _check(net, folding, n=4, acc_kw=None, **kw):
    acc = Accelerator(net, folding, **(acc_kw or {}))
    x = random_inputs(net.input_shape, n, seed=3)
    got, cycles, lasts = run_accelerator(acc, x, **kw)
    np.testing.assert_array_equal(got, golden.run(net, x))
    beats = acc.frame.output.beats
    assert lasts == ([False] * (beats - 1) + [True]) * n
    return acc, cycles


@pytest.mark.parametrize(
    "wbits,abits,mode",
    [
        (1, 1, "parallel"),
        (2, 2, "parallel"),
        (4, 4, "weight-serial"),
        (3, 2, "bit-serial"),
        (1, 4, "bit-serial"),
        (8, 8, "parallel"),
        (2, 1, "weight-serial"),
    ],
)
def test_fc_matches_golden(wbits, abits, mode):
    net = random_fc([16, 12], wbits, abits, num_classes=10, in_features=24, seed=wbits * 7 + abits)
    _check(net, default_folding(net, mode=mode, max_pe=4, max_simd=8), in_gap=0.2, out_stall=0.2)


def test_fc_odd_folding_and_throughput():
    """PE/SIMD ratios that need lcm width conversion; steady-state frame period = the slowest layer."""
    net = random_fc([12, 6], 2, 2, num_classes=4, in_features=18, seed=1)
    f = Folding(
        (
            LayerFolding("dense0", 3, 6, "parallel"),
            LayerFolding("dense1", 2, 4, "bit-serial"),
            LayerFolding("dense2", 2, 3, "weight-serial"),
        )
    )
    acc, cycles = _check(net, f, n=6)
    beats = acc.frame.output.beats
    ends = cycles[beats - 1 :: beats]
    model = max(layer_cycles(l, f[l.name]) for l in net.compute_layers)
    assert max(np.diff(ends[2:])) == model


def test_ice40_cut_level_keeps_outputs_and_frame_period():
    """The board flow's iCE40 core (boards/build.core_verilog: lut_ram=False, a register after every adder
    level, hw/inventory.ICE40_CUT_LEVEL): golden outputs, more latency, the frame period of the model."""
    from bitscale.hw.inventory import ICE40_CUT_LEVEL

    net = random_fc([16, 16], 2, 2, num_classes=10, in_features=64, seed=4)
    f = Folding(tuple(LayerFolding(l.name, 2, 8, "bit-serial") for l in net.compute_layers))
    kw = {"lut_ram": False, "cut_level": ICE40_CUT_LEVEL}
    acc, cycles = _check(net, f, n=5, acc_kw=kw)
    assert [m.dot_latency for m in acc.mvtus] == [4, 4, 4]  # 3 tree registers + the plane shift
    beats = acc.frame.output.beats
    ends = cycles[beats - 1 :: beats]
    model = max(layer_cycles(l, f[l.name]) for l in net.compute_layers)
    assert max(np.diff(ends[2:])) == model
    _, base = _check(net, f, n=5, acc_kw={"lut_ram": False})
    assert cycles[0] > base[0]  # SIMD 8: 3 tree registers instead of 2 per dot product


@pytest.mark.parametrize("wbits,abits,mode", [(1, 1, "parallel"), (2, 2, "bit-serial"), (4, 3, "weight-serial")])
def test_cnv_matches_golden(wbits, abits, mode):
    net = random_cnv((8, 8, 2), [4, "P", 4], [8], wbits, abits, num_classes=3, seed=wbits)
    _check(net, default_folding(net, mode=mode, max_pe=2, max_simd=2), n=2, in_gap=0.1, out_stall=0.1)


def test_cnv_middle_conv_bottleneck_has_no_bubbles():
    """The second conv is the slowest layer: its sliding window must never starve it across frames."""
    net = random_cnv((8, 8, 2), [4, 4], [8], 2, 2, num_classes=3, seed=1)
    f = Folding(
        (
            LayerFolding("conv0", 4, 2),
            LayerFolding("conv1", 1, 1),
            LayerFolding("dense3", 8, 4),
            LayerFolding("dense4", 3, 8),
        )
    )
    acc, cycles = _check(net, f, n=4)
    beats = acc.frame.output.beats
    ends = cycles[beats - 1 :: beats]
    assert list(np.diff(ends)) == [layer_cycles(net.layers[1], f["conv1"])] * 3 == [2304] * 3


def _divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


@st.composite
def _fc_case(draw):
    widths = draw(st.lists(st.sampled_from([4, 6, 8, 12]), min_size=1, max_size=2))
    n = len(widths) + 1
    wbits = draw(st.lists(st.integers(1, 16), min_size=n, max_size=n))
    abits = draw(st.lists(st.integers(1, 16), min_size=n - 1, max_size=n - 1))
    net = random_fc(
        widths,
        wbits,
        abits,
        num_classes=draw(st.sampled_from([2, 3, 4])),
        in_features=12,
        seed=draw(st.integers(0, 1000)),
        narrow=draw(st.booleans()),
    )
    layers = []
    for l in net.compute_layers:
        layers.append(
            LayerFolding(
                l.name,
                draw(st.sampled_from(_divisors(l.mh))),
                draw(st.sampled_from(_divisors(l.mw))),
                draw(st.sampled_from(["parallel", "weight-serial", "bit-serial"])),
            )
        )
    return net, Folding(tuple(layers))


@settings(max_examples=12, deadline=None)
@given(case=_fc_case(), gaps=st.booleans())
def test_random_fc_accelerators(case, gaps):
    net, folding = case
    _check(net, folding, n=2, in_gap=0.3 if gaps else 0, out_stall=0.3 if gaps else 0)


@settings(max_examples=5, deadline=None)
@given(
    seed=st.integers(0, 1000),
    wbits=st.integers(1, 6),
    abits=st.integers(1, 6),
    mode=st.sampled_from(["parallel", "weight-serial", "bit-serial"]),
    pe=st.sampled_from([1, 2, 4]),
    simd=st.sampled_from([1, 2, 4]),
)
def test_random_cnv_accelerators(seed, wbits, abits, mode, pe, simd):
    net = random_cnv((8, 8, 2), [4, "P", 4], [4], wbits, abits, num_classes=2, seed=seed)
    f = default_folding(net, mode=mode, max_pe=pe, max_simd=simd)
    # the first conv (8-bit input) stays parallel: bit-serial there is 8*w times slower to simulate
    f = Folding((replace(f.layers[0], mode="parallel"),) + f.layers[1:])
    _check(net, f, n=2, in_gap=0.2, out_stall=0.2)
