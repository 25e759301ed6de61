"""Generator blocks as Verilog on real simulators (cocotb): MVTU (dot products in every
mode), sliding window and max-pool, against nn/golden.py, with and without random
input gaps / output backpressure, and their steady-state cycle counts (no bubbles).

Most points run on Icarus (builds in well under a second); one MVTU point also runs
on Verilator. The whole accelerator is in test_sim_accelerator.py.
"""

import numpy as np
import pytest

from bitscale.hw.folding import LayerFolding, layer_cycles
from bitscale.hw.layout import pack_lanes
from bitscale.hw.maxpool import MaxPool
from bitscale.hw.mvtu import MVTU
from bitscale.hw.swg import SlidingWindow
from bitscale.nn import golden
from bitscale.nn.random_net import random_fc, random_inputs
from bitscale.sim import runner
from bitscale.sim.blocks import simulate_block

CACHE = runner.default_cache_dir()


# cocotb on Icarus (one test on Verilator); -O0 Verilator builds: these sims are short
pytestmark = [pytest.mark.icarus, pytest.mark.usefixtures("verilator_o0")]


QUIET = dict(cache_dir=CACHE, log=lambda *a: None)


def words(values, lanes, bits):
    """A flat sequence of element values -> words of ``lanes`` elements (hw/layout encoding)."""
    v = [int(e) for e in np.asarray(values).reshape(-1)]
    assert len(v) % lanes == 0
    return [pack_lanes(v[i : i + lanes], bits) for i in range(0, len(v), lanes)]


def steady(cycles):
    d = np.diff(cycles)
    return d[1:] if len(d) > 1 else d


# (mode, wbits, abits, pe, simd, layer index in random_fc([24, 12]): 1 = thresholds/requant, 2 = raw acc)
MVTU_POINTS = [
    ("parallel", 4, 4, 4, 6, 1),
    ("bit-serial", 2, 3, 2, 4, 2),
    ("weight-serial", 3, 2, 3, 8, 1),
    ("parallel", 1, 1, 6, 12, 1),  # XNOR-popcount, bipolar in and out
    ("weight-serial", 2, 6, 4, 3, 1),  # 6-bit activations: multiply-shift requantizer
    ("bit-serial", 1, 2, 5, 6, 2),  # bipolar weights x unsigned activations, raw out
]


def mvtu_case(mode, wbits, abits, pe, simd, idx, n=6, seed=0):
    net = random_fc([24, 12], wbits, abits, num_classes=10, in_features=16, seed=seed)
    layer = net.layers[idx]
    lf = LayerFolding(layer.name, pe, simd, mode)
    dut = MVTU(net, layer, lf)
    acts = golden.run_all(net, random_inputs((16,), n, seed=seed + 1))
    x, y = acts[idx - 1], acts[idx]
    frames = [words(v, simd, layer.in_bits) for v in x]
    expected = [words(v, pe, dut.out_bits) for v in y]
    return dut, layer, lf, frames, expected


@pytest.mark.parametrize("point", MVTU_POINTS, ids=lambda p: f"{p[0]}-w{p[1]}a{p[2]}-pe{p[3]}-simd{p[4]}-L{p[5]}")
def test_mvtu_icarus(point):
    dut, layer, lf, frames, expected = mvtu_case(*point)
    nf = layer.mh // lf.pe
    res = simulate_block(dut, frames, expected, nf, simulator="icarus", name="mvtu", **QUIET)
    assert res["passed"], res["errors"]
    # back-to-back vectors: exactly (MH/PE)(MW/SIMD)*iters cycles apart
    assert list(steady(res["out_last_cycles"])) == [layer_cycles(layer, lf)] * (len(frames) - 2)
    res = simulate_block(
        dut, frames, expected, nf, simulator="icarus", name="mvtu", gaps=0.4, backpressure=0.5, seed=3, **QUIET
    )
    assert res["passed"], res["errors"]


@pytest.mark.verilator
def test_mvtu_verilator():
    dut, layer, lf, frames, expected = mvtu_case(*MVTU_POINTS[0], n=8)
    nf = layer.mh // lf.pe
    res = simulate_block(dut, frames, expected, nf, simulator="verilator", name="mvtu", **QUIET)
    assert res["passed"], res["errors"]
    assert list(steady(res["out_last_cycles"])) == [layer_cycles(layer, lf)] * (len(frames) - 2)
    res = simulate_block(
        dut, frames, expected, nf, simulator="verilator", name="mvtu", gaps=0.3, backpressure=0.6, seed=7, **QUIET
    )
    assert res["passed"], res["errors"]


def test_mvtu_mismatch_is_reported():
    """The block checker is not vacuous: a wrong expectation fails."""
    dut, layer, lf, frames, expected = mvtu_case(*MVTU_POINTS[1], n=2)
    expected[1][0] ^= 1
    res = simulate_block(dut, frames, expected, layer.mh // lf.pe, simulator="icarus", name="mvtu", **QUIET)
    assert not res["passed"] and res["matches"] == [True, False]


def random_map(rng, shape, bits, n):
    if bits == 1:
        return rng.choice([-1, 1], size=(n, *shape))
    return rng.integers(0, 1 << bits, size=(n, *shape))


@pytest.mark.parametrize("shape,k,simd,bits", [((6, 6, 4), 3, 2, 2), ((5, 7, 2), 3, 1, 1), ((4, 5, 6), 2, 3, 4)])
def test_sliding_window_icarus(shape, k, simd, bits):
    rng = np.random.default_rng(sum(shape) + k)
    x = random_map(rng, shape, bits, 4)
    dut = SlidingWindow(shape, k, simd, bits)
    cols = golden.im2col(x, k)
    frames = [words(m, simd, bits) for m in x]
    expected = [words(c, simd, bits) for c in cols]
    out_words = len(expected[0])
    res = simulate_block(dut, frames, expected, out_words, simulator="icarus", name="swg", **QUIET)
    assert res["passed"], res["errors"]
    # the window is the slower side: one output word every cycle, frame after frame
    assert list(steady(res["out_last_cycles"])) == [out_words] * (len(frames) - 2)
    res = simulate_block(
        dut, frames, expected, out_words, simulator="icarus", name="swg", gaps=0.5, backpressure=0.5, seed=1, **QUIET
    )
    assert res["passed"], res["errors"]


@pytest.mark.parametrize("shape,lanes,bits", [((6, 6, 4), 2, 3), ((5, 5, 2), 1, 1), ((4, 6, 3), 3, 2)])
def test_maxpool_icarus(shape, lanes, bits):
    rng = np.random.default_rng(sum(shape) + lanes)
    x = random_map(rng, shape, bits, 4)
    dut = MaxPool(shape, 2, 2, lanes, bits)
    frames = [words(m, lanes, bits) for m in x]
    expected = [words(m, lanes, bits) for m in golden.maxpool(x, 2, 2)]
    res = simulate_block(dut, frames, expected, len(expected[0]), simulator="icarus", name="maxpool", **QUIET)
    assert res["passed"], res["errors"]
    # one input word a cycle: H*W*C/lanes cycles per frame
    assert list(steady(res["out_last_cycles"])) == [len(frames[0])] * (len(frames) - 2)
    res = simulate_block(
        dut,
        frames,
        expected,
        len(expected[0]),
        simulator="icarus",
        name="maxpool",
        gaps=0.4,
        backpressure=0.6,
        seed=2,
        **QUIET,
    )
    assert res["passed"], res["errors"]
