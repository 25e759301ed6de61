"""MVTU in Amaranth's simulator against nn/golden.py, bit-exact, plus its bubble-free schedule."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from bitscale.hw.folding import LayerFolding, layer_cycles
from bitscale.hw.layout import pack_lanes, unpack_lanes
from bitscale.hw.mvtu import MVTU
from bitscale.hw.testbench import run_stream
from bitscale.nn import golden, ir

MODES = ["parallel", "weight-serial", "bit-serial"]


def make_layer(rng, mh, mw, wbits, in_bits, out_bits, narrow=True, act=None):
    """A one-layer network with random weights and thresholds/requant fitted to random inputs."""
    if act is None:
        act = "none" if out_bits == 0 else ("thresholds" if out_bits <= ir.THRESHOLD_MAX_BITS else "requant")
    layer = ir.Layer(
        "dense", "d", (mw,), (mh,), in_bits=in_bits, out_bits=out_bits, wbits=wbits, narrow=narrow, act=act
    )
    lo, hi = ir.weight_range(wbits, narrow)
    w = rng.choice([-1, 1], size=(mh, mw)) if wbits == 1 else rng.integers(lo, hi + 1, size=(mh, mw))
    tensors = {"d.weight": w.astype(np.int64)}
    x = random_acts(rng, 32, mw, in_bits)
    acc = x @ w.T
    shift = 0
    if act == "thresholds":
        n = 1 if out_bits == 1 else (1 << out_bits) - 1
        t = np.quantile(acc, np.linspace(0.05, 0.95, n), axis=0).T.round().astype(np.int64)
        tensors["d.thresholds"] = np.sort(t + rng.integers(-1, 2, size=t.shape), axis=1)
    elif act == "requant":
        shift = int(rng.integers(0, 8))
        tensors["d.requant_mul"] = rng.integers(0, 1 << 6, size=mh)
        tensors["d.requant_add"] = rng.integers(-(1 << 10), 1 << 10, size=mh)
    layer = ir.replace(layer, requant_shift=shift)
    return ir.QuantizedNetwork((layer,), tensors, 2), layer


def random_acts(rng, n, mw, bits):
    if bits == 1:
        return rng.choice([-1, 1], size=(n, mw))
    return rng.integers(0, 1 << bits, size=(n, mw))


def simulate_mvtu(net, layer, lf, x, **kw):
    dut = MVTU(net, layer, lf)
    words = [
        pack_lanes(v[s * lf.simd : (s + 1) * lf.simd], layer.in_bits) for v in x for s in range(layer.mw // lf.simd)
    ]
    nf = layer.mh // lf.pe
    got, cycles = run_stream(dut, words, len(x) * nf, **kw)
    ob, signed = (dut.out_bits, True) if dut.raw else (layer.out_bits, False)
    out = [unpack_lanes(wd, lf.pe, ob, signed) for wd in got]
    return np.array(out, dtype=np.int64).reshape(len(x), layer.mh), cycles, dut


@settings(max_examples=40, deadline=None)
@given(
    wbits=st.integers(1, 16),
    in_bits=st.integers(1, 16),
    out_bits=st.sampled_from([0, 1, 2, 3, 4, 6, 8]),
    mode=st.sampled_from(MODES),
    pe=st.sampled_from([1, 2, 4]),
    nf=st.integers(1, 3),
    simd=st.sampled_from([1, 2, 3, 5, 8]),
    sf=st.integers(1, 3),
    narrow=st.booleans(),
    gaps=st.booleans(),
    mac=st.sampled_from(["lut", "dsp"]),
    seed=st.integers(0, 2**16),
)
def test_mvtu_matches_golden(wbits, in_bits, out_bits, mode, pe, nf, simd, sf, narrow, gaps, mac, seed):
    rng = np.random.default_rng(seed)
    mh, mw = pe * nf, simd * sf
    if out_bits == 1 or wbits * in_bits > 64:
        pass
    net, layer = make_layer(rng, mh, mw, wbits, in_bits, out_bits, narrow)
    x = random_acts(rng, 3, mw, in_bits)
    got, _, _ = simulate_mvtu(
        net,
        layer,
        LayerFolding("d", pe, simd, mode, mac),
        x,
        in_gap=0.3 if gaps else 0.0,
        out_stall=0.3 if gaps else 0.0,
        seed=seed,
    )
    want = golden.run_layer(net, layer, x)
    np.testing.assert_array_equal(got, want)


def _case(mode, wbits, in_bits, pe, simd, mac="dsp", sf=2):
    return mode, wbits, in_bits, pe, simd, mac, sf


@pytest.mark.parametrize(
    "mode,wbits,in_bits,pe,simd,mac,sf",
    [
        _case(*t)
        for t in [
            ("parallel", 4, 4, 2, 4),
            ("weight-serial", 3, 2, 1, 2),
            ("bit-serial", 2, 3, 2, 1),
            ("parallel", 1, 1, 4, 1),
            ("parallel", 2, 2, 1, 8),
            ("bit-serial", 3, 2, 2, 8),
            ("weight-serial", 1, 4, 1, 16),
            ("bit-serial", 1, 3, 2, 8),
            ("bit-serial", 4, 1, 1, 8),
            ("weight-serial", 3, 4, 2, 8),
            ("parallel", 1, 1, 2, 8),
            ("parallel", 1, 5, 2, 8),
            ("parallel", 5, 1, 2, 8),
            ("parallel", 16, 16, 1, 8),
            ("parallel", 2, 2, 2, 8, "lut"),
            ("parallel", 4, 4, 2, 4, "lut"),
            ("parallel", 3, 5, 1, 3, "lut"),
            ("parallel", 4, 4, 2, 4, "dsp", 1),
            ("parallel", 2, 6, 2, 4, "dsp", 1),
            ("parallel", 1, 1, 2, 8, "lut", 1),
            # the pair form's register (hw/inventory.pair_registers): 4-bit weights x 4-bit, 2 x 8-bit lanes
            ("parallel", 4, 4, 2, 8, "lut"),
            ("parallel", 2, 8, 2, 16, "lut", 1),
        ]
    ],
)
def test_mvtu_has_no_bubbles(mode, wbits, in_bits, pe, simd, mac, sf):
    """Steady state: one output vector every (MH/PE)(MW/SIMD)*iters cycles, exactly (either MAC resource;
    sf = 1: one output word a cycle, the output queue at its deepest)."""
    rng = np.random.default_rng(1)
    net, layer = make_layer(rng, 2 * pe, sf * simd, wbits, in_bits, 6 if sf == 1 and in_bits > 4 else 2)
    lf = LayerFolding("d", pe, simd, mode, mac)
    x = random_acts(rng, 6, layer.mw, in_bits)
    got, cycles, dut = simulate_mvtu(net, layer, lf, x)
    np.testing.assert_array_equal(got, golden.run_layer(net, layer, x))
    nf = layer.mh // pe
    last_of_vector = cycles[nf - 1 :: nf]
    period = np.diff(last_of_vector)
    assert list(period) == [layer_cycles(layer, lf)] * (len(x) - 1)
