"""Narrow requantizers (nn/requant.py): exact on every reachable accumulator, in numpy and in the RTL."""

import numpy as np
from hypothesis import given, settings, strategies as st

from bitscale.hw.folding import LayerFolding
from bitscale.nn import export, golden, ir, requant
from bitscale.nn.random_net import random_fc

from test_hw_mvtu import random_acts, simulate_mvtu


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    out_bits=st.integers(1, 10),
    shift=st.integers(0, 40),
    mbits=st.integers(0, 30),
    span=st.integers(0, 5000),
    channels=st.integers(1, 5),
)
def test_narrow_is_exact_on_every_reachable_acc(seed, out_bits, shift, mbits, span, channels):
    """narrow() keeps every output of the given requantizer on [lo, hi], checked exhaustively."""
    rng = np.random.default_rng(seed)
    top = (1 << out_bits) - 1
    lo = rng.integers(-3000, 3000, channels)
    hi = lo + rng.integers(0, span + 1, channels)
    mul = rng.integers(0, (1 << mbits) + 1, channels)
    add = rng.integers(-(1 << (shift + 12)), 1 << (shift + 12), channels)
    M, B, s = requant.narrow(mul, add, shift, lo, hi, top)
    assert int(M.max()).bit_length() <= int(mul.max()).bit_length()
    for c in range(channels):
        acc = np.arange(lo[c], hi[c] + 1)
        np.testing.assert_array_equal(
            requant.apply(M[c], B[c], s, acc, top), requant.apply(mul[c], add[c], shift, acc, top)
        )


def test_narrow_finds_the_least_shift():
    """A requantizer with needless precision (M, B scaled by 2^20) comes back at its own scale."""
    lo, hi, top = np.array([-500]), np.array([700]), 255
    M, B, s = requant.narrow(np.array([3 << 20]), np.array([-1000 << 20]), 3 + 20, lo, hi, top)
    acc = np.arange(-500, 701)
    np.testing.assert_array_equal(requant.apply(M, B, s, acc, top), requant.apply(3, -1000, 3, acc, top))
    assert s <= 3 and int(M[0]) <= 3


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    out_bits=st.integers(5, 9),
    wbits=st.integers(1, 4),
    in_bits=st.integers(1, 4),
    mw=st.integers(1, 12),
)
def test_operand_saturation_is_exact(seed, out_bits, wbits, in_bits, mw):
    """Saturating acc into operand_range() changes no output on any channel's reachable range."""
    rng = np.random.default_rng(seed)
    mh = 6
    layer = ir.Layer(
        "dense",
        "d",
        (mw,),
        (mh,),
        in_bits=in_bits,
        out_bits=out_bits,
        wbits=wbits,
        act="requant",
        requant_shift=int(rng.integers(0, 8)),
    )
    lo_w, hi_w = ir.weight_range(wbits, True)
    w = rng.choice([-1, 1], (mh, mw)) if wbits == 1 else rng.integers(lo_w, hi_w + 1, (mh, mw))
    mul = rng.integers(0, 200, mh)
    mul[0] = 0  # a constant channel
    net = ir.QuantizedNetwork(
        (layer,),
        {"d.weight": w.astype(np.int64), "d.requant_mul": mul, "d.requant_add": rng.integers(-4000, 4000, mh)},
        2,
    )
    L, H = requant.operand_range(net, layer)
    lo, hi = requant.reachable(net, layer)
    m, b, s = net.requant(layer)
    top = (1 << out_bits) - 1
    for c in range(mh):
        acc = np.arange(lo[c], hi[c] + 1)
        np.testing.assert_array_equal(
            requant.apply(m[c], b[c], s, np.clip(acc, L, H), top), requant.apply(m[c], b[c], s, acc, top)
        )


def test_reachable_bounds_the_accumulator():
    net = random_fc([16], 3, 6, in_features=12, seed=3)
    layer = net.compute_layers[0]
    lo, hi = requant.reachable(net, layer)
    w = net.weight(layer)
    top = np.where(w > 0, 255, 0)  # per channel, the 8-bit pixel input maximizing it
    bottom = np.where(w < 0, 255, 0)
    np.testing.assert_array_equal(np.diag(golden.accumulate(net, layer, top)), hi)
    np.testing.assert_array_equal(np.diag(golden.accumulate(net, layer, bottom)), lo)
    x = np.random.default_rng(0).integers(0, 256, (200, layer.mw))
    acc = golden.accumulate(net, layer, x)
    assert np.all(acc >= lo) and np.all(acc <= hi)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    abits=st.sampled_from([5, 6, 8, 10]),
    wbits=st.integers(1, 8),
    in_bits=st.sampled_from([1, 2, 4, 8]),
    mw=st.integers(2, 40),
    gneg=st.booleans(),
)
def test_export_requant_equals_brevitas_levels(seed, abits, wbits, in_bits, mw, gneg):
    """fold_requant_exact reproduces Brevitas' level (float64 BN + half-to-even round) on EVERY
    reachable accumulator of every channel, with a multiplier no wider than the old wide rule's."""
    rng = np.random.default_rng(seed)
    mh = 5
    layer = ir.Layer("dense", "d", (mw,), (mh,), in_bits=in_bits, out_bits=abits, wbits=wbits, act="requant")
    lo_w, hi_w = ir.weight_range(wbits, True)
    w = rng.choice([-1, 1], (mh, mw)) if wbits == 1 else rng.integers(lo_w, hi_w + 1, (mh, mw))
    sw_sin = float(rng.uniform(1e-4, 1e-2))
    gamma = rng.uniform(0.2, 2.0, mh) * (np.where(rng.random(mh) < 0.5, -1, 1) if gneg else 1)
    beta, mean = rng.normal(0, 1, mh), rng.normal(0, 0.2, mh)
    var, eps = rng.uniform(0.01, 1.0, mh) * (sw_sin * np.sqrt(mw) * 4) ** 2, 1e-5
    bn = (gamma, beta, mean, var, eps)
    s_act = float(rng.uniform(0.02, 0.2))
    sign = np.where(gamma < 0, -1, 1)
    w = w * sign[:, None]
    got = export.fold_requant_exact(sw_sin, bn, abits, s_act, sign, layer, w)
    assert got is not None
    M, B, s = got
    lo, hi = requant.reachable_w(w, in_bits)
    top = (1 << abits) - 1
    for c in range(mh):
        acc = np.arange(lo[c], hi[c] + 1)
        ref = export._levels(
            sign[c] * acc[None, :],
            sw_sin,
            tuple(v[c : c + 1] if isinstance(v, np.ndarray) else v for v in bn),
            abits,
            s_act,
        )[0]
        np.testing.assert_array_equal(requant.apply(M[c], B[c], s, acc, top), ref)
    # never wider than the old rule (largest shift within the 62-bit product), usually far narrower
    M_wide, _, _ = export.fold_requant(sw_sin, bn, abits, s_act, sign, layer)
    assert int(M.max()).bit_length() <= int(M_wide.max()).bit_length()


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    wbits=st.integers(1, 8),
    out_bits=st.sampled_from([5, 6, 8, 12]),
    mode=st.sampled_from(["parallel", "weight-serial", "bit-serial"]),
    pe=st.sampled_from([1, 2, 3]),
    simd=st.sampled_from([1, 2, 4]),
)
def test_mvtu_narrow_requant_matches_golden(seed, wbits, out_bits, mode, pe, simd):
    """The MVTU with a narrowed requantizer and the saturated operand equals the golden model, including
    accumulators at the ends of the reachable range (where the saturation acts)."""
    rng = np.random.default_rng(seed)
    net = random_fc([3 * pe], wbits, out_bits, in_features=4 * simd, seed=seed)
    layer = net.compute_layers[0]
    net = ir.QuantizedNetwork((layer,), dict(net.tensors), 2)
    w = net.weight(layer)
    xlo, xhi = ir.act_range(layer.in_bits)
    x = np.concatenate(
        [random_acts(rng, 3, layer.mw, layer.in_bits), np.where(w[:2] > 0, xhi, xlo), np.where(w[:2] < 0, xhi, xlo)]
    )  # extreme accumulators
    got, _, dut = simulate_mvtu(net, layer, LayerFolding(layer.name, pe, simd, mode), x)
    np.testing.assert_array_equal(got, golden.run_layer(net, layer, x))
    assert dut.q_bits <= ir.acc_bits(layer)
