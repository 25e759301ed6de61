"""Sliding window with stride and padding, max-pool with kernel != stride: bit-exact in Amaranth's simulator."""

import numpy as np
import pytest
from bitscale.hw import folding as fold
from bitscale.hw.maxpool import WindowMax
from bitscale.hw.swg import SlidingWindow
from bitscale.hw.testbench import run_accelerator, run_stream
from bitscale.hw.top import Accelerator
from bitscale.nn import golden
from bitscale.nn.random_net import random_cnv, random_inputs
from hypothesis import given, settings
from hypothesis import strategies as st


from test_hw_conv import _unwords, _values, _words  # noqa: E402  (shared stream helpers)


def _check_swg(h, w, cf, simd, k, s, same, bits, frames, gaps, seed):
    rng = np.random.default_rng(seed)
    c = cf * simd
    pad = k // 2 if same else 0
    if k > min(h, w) + 2 * pad:
        return
    x = _values(rng, (frames, h, w, c), bits)
    want = golden.im2col(x, k, s, pad, golden.pad_value(bits)).reshape(-1)
    n_out = len(want) // simd
    dut = SlidingWindow((h, w, c), k, simd, bits, stride=s, pad=pad)
    got, _ = run_stream(
        dut, _words(x, simd, bits), n_out, in_gap=0.3 if gaps else 0, out_stall=0.3 if gaps else 0, seed=seed
    )
    np.testing.assert_array_equal(_unwords(got, simd, bits), want)


SWG_SPACE = dict(
    h=st.integers(3, 6),
    w=st.integers(3, 6),
    cf=st.integers(1, 2),
    simd=st.sampled_from([1, 2]),
    k=st.sampled_from([1, 3, 5]),
    s=st.sampled_from([1, 2]),
    same=st.booleans(),
    bits=st.sampled_from([1, 2, 3, 8]),
    frames=st.integers(1, 2),
    gaps=st.booleans(),
    seed=st.integers(0, 2**16),
)


@settings(max_examples=12, deadline=None)
@given(**SWG_SPACE)
def test_swg_stride_pad_is_im2col(**kw):
    _check_swg(**kw)


@pytest.mark.slow
@settings(max_examples=120, deadline=None)
@given(**SWG_SPACE)
def test_swg_stride_pad_is_im2col_many(**kw):
    _check_swg(**kw)


@pytest.mark.parametrize("k,s,same", [(k, s, same) for k in (1, 3, 5) for s in (1, 2) for same in (False, True)])
def test_swg_every_kernel_stride_pad(k, s, same):
    """The full kernel x stride x padding grid once each (bipolar, so padding is -1)."""
    _check_swg(6, 7, 2, 1, k, s, same, 1, 2, False, k * 7 + s)


def test_swg_stride2_pad_streams_without_bubbles():
    """Downstream always ready: after the first frame's rows, one window word per cycle."""
    h = w = 8
    x = _values(np.random.default_rng(0), (3, h, w, 2), 2)
    want = golden.im2col(x, 3, 2, 1, 0).reshape(-1)
    dut = SlidingWindow((h, w, 2), 3, 2, 2, stride=2, pad=1)
    assert dut.out_words >= dut.in_words
    got, cycles = run_stream(dut, _words(x, 2, 2), len(want) // 2)
    np.testing.assert_array_equal(_unwords(got, 2, 2), want)
    per_frame = len(want) // 2 // 3
    assert (np.diff(cycles[per_frame:]) == 1).mean() > 0.95


@settings(max_examples=10, deadline=None)
@given(
    h=st.integers(3, 7),
    w=st.integers(3, 7),
    cf=st.integers(1, 2),
    lanes=st.sampled_from([1, 2]),
    ks=st.sampled_from([(2, 1), (3, 2), (3, 1)]),
    bits=st.sampled_from([1, 2, 5]),
    gaps=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_window_max_is_maxpool(h, w, cf, lanes, ks, bits, gaps, seed):
    k, s = ks
    rng = np.random.default_rng(seed)
    c = cf * lanes
    x = _values(rng, (2, h, w, c), bits)
    want = golden.maxpool(x, k, s).reshape(-1)
    from amaranth.hdl import Module
    from amaranth.lib import stream, wiring

    class Chain(wiring.Component):
        def __init__(self):
            self.swg = SlidingWindow((h, w, c), k, lanes, bits, stride=s)
            self.mx = WindowMax(k, c, lanes, bits)
            super().__init__(
                {"inp": wiring.In(stream.Signature(lanes * bits)), "out": wiring.Out(stream.Signature(lanes * bits))}
            )

        def elaborate(self, platform):
            m = Module()
            m.submodules.swg, m.submodules.mx = self.swg, self.mx
            wiring.connect(m, self.swg.out, self.mx.inp)
            wiring.connect(m, wiring.flipped(self.inp), self.swg.inp)
            wiring.connect(m, self.mx.out, wiring.flipped(self.out))
            return m

    got, _ = run_stream(
        Chain(),
        _words(x, lanes, bits),
        len(want) // lanes,
        in_gap=0.3 if gaps else 0,
        out_stall=0.3 if gaps else 0,
        seed=seed,
    )
    np.testing.assert_array_equal(_unwords(got, lanes, bits), want)


def _mixed(wbits, abits, seed=0):
    convs = [("conv", 4, 5, 1, 2), ("conv", 4, 3, 2, 1), ("pool", 3, 2), ("conv", 6, 1, 1, 0), ("pool", 2, 1)]
    return random_cnv((10, 10, 3), convs, [8], wbits, abits, num_classes=5, seed=seed)


@pytest.mark.slow
def _golden_exact_period(net, f):
    """Three frames through the accelerator (Amaranth sim): outputs == golden; the steady-state frame period."""
    acc = Accelerator(net, f)
    x = random_inputs(net.input_shape, 3, seed=5)
    got, cycles, _ = run_accelerator(acc, x)
    np.testing.assert_array_equal(got, golden.run(net, x))
    beats = acc.frame.output.beats
    return cycles[2 * beats] - cycles[beats]


@pytest.mark.slow  # 50-65 s each on the loaded 2-core machine (fast tier, #17)
@pytest.mark.parametrize("wbits,abits", [(1, 1), (2, 2)])
def test_accelerator_mixed_layers_bit_exact(wbits, abits):
    """5x5 same, 3x3 stride-2 same, 3x3/2 pool, 1x1 conv, 2x2/1 pool: the accelerator == golden,
    and frames come out every model-cycles once the pipeline is full."""
    net = _mixed(wbits, abits, seed=wbits)
    f = fold.default_folding(net, max_pe=2, max_simd=3)
    assert _golden_exact_period(net, f) == fold.network_cycles(net, f)


@pytest.mark.parametrize(
    "convs,bound",
    [
        ([("conv", 4, 1, 1, 0), ("pool", 3, 1)], "pool"),  # 3x3/1 pool emits 9x the words it takes
        pytest.param([("conv", 4, 1, 2, 0), ("pool", 2, 1)], "input", marks=pytest.mark.slow),  # 1x1 stride 2
        pytest.param([("conv", 4, 3, 2, 1)], "mvtu", marks=pytest.mark.slow),
    ],
)
def test_cycles_measured_equal_model(convs, bound):
    """Frame period in steady state == fold.network_cycles, whichever stage bounds it."""
    net = random_cnv((8, 8, 3), convs, [], 2, 2, num_classes=3, seed=1)
    f = fold.default_folding(net, max_pe=4, max_simd=3)
    model = fold.network_cycles(net, f)
    assert _golden_exact_period(net, f) == model
    conv = net.compute_layers[0]
    mvtu = (conv.mh // f[conv.name].pe) * (conv.mw // f[conv.name].simd) * conv.out_pixels
    assert (model > mvtu) == (bound != "mvtu")


@pytest.mark.parametrize(
    "convs",
    [
        [("conv", 4, 1, 1, 0), ("pool", 3, 1)],
        [("conv", 4, 1, 2, 0), ("pool", 2, 1)],
        [("conv", 4, 5, 1, 2), ("conv", 4, 3, 2, 1), ("pool", 3, 2)],
    ],
)
def test_cost_model_cycles_and_window_memories_match_hw(convs):
    """estimate's cycles == fold.network_cycles; its window-buffer depths == the generated SWGs'."""
    from bitscale.cost_model.model import estimate
    from bitscale.hw.generate import describe

    net = random_cnv((8, 8, 3), convs, [], 2, 2, num_classes=3, seed=1)
    f = fold.default_folding(net, max_pe=4, max_simd=3)
    est = estimate(net, f, "pynq-z1")
    assert est.cycles == fold.network_cycles(net, f)
    design = describe(Accelerator(net, f))
    hw_depths = sorted(d["window_buffer"]["depth"] for d in design["layers"] if d.get("window_buffer"))
    model_depths = sorted(m.depth for l in est.layers for m in l.memories if m.name.endswith("swg"))
    assert hw_depths == model_depths
