"""DotProduct in Amaranth's simulator against a numpy dot product, bit-exact."""

import numpy as np
from amaranth.sim import Simulator
from hypothesis import given, settings, strategies as st

from bitscale.hw import inventory
from bitscale.hw.dotproduct import PAIR_MIN_ABITS, DotProduct, planes
from bitscale.hw.folding import iterations
from bitscale.hw.inventory import DSP_STAGES
from bitscale.hw.layout import encode, pack_lanes
from bitscale.nn.ir import Layer, act_range, weight_range


def _random(rng, simd, wbits, abits, narrow):
    wlo, whi = weight_range(wbits, narrow)
    alo, ahi = act_range(abits)
    if wbits == 1:
        w = rng.choice([-1, 1], size=simd)
    else:
        w = rng.integers(wlo, whi + 1, size=simd)
    if abits == 1:
        x = rng.choice([-1, 1], size=simd)
    else:
        x = rng.integers(alo, ahi + 1, size=simd)
    # extremes are where sign and width bugs hide
    if rng.random() < 0.3:
        w = np.full(simd, wlo if wbits > 1 else -1)
        x = np.full(simd, ahi)
    return w, x


def _simulate(dut, tb):
    """Run testbench ``tb`` on ``dut`` in Amaranth's simulator, clocked where the dot has registers."""
    sim = Simulator(dut)
    if dut.latency:
        sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()


def _run(dut, vectors):
    got = []

    async def tb(ctx):
        for w, x in vectors:
            ctx.set(dut.x, pack_lanes(x, dut.abits))
            total = 0
            for i in range(dut.wplanes):
                if dut.wplanes > 1:
                    codes = [encode(v, dut.wbits) for v in w]
                    ctx.set(dut.w, sum(((c >> i) & 1) << k for k, c in enumerate(codes)))
                else:
                    ctx.set(dut.w, pack_lanes(w, dut.wbits))
                ctx.set(dut.wplane, i)
                for j in range(dut.aplanes):
                    ctx.set(dut.xplane, j)
                    if dut.latency:
                        # the registers take this cycle's inputs at the clock edges (inputs held
                        # for ``latency`` edges, so one plane at a time)
                        ctx.set(dut.en, 1)
                        for _ in range(dut.latency):
                            await ctx.tick()
                    total += ctx.get(dut.y)
            got.append(total)

    _simulate(dut, tb)
    return got


def _stream(dut, vectors):
    """Parallel mode, ``en`` high: a new (w, x) every cycle; ``y`` read ``latency`` cycles after each went in."""
    got = []

    async def tb(ctx):
        ctx.set(dut.en, 1)
        for t in range(len(vectors) + dut.latency):
            if t < len(vectors):
                w, x = vectors[t]
                ctx.set(dut.x, pack_lanes(x, dut.abits))
                ctx.set(dut.w, pack_lanes(w, dut.wbits))
            if t >= dut.latency:
                got.append(ctx.get(dut.y))
            if dut.latency:
                await ctx.tick()

    _simulate(dut, tb)
    return got


@settings(max_examples=25, deadline=None)
@given(
    simd=st.sampled_from([5, 8, 9, 16, 17, 33, 49]),
    wbits=st.integers(2, 5),
    abits=st.integers(2, 8),
    mac=st.sampled_from(["lut", "dsp"]),
    cut_level=st.sampled_from([1, 2, 3]),
    seed=st.integers(0, 2**16),
)
def test_parallel_products_stream_at_their_latency(simd, wbits, abits, mac, cut_level, seed):
    """Integer x integer products, a new vector every cycle: each ``y`` is its vector's exact dot product
    ``latency`` cycles later (so ``latency`` counts every register: the tree cuts of either form, the pair
    form's pair register, the DSP product register)."""
    rng = np.random.default_rng(seed)
    vectors = [_random(rng, simd, wbits, abits, False) for _ in range(6)]
    want = [int(np.dot(w.astype(np.int64), x.astype(np.int64))) for w, x in vectors]
    dut = DotProduct(simd, wbits, abits, "parallel", mac, cut_level=cut_level)
    assert _stream(dut, vectors) == want


@settings(max_examples=60, deadline=None)
@given(
    simd=st.sampled_from([1, 2, 3, 4, 5, 8, 9, 16]),
    wbits=st.integers(1, 16),
    abits=st.integers(1, 16),
    mode=st.sampled_from(["parallel", "weight-serial", "bit-serial"]),
    narrow=st.booleans(),
    mac=st.sampled_from(["lut", "dsp"]),
    seed=st.integers(0, 2**16),
)
def test_dot_matches_numpy(simd, wbits, abits, mode, narrow, mac, seed):
    rng = np.random.default_rng(seed)
    dut = DotProduct(simd, wbits, abits, mode, mac)
    vectors = [_random(rng, simd, wbits, abits, narrow) for _ in range(4)]
    got = _run(dut, vectors)
    want = [int(np.dot(w.astype(np.int64), x.astype(np.int64))) for w, x in vectors]
    assert got == want


@settings(max_examples=30, deadline=None)
@given(
    simd=st.sampled_from([5, 8, 9, 16, 33]),
    wbits=st.integers(1, 4),
    abits=st.integers(1, 4),
    mode=st.sampled_from(["parallel", "weight-serial", "bit-serial"]),
    mac=st.sampled_from(["lut", "dsp"]),
    cut_level=st.sampled_from([1, 3]),
    seed=st.integers(0, 2**16),
)
def test_dot_with_other_cut_levels_matches_numpy(simd, wbits, abits, mode, mac, cut_level, seed):
    """iCE40's elaboration (hw/inventory.ICE40_CUT_LEVEL = 1: a register after every adder level): the same
    sums, ceil(log2 SIMD / cut_level) tree registers (+ 1 for the pair form's pair register)."""
    rng = np.random.default_rng(seed)
    dut = DotProduct(simd, wbits, abits, mode, mac, cut_level=cut_level)
    depth = int(np.ceil(np.log2(simd)))
    pair = mode == "parallel" and mac == "lut" and wbits > 1 and abits >= PAIR_MIN_ABITS
    assert dut.pair_form == pair
    assert dut.latency == -(-depth // cut_level) + int(pair) + DSP_STAGES * int(dut.product_reg) + int(dut.wplanes > 1)
    vectors = [_random(rng, simd, wbits, abits, False) for _ in range(3)]
    got = _run(dut, vectors)
    want = [int(np.dot(w.astype(np.int64), x.astype(np.int64))) for w, x in vectors]
    assert got == want


@given(
    wbits=st.integers(1, 16),
    abits=st.integers(1, 16),
    mode=st.sampled_from(["parallel", "weight-serial", "bit-serial"]),
)
def test_iterations_match_folding(wbits, abits, mode):
    layer = Layer("dense", "d", (4,), (2,), in_bits=abits, out_bits=0, wbits=wbits, act="none")
    wp, ap = planes(wbits, abits, mode)
    assert wp * ap == iterations(layer, mode)


def test_xnor_is_one_cycle():
    dut = DotProduct(8, 1, 1, "bit-serial")
    assert dut.iterations == 1
    w = np.array([1, -1, 1, 1, -1, -1, 1, -1])
    x = np.array([1, 1, -1, 1, -1, 1, 1, 1])
    assert _run(dut, [(w, x)]) == [int(w @ x)]


@settings(max_examples=30, deadline=None)
@given(
    simd=st.sampled_from([1, 3, 4, 5, 8]),
    wbits=st.integers(2, 8),
    abits=st.integers(2, 8),
    narrow=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_lut_and_dsp_products_agree(simd, wbits, abits, narrow, seed):
    """The integer x integer parallel case (the only one ``mac`` changes): both are exact; DSP
    products add DSP_STAGES registers (operands, product, product again, fabric), LUT products one in the
    pair form where the trees are cut (the pair register), else none."""
    rng = np.random.default_rng(seed)
    vectors = [_random(rng, simd, wbits, abits, narrow) for _ in range(3)]
    want = [int(np.dot(w.astype(np.int64), x.astype(np.int64))) for w, x in vectors]
    lut, dsp = DotProduct(simd, wbits, abits, "parallel", "lut"), DotProduct(simd, wbits, abits, "parallel", "dsp")
    pair = simd > inventory.PIPELINE_SIMD and abits >= PAIR_MIN_ABITS
    assert lut.pair_form == (abits >= PAIR_MIN_ABITS) and dsp.latency == lut.latency + DSP_STAGES - pair
    assert _run(lut, vectors) == want == _run(dsp, vectors)


@settings(max_examples=25, deadline=None)
@given(
    simd=st.sampled_from([1, 2, 3, 8, 9, 33]),
    wbits=st.integers(1, 5),
    abits=st.integers(2, 8),
    pair_min_abits=st.sampled_from([1, 99]),
    cut_level=st.sampled_from([1, 2, 3]),
    seed=st.integers(0, 2**16),
)
def test_pair_and_gated_selections_agree(simd, wbits, abits, pair_min_abits, cut_level, seed):
    """Parallel LUT products and bipolar-weight selections in either form (hw/dotproduct.pair_tree or
    AND-gated lanes, what bench/dot_forms.py compares): exact, streamed a vector a cycle at the latency
    the form declares: the pair form (integer weights) one register more where its trees are cut."""
    rng = np.random.default_rng(seed)
    vectors = [_random(rng, simd, wbits, abits, False) for _ in range(5)]
    want = [int(np.dot(w.astype(np.int64), x.astype(np.int64))) for w, x in vectors]
    dut = DotProduct(simd, wbits, abits, "parallel", "lut", cut_level=cut_level, pair_min_abits=pair_min_abits)
    assert dut.pair_form == (wbits > 1 and pair_min_abits == 1)
    pair = dut.pair_form and simd > inventory.PIPELINE_SIMD
    assert dut.latency == int(inventory.tree_cuts(simd, cut_level)) + pair
    assert _run(dut, vectors) == want
    assert _stream(dut, vectors) == want
