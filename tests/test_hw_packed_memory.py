"""hw/packed_memory.py against a numpy model: random items packed by cost_model/packing.py, every
bin simulated in Amaranth with consumers that read like an MVTU (each word ``period`` takes, random
stalls); every word is the item's, and ``ready`` never drops after an item's first word."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator
from hypothesis import given, settings
from hypothesis import strategies as st

from bitscale.cost_model import bram, packing
from bitscale.hw.packed_memory import PackedMemory


def _simulate(bin_, items, rng, cycles):
    dut = PackedMemory(bin_, items)
    names = dut.names

    def want_word(n, a):
        """What data_<k> carries at its position ``a``: the declared word, or a part's stored columns (hw/top.py
        joins parts); a depth part's position counts its own words (row0 ..)."""
        p = bin_.placements[dut.index(n)]
        w = items[n][2][p.row0 + a]
        if not p.is_part(items[n][0]):
            return w
        return sum(((w >> c) & 1) << j for j, c in enumerate(dut.part_columns(p)))

    bad = []
    late = []

    async def tb(ctx):
        state = {n: [0, 0, False] for n in names}  # position, takes of this word, started
        expect = {}
        for _ in range(cycles):
            took = {}
            for k, n in enumerate(names):
                it = items[n][0]
                want = rng.random() < 0.8
                ready = ctx.get(getattr(dut, f"ready_{k}"))
                if want and state[n][2] and not ready:
                    late.append(n)
                take = want and ready
                ctx.set(getattr(dut, f"en_{k}"), 1 if take or rng.random() < 0.5 else 0)
                step = 0
                if take:
                    state[n][2] = True
                    took[n] = want_word(n, state[n][0])
                    state[n][1] += 1
                    if state[n][1] == it.period:
                        step, state[n][1] = 1, 0
                        state[n][0] = (state[n][0] + 1) % bin_.placements[k].part_rows(it)
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


@pytest.mark.slow
@settings(max_examples=6, deadline=None)
@given(packed_items())
def test_packed_memory_matches_numpy(case):
    family, raw, seed = case
    rng = np.random.default_rng(seed)
    items = [
        packing.Item(n, n.split(".")[0], "weights", w, d, p, int(bram.block_count(w, d, family))) for n, w, d, p in raw
    ]
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


def _rand_words(rng, width: int, n: int) -> list[int]:
    return [int.from_bytes(rng.bytes(-(-width // 8)), "little") & ((1 << width) - 1) for _ in range(n)]


def _bins_match(plan, words, rng, cycles: int) -> None:
    """Every bin of ``plan`` holding ``words`` (item name -> its words) reads each item's words like numpy,
    and in time (:func:`_simulate`)."""
    for b in plan.bins:
        content = {pl.item: (plan.item(pl.item), plan.item(pl.item).width, words[pl.item]) for pl in b.placements}
        bad, late = _simulate(b, content, rng, cycles)
        assert not bad, bad[:3]
        assert not late, late[:3]


@st.composite
def wide_and_deep(draw):
    """A wide, shallow memory (read every cycle or every 2) and narrow, deep ones: column splits and
    two-band bins (slices of the rows under another memory)."""
    family = draw(st.sampled_from(["xc7", "ecp5"]))
    raw = [
        (
            "a.weights",
            draw(st.sampled_from([72, 90, 108, 144])),
            draw(st.integers(8, 40)),
            draw(st.sampled_from([1, 2])),
        )
    ]
    for k in range(draw(st.integers(1, 3))):
        raw.append(
            (
                f"d{k}.weights",
                draw(st.sampled_from([2, 3, 4, 6, 9])),
                draw(st.integers(2000, 9000)),
                draw(st.sampled_from([1, 2, 4])),
            )
        )
    return family, raw, draw(st.integers(0, 2**31 - 1))


@pytest.mark.slow
@settings(max_examples=5, deadline=None)
@given(wide_and_deep())
def test_split_and_banded_bins_match_numpy(case):
    family, raw, seed = case
    rng = np.random.default_rng(seed)
    items = [
        packing.Item(n, n.split(".")[0], "weights", w, d, p, int(bram.block_count(w, d, family))) for n, w, d, p in raw
    ]
    plan = packing.pack(items, family)
    words = {it.name: _rand_words(rng, it.width, it.depth) for it in plan.items}
    _bins_match(plan, words, rng, cycles=250)


@st.composite
def depth_split_cases(draw):
    """A memory cut by depth at any word (head: words 0 .. r-1, tail: r .. depth-1), the head alone in a bin,
    the tail in a bin with 0-2 other memories (plain ports, slices, shared ports, rows per word)."""
    family = draw(st.sampled_from(["xc7", "ecp5", "ice40"]))
    w = draw(st.sampled_from([4, 9, 16, 18, 36, 40]))
    d = draw(st.integers(40, 700))
    r = draw(st.integers(1, d - 1))
    others = [
        (
            f"o{k}.weights",
            draw(st.sampled_from([4, 8, 16, 18])),
            draw(st.integers(16, 600)),
            draw(st.sampled_from([1, 2, 4, 8])),
        )
        for k in range(draw(st.integers(0, 2)))
    ]
    return family, (w, d, draw(st.sampled_from([1, 2, 4])), r), others, draw(st.integers(0, 2**31 - 1))


@pytest.mark.slow
@settings(max_examples=8, deadline=None)
@given(depth_split_cases())
def test_depth_parts_match_numpy(case):
    # every depth part reads its own words in order (stepped only in its band: hw/top.py), whatever bin holds it
    family, (w, d, period, r), others, seed = case
    rng = np.random.default_rng(seed)
    big = 10**6  # the plan is the test's, not a packer's: no saving asked of it
    a = packing.Item("a.weights", "a", "weights", w, d, period, big)
    rest = [packing.Item(n, n.split(".")[0], "weights", ow, od, op, big) for n, ow, od, op in others]
    ports = packing.family_ports(family)
    head, tail = packing._Piece(a, 0, w, 0, r), packing._Piece(a, 0, w, r, d - r)
    groups = [[head], [tail, *(packing._whole(i) for i in rest)]]
    if packing._layout(groups[1], family, ports) is None:
        groups = [[head], [tail], *([packing._whole(i)] for i in rest)]
    bins = tuple(packing._layout(g, family, ports) for g in groups)
    assert all(b is not None for b in bins)
    plan = packing.PackingPlan(family, bram.UNIT_NAME[family], (a, *rest), bins, "hand")  # pyright: ignore[reportArgumentType]
    plan.validate()
    words = {it.name: _rand_words(rng, it.width, it.depth) for it in plan.items}
    _bins_match(plan, words, rng, cycles=300)


def test_column_split_under_a_wide_shallow_memory():
    # a 72-bit word every cycle from 16 words takes 2 RAMB18 (4% full); a 4 x 8192 memory read every cycle
    # takes 2 more. Split: 36 of the wide memory's columns on port 0 of a two-port RAMB18 pair, the deep one
    # in 9 slices of the 1008 rows under them on port 1; the other 36 columns alone: 3 RAMB18
    rng = np.random.default_rng(4)
    a = packing.Item("a.weights", "a", "weights", 72, 16, 1, 2)
    d = packing.Item("d.weights", "d", "weights", 4, 8192, 1, 2)
    plan = packing.pack([a, d], "xc7")
    assert plan.packed == 3 and plan.solver == "ilp+split"
    parts = [p for b in plan.bins for p in b.placements if p.item == "a.weights"]
    assert sorted((p.col0, p.part_width(a)) for p in parts) == [(0, 36), (36, 36)]
    (pd,) = [p for b in plan.bins for p in b.placements if p.item == "d.weights"]
    assert pd.y == 16 and pd.slice_rows == 1008 and pd.slices == 9
    words = {
        "a.weights": _rand_words(rng, 72, 16),
        "d.weights": [int(v) for v in rng.integers(0, 16, 8192)],
    }
    _bins_match(plan, words, rng, cycles=400)


def test_shared_port_constant_columns_and_slices():
    # one EBR port shared by two items (iCE40), one of them declared wider with constant columns
    rng = np.random.default_rng(1)
    a = packing.Item("a.params", "a", "params", 8, 200, 3, 1)
    b = packing.Item("b.weights", "b", "weights", 8, 300, 2, 1)
    plan = packing.pack([a, b], "ice40")
    assert plan.packed == 1 and plan.bins[0].slots == (2,)
    wa = [int(v) << 4 | 0b1010 | (1 << 15) for v in rng.integers(0, 256, 200)]  # 16 declared, 8 live
    wb = [int(v) for v in rng.integers(0, 256, 300)]
    bad, late = _simulate(plan.bins[0], {"a.params": (a, 16, wa), "b.weights": (b, 8, wb)}, rng, 500)
    assert not bad and not late


def _two_layer_case():
    from bitscale.hw.folding import Folding, LayerFolding
    from bitscale.nn.random_net import random_fc

    net = random_fc([64, 64], 2, 2, num_classes=10, in_features=64, seed=3)
    f = Folding(
        (
            LayerFolding("dense0", 8, 8, "bit-serial"),
            LayerFolding("dense1", 8, 8, "bit-serial"),
            LayerFolding("dense2", 2, 8, "bit-serial"),
        )
    )
    # iCE40's EBR has one read port: the two weight memories share it, slot 0 / slot 1
    plan = packing.plan_design(net, f, "ice40", max_rows_per_word=1)
    shared = [b for b in plan.bins if len(b.placements) > 1]
    assert len(shared) == 1 and shared[0].slots == (2,)
    assert {p.item for p in shared[0].placements} == {"dense0.weights", "dense1.weights"}
    assert plan.packed < plan.unpacked
    return net, f, plan


@pytest.mark.slow
def test_accelerator_two_layers_share_a_port_bit_exact_same_cycles():
    from bitscale.hw.folding import layer_cycles
    from bitscale.hw.testbench import run_accelerator
    from bitscale.hw.top import Accelerator
    from bitscale.nn import golden
    from bitscale.nn.random_net import random_inputs

    net, f, plan = _two_layer_case()
    x = random_inputs(net.input_shape, 3, seed=3)
    acc = Accelerator(net, f, packing=plan)
    got, cycles, _ = run_accelerator(acc, x, in_gap=0.1, out_stall=0.1)
    np.testing.assert_array_equal(got, golden.run(net, x))
    got, cycles, _ = run_accelerator(Accelerator(net, f, packing=plan), x)
    _, cycles0, _ = run_accelerator(Accelerator(net, f), x)
    assert cycles == cycles0  # every output beat on the cycle of the unpacked design
    # the default xc7 plan reshapes both memories (8 and 2 rows per word): exact, same cycles
    plan8 = packing.plan_design(net, f, "xc7")
    assert sorted(p.rows_per_word for b in plan8.bins for p in b.placements) == [2, 8]
    assert plan8.packed == 2 < plan8.unpacked == 4
    got, cycles8, _ = run_accelerator(Accelerator(net, f, packing=plan8), x)
    np.testing.assert_array_equal(got, golden.run(net, x))
    # the first word of a reshaped memory takes k reads after reset: a constant offset of a few cycles,
    # every later beat exactly as far apart as in the unpacked design (cycles/frame unchanged)
    offset = {c8 - c0 for c8, c0 in zip(cycles8, cycles0)}
    assert len(offset) == 1 and 0 <= offset.pop() <= 2 * 8 + 2
    beats = acc.frame.output.beats
    assert set(np.diff(cycles[beats - 1 :: beats])) == {max(layer_cycles(l, f[l.name]) for l in net.compute_layers)}


def test_accelerator_rejects_a_plan_of_another_folding():
    from bitscale.errors import UserError
    from bitscale.hw.folding import Folding, LayerFolding
    from bitscale.hw.top import Accelerator

    net, f, plan = _two_layer_case()
    other = Folding(
        (
            LayerFolding("dense0", 8, 8, "bit-serial"),
            LayerFolding("dense1", 8, 8, "parallel"),
            LayerFolding("dense2", 2, 8, "bit-serial"),
        )
    )
    with pytest.raises(UserError, match="dense1.weights"):
        Accelerator(net, other, packing=plan)


def test_rows_per_word_alone_and_shared():
    # a 40-bit word every 4 cycles: alone it is stored as 4 rows of 10 bits (one RAMB18 instead of two)
    rng = np.random.default_rng(2)
    a = packing.Item("a.weights", "a", "weights", 40, 100, 4, 2)
    plan = packing.pack([a], "xc7")
    assert plan.packed == 1 and plan.bins[0].placements[0].rows_per_word == 4
    words = [int(v) for v in rng.integers(0, 1 << 40, 100, dtype=np.int64)]
    bad, late = _simulate(plan.bins[0], {"a.weights": (a, 40, words)}, rng, 600)
    assert not bad and not late
    # shared with another on one iCE40 port: 2 slots x 2 rows per word <= period 4
    a = packing.Item("a.weights", "a", "weights", 40, 100, 4, int(bram.block_count(40, 100, "ice40")))
    b = packing.Item("b.weights", "b", "weights", 32, 128, 4, int(bram.block_count(32, 128, "ice40")))
    plan = packing.pack([a, b], "ice40")
    assert any(p.rows_per_word > 1 for bn in plan.bins for p in bn.placements)
    words_b = [int(v) for v in rng.integers(0, 1 << 32, 128, dtype=np.int64)]
    for bn in plan.bins:
        content = {
            n: c
            for n, c in {"a.weights": (a, 40, words), "b.weights": (b, 32, words_b)}.items()
            if n in {p.item for p in bn.placements}
        }
        bad, late = _simulate(bn, content, rng, 600)
        assert not bad and not late


def _split_plan():
    """The two-layer design with dense0's weights split by columns over two bins: columns 0..11 alone in
    2 depth slices of 100 rows from row 400 (the plain read port with slice counters), 12..63 sharing a port
    with dense1's weights (round robin)."""
    net, f, _ = _two_layer_case()
    items = packing.design_items(net, f, "xc7")
    d0, d1 = (next(i for i in items if i.name == n) for n in ("dense0.weights", "dense1.weights"))
    assert (d0.width, d0.depth, d1.width, d1.depth) == (64, 128, 64, 128)

    def bin_(width, depth, slots, placements):
        units, prim = packing.bin_units(width, depth, len(slots), "xc7")
        return packing.Bin(prim, width, depth, len(slots), slots, units, placements)

    a = bin_(36, 512, (1,), (packing.Placement("dense0.weights", 0, 400, 2, 0, 0, 1, 100, 0, 12),))
    b = bin_(
        72,
        512,
        (2,),
        (
            packing.Placement("dense0.weights", 0, 0, 1, 0, 0, 1, 0, 12, 52),
            packing.Placement("dense1.weights", 0, 128, 1, 0, 1),
        ),
    )
    plan = packing.PackingPlan("xc7", "RAMB18", tuple(items), (a, b), "hand")
    plan.validate()
    return net, f, plan


@pytest.mark.slow
def test_accelerator_split_memory_bit_exact_same_cycles():
    net, f, plan = _split_plan()
    assert plan.packed == 3 < plan.unpacked
    _packed_run_exact(net, f, plan, seed=4, stall=0.1, max_offset=2 * 2 + 2)


def _packed_run_exact(net, f, plan, seed: int, stall: float, max_offset: int) -> None:
    """The packed accelerator golden-exact with random input gaps and output stalls, and without them its
    frames finish a constant offset (at most ``max_offset``: the first word's wait) after the unpacked one's."""
    from bitscale.hw.testbench import run_accelerator
    from bitscale.hw.top import Accelerator
    from bitscale.nn import golden
    from bitscale.nn.random_net import random_inputs

    x = random_inputs(net.input_shape, 3, seed=seed)
    got, _, _ = run_accelerator(Accelerator(net, f, packing=plan), x, in_gap=stall, out_stall=stall)
    np.testing.assert_array_equal(got, golden.run(net, x))
    got, cycles, _ = run_accelerator(Accelerator(net, f, packing=plan), x)
    _, cycles0, _ = run_accelerator(Accelerator(net, f), x)
    np.testing.assert_array_equal(got, golden.run(net, x))
    offset = {c - c0 for c, c0 in zip(cycles, cycles0)}
    assert len(offset) == 1 and 0 <= offset.pop() <= max_offset


def _depth_plan(columns: bool = False):
    """The two-layer design with dense0's weights (64 b x 128 words, a word every 8 cycles) split by depth: words
    0..95 alone in a RAMB18, stored as 2 rows per word (32 b x 192 rows), words 96..127 on a port shared
    round-robin with dense1's weights (rows 128..159 under them): 3 RAMB18 instead of 4. With ``columns`` words
    96..127 split by columns too: 0..39 on the shared port, 40..63 alone on a plain read port from row 200 (4
    RAMB18). The layer switches bins by its word address."""
    net, f, _ = _two_layer_case()
    items = packing.design_items(net, f, "xc7")

    def bin_(width, depth, slots, placements):
        units, prim = packing.bin_units(width, depth, len(slots), "xc7")
        return packing.Bin(prim, width, depth, len(slots), slots, units, placements)

    P = packing.Placement
    a = bin_(36, 512, (1,), (P("dense0.weights", 0, 0, 1, 0, 0, 2, 0, 0, 0, 0, 96),))
    tail = P("dense0.weights", 0, 128, 1, 0, 1, 1, 0, *((0, 40) if columns else (0, 0)), 96, 32)
    b = bin_(72, 512, (2,), (tail, P("dense1.weights", 0, 0, 1, 0, 0)))
    c = bin_(36, 512, (1,), (P("dense0.weights", 0, 200, 1, 0, 0, 1, 0, 40, 24, 96, 32),))
    plan = packing.PackingPlan("xc7", "RAMB18", tuple(items), (a, b, c) if columns else (a, b), "hand")
    plan.validate()
    return net, f, plan


@pytest.mark.slow
def test_accelerator_depth_split_memory_bit_exact_same_cycles():
    for columns, units in ((False, 3), (True, 4)):
        net, f, plan = _depth_plan(columns)
        assert plan.packed == units and plan.unpacked == 4
        _packed_run_exact(net, f, plan, seed=7, stall=0.2, max_offset=2 * 2 * 2 + 2)


@pytest.mark.slow
def test_accelerator_input_buffer_in_lut_ram_bit_exact_same_cycles():
    """A plan's input buffer in LUT RAM (hw/packing_plan.Written): only its ram_style changes (block ->
    distributed), the outputs are the golden model's and every beat comes on the unpacked design's cycle."""
    from amaranth.back import verilog

    from bitscale.hw.testbench import run_accelerator
    from bitscale.hw.top import Accelerator
    from bitscale.nn import golden
    from bitscale.nn.random_net import random_inputs
    from test_cost_packing import _lutram_net

    import dataclasses

    net, f = _lutram_net()
    plan = packing.plan_design(net, f, "xc7")
    assert [w.name for w in plan.lutram] == ["dense0.inbuf"]
    # and dense1's input FIFO (Yosys' choice would be LUT RAM already: the attribute only, exercised here)
    width, depth = Accelerator(net, f)._written()["dense1.fifo"]
    plan = dataclasses.replace(plan, lutram=(*plan.lutram, packing.Written("dense1.fifo", width, depth, 1, 10)))
    x = random_inputs(net.input_shape, 3, seed=6)
    got, cycles, _ = run_accelerator(Accelerator(net, f, packing=plan), x, in_gap=0.2, out_stall=0.2)
    np.testing.assert_array_equal(got, golden.run(net, x))
    got, cycles, _ = run_accelerator(Accelerator(net, f, packing=plan), x)
    np.testing.assert_array_equal(got, golden.run(net, x))
    _, cycles0, _ = run_accelerator(Accelerator(net, f), x)
    assert list(cycles) == list(cycles0)
    text = verilog.convert(Accelerator(net, f, packing=plan), name="bitscale_top", emit_src=False)
    text0 = verilog.convert(Accelerator(net, f), name="bitscale_top", emit_src=False)
    assert text.count('ram_style = "distributed"') == text0.count('ram_style = "distributed"') + 2
    assert text.count('ram_style = "block"') == text0.count('ram_style = "block"') - 1


def test_accelerator_rejects_lut_ram_buffers_of_another_design():
    import dataclasses

    from bitscale.errors import UserError
    from bitscale.hw.top import Accelerator
    from test_cost_packing import _lutram_net

    net, f = _lutram_net()
    plan = packing.plan_design(net, f, "xc7")
    bad = dataclasses.replace(plan, lutram=(dataclasses.replace(plan.lutram[0], depth=32),))
    with pytest.raises(UserError, match="dense0.inbuf"):
        Accelerator(net, f, packing=bad)
    with pytest.raises(UserError, match="LUT RAM"):
        Accelerator(net, f, packing=plan, lut_ram=False)
