"""Stream plumbing (FIFO, width converter) in Amaranth's simulator: order and content preserved."""

import math

import numpy as np
from hypothesis import given, settings, strategies as st

from bitscale.hw.dwc import DWC
from bitscale.hw.fifo import StreamFIFO
from bitscale.hw.testbench import run_stream


@settings(max_examples=30, deadline=None)
@given(
    i=st.integers(1, 6),
    o=st.integers(1, 6),
    bits=st.integers(1, 5),
    groups=st.integers(1, 4),
    gaps=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_dwc_regroups(i, o, bits, groups, gaps, seed):
    rng = np.random.default_rng(seed)
    n = math.lcm(i, o) * groups
    elems = rng.integers(0, 1 << bits, size=n)
    words = [sum(int(e) << (j * bits) for j, e in enumerate(elems[k : k + i])) for k in range(0, n, i)]
    got, cycles = run_stream(
        DWC(i, o, bits), words, n // o, in_gap=0.3 if gaps else 0, out_stall=0.3 if gaps else 0, seed=seed
    )
    out = [((w >> (j * bits)) & ((1 << bits) - 1)) for w in got for j in range(o)]
    assert out == [int(e) for e in elems]
    if not gaps and (o % i == 0 or i % o == 0):
        # one word a cycle on the wider side
        assert cycles[-1] - cycles[0] <= max(n // i, n // o)


@settings(max_examples=15, deadline=None)
@given(depth=st.integers(2, 9), n=st.integers(1, 30), seed=st.integers(0, 2**16))
def test_fifo_keeps_order(depth, n, seed):
    words = list(np.random.default_rng(seed).integers(0, 256, size=n))
    got, _ = run_stream(StreamFIFO(8, depth), [int(w) for w in words], n, in_gap=0.3, out_stall=0.4, seed=seed)
    assert got == [int(w) for w in words]
