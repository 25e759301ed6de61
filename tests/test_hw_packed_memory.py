"""hw/packed_memory.py against a numpy model: random items packed by cost_model/packing.py, every
bin simulated in Amaranth with consumers that read like an MVTU (each word ``period`` takes, random
stalls); every word is the item's, and ``ready`` never drops after an item's first word."""
from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator
from hypothesis import given, settings
from hypothesis import strategies as st

from bitscale.cost_model import bram, packing
from bitscale.hw.packed_memory import PackedMemory


def _simulate(bin_, items, rng, cycles):
    dut = PackedMemory(bin_, items)
    names = dut.names
    bad = []
    late = []

    async def tb(ctx):
        state = {n: [0, 0, False] for n in names}          # position, takes of this word, started
        expect = {}
        for _ in range(cycles):
            took = {}
            for k, n in enumerate(names):
                it, _, words = items[n]
                want = rng.random() < 0.8
                ready = ctx.get(getattr(dut, f"ready_{k}"))
                if want and state[n][2] and not ready:
                    late.append(n)
                take = want and ready
                ctx.set(getattr(dut, f"en_{k}"), 1 if take or rng.random() < 0.5 else 0)
                step = 0
                if take:
                    state[n][2] = True
                    took[n] = words[state[n][0]]
                    state[n][1] += 1
                    if state[n][1] == it.period:
                        step, state[n][1] = 1, 0
                        state[n][0] = (state[n][0] + 1) % it.depth
                ctx.set(getattr(dut, f"step_{k}"), step)
            await ctx.tick()
            for k, n in enumerate(names):
                if n in took:
                    got = ctx.get(getattr(dut, f"data_{k}"))
                    if got != took[n]:
                        bad.append((n, got, took[n]))
            expect.update(took)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    return bad, late


@st.composite
def packed_items(draw):
    family = draw(st.sampled_from(["ice40", "xc7"]))
    n = draw(st.integers(2, 4))
    raw = []
    for k in range(n):
        w = draw(st.integers(3, 40))
        d = draw(st.sampled_from([40, 100, 128, 200, 300, 700]))
        if w * d < bram.BLOCK_MIN_BITS:
            d = -(-bram.BLOCK_MIN_BITS // w)
        raw.append((f"l{k}.weights", w, d, draw(st.sampled_from([1, 2, 3, 4]))))
    return family, raw, draw(st.integers(0, 2**31 - 1))


@settings(max_examples=6, deadline=None)
@given(packed_items())
def test_packed_memory_matches_numpy(case):
    family, raw, seed = case
    rng = np.random.default_rng(seed)
    items = [packing.Item(n, n.split(".")[0], "weights", w, d, p, int(bram.block_count(w, d, family)))
             for n, w, d, p in raw]
    plan = packing.pack(items, family)
    for b in plan.bins:
        content = {}
        for pl in b.placements:
            it = plan.item(pl.item)
            words = [int(v) for v in rng.integers(0, 1 << it.width, it.depth, dtype=np.int64)]
            content[pl.item] = (it, it.width, words)
        bad, late = _simulate(b, content, rng, cycles=300)
        assert not bad, bad[:3]
        assert not late, late[:3]


def test_shared_port_constant_columns_and_slices():
    # one EBR port shared by two items (iCE40), one of them declared wider with constant columns
    rng = np.random.default_rng(1)
    a = packing.Item("a.params", "a", "params", 8, 200, 3, 1)
    b = packing.Item("b.weights", "b", "weights", 8, 300, 2, 1)
    plan = packing.pack([a, b], "ice40")
    assert plan.packed == 1 and plan.bins[0].slots == (2,)
    wa = [int(v) << 4 | 0b1010 | (1 << 15) for v in rng.integers(0, 256, 200)]     # 16 declared, 8 live
    wb = [int(v) for v in rng.integers(0, 256, 300)]
    bad, late = _simulate(plan.bins[0], {"a.params": (a, 16, wa), "b.weights": (b, 8, wb)}, rng, 500)
    assert not bad and not late
