"""Sliding-window generator and max-pool in Amaranth's simulator against nn/golden.py."""

import numpy as np
from hypothesis import given, settings, strategies as st

from bitscale.hw.layout import pack_lanes, unpack_lanes
from bitscale.hw.maxpool import MaxPool
from bitscale.hw.swg import SlidingWindow
from bitscale.hw.testbench import run_stream
from bitscale.nn import golden


def _values(rng, shape, bits):
    if bits == 1:
        return rng.choice([-1, 1], size=shape)
    return rng.integers(0, 1 << bits, size=shape)


def _words(frames, lanes, bits):
    flat = [v for f in frames for v in f.reshape(-1)]
    return [pack_lanes(flat[k : k + lanes], bits) for k in range(0, len(flat), lanes)]


def _unwords(words, lanes, bits):
    return np.array([v for w in words for v in unpack_lanes(w, lanes, bits, False)], dtype=np.int64)


@settings(max_examples=25, deadline=None)
@given(
    h=st.integers(3, 6),
    w=st.integers(3, 6),
    cf=st.integers(1, 3),
    simd=st.sampled_from([1, 2, 3]),
    k=st.sampled_from([1, 2, 3]),
    bits=st.integers(1, 16),
    frames=st.integers(1, 3),
    gaps=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_swg_is_im2col(h, w, cf, simd, k, bits, frames, gaps, seed):
    rng = np.random.default_rng(seed)
    c = cf * simd
    x = _values(rng, (frames, h, w, c), bits)
    want = golden.im2col(x, k).reshape(-1)
    n_out = len(want) // simd
    got, _ = run_stream(
        SlidingWindow((h, w, c), k, simd, bits),
        _words(x, simd, bits),
        n_out,
        in_gap=0.3 if gaps else 0,
        out_stall=0.3 if gaps else 0,
        seed=seed,
    )
    np.testing.assert_array_equal(_unwords(got, simd, bits), want)


def test_swg_streams_without_bubbles():
    """Three frames, downstream always ready: one window word per cycle except while rows arrive."""
    h = w = 6
    c, simd, k = 4, 2, 3
    x = _values(np.random.default_rng(0), (3, h, w, c), 2)
    want = golden.im2col(x, k).reshape(-1)
    got, cycles = run_stream(SlidingWindow((h, w, c), k, simd, 2), _words(x, simd, 2), len(want) // simd)
    np.testing.assert_array_equal(_unwords(got, simd, 2), want)
    per_frame = len(want) // simd // 3
    # frames 2 and 3 were stored while frame 1 was read: their words come back to back
    tail = np.diff(cycles[per_frame:])
    assert (tail == 1).mean() > 0.95


@settings(max_examples=25, deadline=None)
@given(
    h=st.integers(2, 7),
    w=st.integers(2, 7),
    cf=st.integers(1, 3),
    lanes=st.sampled_from([1, 2, 3]),
    bits=st.integers(1, 16),
    frames=st.integers(1, 2),
    gaps=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_maxpool_matches_golden(h, w, cf, lanes, bits, frames, gaps, seed):
    rng = np.random.default_rng(seed)
    c = cf * lanes
    x = _values(rng, (frames, h, w, c), bits)
    want = golden.maxpool(x, 2, 2).reshape(-1)
    got, _ = run_stream(
        MaxPool((h, w, c), 2, 2, lanes, bits),
        _words(x, lanes, bits),
        len(want) // lanes,
        in_gap=0.3 if gaps else 0,
        out_stall=0.3 if gaps else 0,
        seed=seed,
    )
    np.testing.assert_array_equal(
        _unwords(got, lanes, bits)
        if bits > 1
        else np.array([v for wd in got for v in unpack_lanes(wd, lanes, 1, False)]),
        want,
    )
