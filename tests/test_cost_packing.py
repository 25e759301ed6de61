"""BRAM packing (cost_model/packing.py): property tests of the plan, the exact/heuristic solvers,
the JSON round trip and the FINN-design numbers the bench reports."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitscale.cost_model import bram, packing
from bitscale.cost_model.packing import Item, PackingPlan

FAMILIES = ("xc7", "xcup", "ecp5", "ice40")


@st.composite
def item_sets(draw, max_items=8):
    n = draw(st.integers(1, max_items))
    items = []
    for k in range(n):
        w = draw(st.integers(1, 300))
        d = draw(st.integers(16, 3000))
        if w * d < bram.BLOCK_MIN_BITS:
            d = -(-bram.BLOCK_MIN_BITS // w)
        p = draw(st.sampled_from([1, 1, 2, 3, 4, 8, 64]))
        items.append((f"l{k}.weights", w, d, p))
    return items


def _items(raw, family):
    return [Item(n, n.split(".")[0], "weights", w, d, p, int(bram.block_count(w, d, family))) for n, w, d, p in raw]


def _schedule_conflict_free(plan: PackingPlan):
    """Simulate each port's round-robin for lcm-many cycles: every item gets a slot at least once per period."""
    for b in plan.bins:
        for port in range(b.ports):
            k = b.slots[port]
            for p in (p for p in b.placements if p.port == port):
                period = plan.item(p.item).period
                gaps = [t for t in range(3 * k) if t % k == p.slot]
                assert all(g2 - g1 <= period for g1, g2 in zip(gaps, gaps[1:]))
                assert len({q.slot for q in b.placements if q.port == port}) == k  # one owner per slot


@pytest.mark.slow
@settings(max_examples=30)
@given(item_sets(), st.sampled_from(FAMILIES))
def test_plan_properties(raw, family):
    items = _items(raw, family)
    plan = packing.pack(items, family, budget_s=0.2)
    _check_plan(plan, items, family)


def _check_plan(plan: PackingPlan, items, family):
    plan.validate()
    placed = sorted({p.item for b in plan.bins for p in b.placements})
    assert placed == sorted(i.name for i in items)  # every memory placed
    for it in items:  # every column of every word exactly once (whole, or column / depth parts)
        parts = [
            (p.col0, p.part_width(it), p.row0, p.part_rows(it))
            for b in plan.bins
            for p in b.placements
            if p.item == it.name
        ]
        assert sum(nc * nr for _, nc, _, nr in parts) == it.width * it.depth
        for k, (c0, nc, r0, nr) in enumerate(parts):
            assert 0 <= c0 and c0 + nc <= it.width and 0 <= r0 and r0 + nr <= it.depth
            for c1, nc1, r1, nr1 in parts[k + 1 :]:
                assert not (c0 < c1 + nc1 and c1 < c0 + nc and r0 < r1 + nr1 and r1 < r0 + nr)
    for b in plan.bins:  # rectangles inside the bin, disjoint
        cells = set()
        for p in b.placements:
            w, h, _ = p.shape(plan.item(p.item), b.depth)
            assert p.x + w <= b.width and p.y + h <= b.depth
            rect = {(x, y) for x in range(p.x, p.x + w, 7) for y in range(p.y, p.y + h, 13)}
            assert not rect & cells
            cells |= rect
    assert plan.packed <= plan.unpacked  # never worse than today
    assert plan.packed >= max(plan.capacity_floor, 0)  # never below the capacity floor
    assert plan.packed >= packing.port_floor(plan.items, family)[0]  # nor below the read-port floor
    for b in plan.bins:
        assert b.ports <= packing.family_ports(family)
        assert b.units == packing.bin_units(b.width, b.depth, b.ports, family)[0]
    _schedule_conflict_free(plan)
    assert PackingPlan.from_json(json.loads(json.dumps(plan.to_json()))) == plan


@st.composite
def wide_and_deep_sets(draw):
    """Wide, shallow memories (read every 1-2 cycles) with narrow, deep ones: column splits and two-band bins."""
    items = []
    for k in range(draw(st.integers(1, 3))):
        items.append(
            (f"w{k}.weights", draw(st.integers(40, 1100)), draw(st.integers(8, 300)), draw(st.sampled_from([1, 1, 2])))
        )
    for k in range(draw(st.integers(1, 5))):
        items.append(
            (
                f"d{k}.weights",
                draw(st.integers(1, 40)),
                draw(st.integers(1500, 40000)),
                draw(st.sampled_from([1, 1, 2, 4])),
            )
        )
    return items


@settings(max_examples=25, deadline=None)
@given(wide_and_deep_sets(), st.sampled_from(FAMILIES))
def test_split_plan_properties(raw, family):
    # every memory's columns once, inside its bins, conflict-free ports (cycles/frame unchanged), never
    # above today's count nor below the floors, JSON round trip, and the parts on ports of their own period
    items = _items(raw, family)
    plan = packing.pack(items, family, budget_s=0.2)
    _check_plan(plan, items, family)
    _schedule_conflict_free(plan)
    assert plan.seconds < 5
    assert PackingPlan.from_json(json.loads(json.dumps(plan.to_json()))) == plan


def test_split_pays_under_a_wide_shallow_memory():
    # FINN CNV w1a1's shape: a 1024-bit word every cycle from 36 words (7% of its 29 RAMB18) and deep,
    # narrow memories read every cycle; split by columns, the deep ones fill the rows under the parts
    items = _items([("a.weights", 1024, 36, 1), ("b.weights", 8, 32768, 1), ("c.weights", 4, 32768, 1)], "xc7")
    plan = packing.pack(items, "xc7")
    assert plan.unpacked == 29 + 15 + 8
    assert plan.packed <= 41 and "split" in plan.solver
    assert any(p.is_part(plan.item("a.weights")) for b in plan.bins for p in b.placements)
    assert any(p.slice_rows for b in plan.bins for p in b.placements)


@settings(max_examples=15)
@given(item_sets(max_items=6), st.sampled_from(("xc7", "ecp5")))
def test_heuristic_valid_and_not_better_than_exact(raw, family):
    items = _items(raw, family)
    # the partition stage (the column-split and depth-split passes after it are greedy on either)
    exact = packing.pack(items, family, split=False, depth_split=False)
    heur = packing.pack(items, family, exact_max=0, budget_s=0.2, split=False, depth_split=False)
    heur.validate()
    assert exact.solver in ("ilp", "none") and heur.solver == "heuristic"
    assert exact.packed <= heur.packed <= heur.unpacked


def test_time_multiplexed_port_stacks_shallow_wide_memories():
    # four 512-bit-wide, 64-deep weight memories read every 2 cycles (bit-serial, a = 2): alone each
    # takes 15 RAMB18 (bandwidth-bound); two ports x two slots stack all four in depth
    items = _items([(f"l{k}.weights", 512, 64, 2) for k in range(4)], "xc7")
    plan = packing.pack(items, "xc7")
    assert plan.unpacked == 60
    assert len(plan.bins) == 1 and plan.bins[0].ports == 2 and plan.bins[0].slots == (2, 2)
    assert plan.packed == 29  # 512 bits per port / 18 per RAMB18 port, 1024 deep
    # read every cycle: at most one memory per port, no sharing on a port
    items1 = _items([(f"l{k}.weights", 512, 64, 1) for k in range(3)], "xc7")
    plan1 = packing.pack(items1, "xc7")
    assert all(s == 1 for b in plan1.bins for s in b.slots)


def test_ice40_one_read_port():
    items = _items([("a.weights", 16, 256, 1), ("b.weights", 16, 256, 1)], "ice40")
    plan = packing.pack(items, "ice40")
    assert all(b.ports == 1 for b in plan.bins) and plan.packed == plan.unpacked == 2
    items2 = _items([("a.weights", 16, 128, 2), ("b.weights", 16, 128, 2)], "ice40")
    assert packing.pack(items2, "ice40").packed == 1  # one EBR, one port, two slots


def test_depth_split_pays_where_a_last_slice_is_part_empty():
    # 16 b x 2304 words read every cycle: 2048 words fill a RAMB36 2048x18, the last 256 go on the second
    # port of the RAMB18 that holds a 9 b x 1100 memory (2 slices of 768 rows on its first port): 3 RAMB18, not 4
    items = _items([("a.weights", 9, 1100, 1), ("b.weights", 16, 2304, 1)], "xc7")
    plain = packing.pack(items, "xc7", depth_split=False)
    plan = packing.pack(items, "xc7")
    assert (plain.packed, plan.packed) == (4, 3) and plan.solver.endswith("+depth")
    _check_plan(plan, items, "xc7")
    parts = sorted(
        (p.row0, p.part_rows(plan.item(p.item))) for b in plan.bins for p in b.placements if p.item == "b.weights"
    )
    assert parts == [(0, 2048), (2048, 256)]
    # two parts of one memory never in one bin (each bin serves a part of its own)
    assert all(len({p.item for p in b.placements}) == len(b.placements) for b in plan.bins)


def test_validate_rejects_depth_parts_that_miss_or_repeat_words():
    import dataclasses

    items = _items([("a.weights", 9, 1100, 1), ("b.weights", 16, 2304, 1)], "xc7")
    plan = packing.pack(items, "xc7")
    k, p = next((k, p) for k, b in enumerate(plan.bins) for p in b.placements if p.row0 == 2048)
    b = plan.bins[k]
    for bad in (dataclasses.replace(p, row0=2047), dataclasses.replace(p, nrows=255)):
        pl = tuple(bad if q is p else q for q in b.placements)
        bins = tuple(dataclasses.replace(b, placements=pl) if j == k else x for j, x in enumerate(plan.bins))
        with pytest.raises(ValueError, match="depth parts"):
            dataclasses.replace(plan, bins=bins).validate()


def test_port_floor_counts_depth_slices_of_a_column():
    # a column of 2304 words read every cycle takes three 1024-deep 18-bit port columns (or 1024 + 2048 at 9 b):
    # 1/6 of a port, not the 1/8 its bits fill; 18432 words: 18 of them, exactly its bits
    assert packing.column_ports(2304, "xc7") == pytest.approx(1 / 6)
    assert packing.column_ports(18432, "xc7") == pytest.approx(1.0)
    assert packing.column_ports(1024, "ecp5") == pytest.approx(1 / 18)
    assert packing.column_ports(300, "ice40") == pytest.approx(2 / 16)  # 2 x 256 rows of the 16-bit EBR
    # CNV w4a4's conv6 weights (512 b x 2304 words, read every cycle): 86 ports, not the 64 of its bits
    (it,) = _items([("conv6.weights", 512, 2304, 1)], "xc7")
    assert packing.port_floor([it], "xc7")[1]["conv6.weights"] == 86
    # items read every >= 2 cycles share the ports a memory read every cycle leaves, and a port reaches one
    # unit's bits: a 360 b x 36 word memory read every cycle owns 20 ports, two 200 b x 512 tables (11.1 units
    # of bits, read every 64 cycles) need 12 more: 16 units (12 pairs of a table port and one of the memory's,
    # its other 8 ports in 4 units), where their read time alone (0.35 of a port) would give 11 (capacity 12)
    mixed = _items([("a.weights", 360, 36, 1), ("p.params", 200, 512, 64), ("q.params", 200, 512, 64)], "xc7")
    assert packing.port_floor(mixed, "xc7")[0] == 16
    plan = packing.pack(mixed, "xc7")
    assert plan.packed >= 16


def test_validate_rejects_a_cycle_changing_plan():
    # iCE40: one read port, so two memories in one EBR share it (slots 2): legal at period 2 only
    items = _items([("a.weights", 16, 128, 2), ("b.weights", 16, 128, 2)], "ice40")
    plan = packing.pack(items, "ice40")
    assert plan.packed == 1 and plan.bins[0].slots == (2,)
    bad = PackingPlan(
        plan.family,
        plan.bram_kind,
        tuple(Item(i.name, i.layer, i.role, i.width, i.depth, 1, i.units) for i in plan.items),
        plan.bins,
        plan.solver,
    )
    with pytest.raises(ValueError, match="cycles/frame would change"):
        bad.validate()


def test_finn_designs_never_worse():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from vs_finn import design

    d = design("tfc", 1, 1)
    net = d.network()
    plan = packing.plan_design(net, d.folding(net), "xc7")
    assert plan.unpacked == 26 and plan.packed <= 26
    assert plan.seconds < 30


def test_auto_fold_sees_packed_counts():
    from bitscale.boards import get as get_board
    from bitscale.cost_model import auto_fold, estimate
    from bitscale.nn.random_net import random_fc

    net = random_fc([64, 64], 2, 2, num_classes=10, in_features=64, seed=3)
    board = get_board("icebreaker")
    f = auto_fold(net, board, modes=("bit-serial",), pack=True)
    e = estimate(net, f, board)
    plan = packing.plan_design(net, f, board.family)
    assert e.BRAM18 - plan.saving <= 0.8 * board.bram


@pytest.mark.slow
def test_split_milp_never_worse_than_greedy_on_cnv():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from vs_finn import design

    for w in (1, 4):  # (building a CNV takes ~25 s)
        d = design("cnv", w, w)
        net = d.network()
        items = packing.design_items(net, d.folding(net), "xc7")
        greedy = packing.pack(items, "xc7", split_milp=False)
        milp = packing.pack(items, "xc7")
        milp.validate()
        assert packing.port_floor(items, "xc7")[0] <= milp.packed <= greedy.packed
        _schedule_conflict_free(milp)
    assert "milp" in milp.solver and milp.packed < greedy.packed  # CNV w4a4: 404 < 407


def _lutram_net():
    """A 512-input layer whose input buffer (256 b x 16 words, 8 RAMB18) LUT RAM holds for ~200 LUTs."""
    from bitscale.hw.folding import Folding, LayerFolding
    from bitscale.nn.random_net import random_fc

    net = random_fc([32], 1, 1, num_classes=10, in_features=512, seed=5)
    f = Folding((LayerFolding("dense0", 4, 32, "parallel"), LayerFolding("dense1", 2, 8, "parallel")))
    return net, f


def test_input_buffer_to_lut_ram_counts_luts():
    from bitscale.cost_model import estimate

    net, f = _lutram_net()
    cands = packing.written_candidates(net, f, "xc7")
    assert [(w.name, w.width, w.depth, w.units) for w in cands] == [("dense0.inbuf", 256, 16, 8)]
    plan = packing.plan_design(net, f, "xc7")
    assert plan.lutram == cands and plan.saving == plan.unpacked - plan.packed + 8
    assert 0 < plan.lutram_luts <= packing.LUTRAM_MAX_LUTS_PER_UNIT * 8
    e = estimate(net, f, "pynq-z1")
    pe = packing.packed_estimate(e, plan)
    assert pe.BRAM18 == e.BRAM18 - plan.saving and pe.LUT == e.LUT + plan.lutram_luts
    assert pe.utilization["LUT"] > e.utilization["LUT"]
    assert PackingPlan.from_json(json.loads(json.dumps(plan.to_json()))) == plan
    assert "LUT RAM: dense0.inbuf 256x16" in plan.table()
    # within a LUT budget only; never on iCE40 (no LUT RAM); never when asked not to
    assert packing.plan_design(net, f, "xc7", lut_budget=10).lutram == ()
    assert packing.plan_design(net, f, "ice40").lutram == ()
    assert packing.plan_design(net, f, "xc7", lutram=False).lutram == ()
    # a plan without the field (written before it) reads with none
    doc = plan.to_json()
    del doc["lutram"]
    assert PackingPlan.from_json(doc).lutram == ()


def test_finn_fc_designs_total_at_most_finn_formula_with_lut_ram_buffers():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from vs_finn import design

    from bitscale.cost_model import estimate

    d = design("tfc", 1, 1)
    net = d.network()
    f = d.folding(net)
    plan = packing.plan_design(net, f, "xc7")
    assert [w.name for w in plan.lutram] == ["dense0.inbuf"]
    e = estimate(net, f, "pynq-z1")
    assert e.BRAM18 == 37 and e.BRAM18 - plan.saving == 26  # FINN's weight formula: 29
    # LFC w2a2: its last layer's input FIFO (16 b x 129, a RAMB18 by Yosys' own choice) goes too
    d = design("lfc", 2, 2)
    net = d.network()
    f = d.folding(net)
    plan = packing.plan_design(net, f, "xc7")
    assert [w.name for w in plan.lutram] == ["dense0.inbuf", "dense3.fifo"]
    assert estimate(net, f, "pynq-z1").BRAM18 - plan.saving == 321  # = FINN's weight formula (333 unpacked)


def _lutram_fifo_net():
    """A 1024-input last layer whose input FIFO (16 b x 129 words: a RAMB18 by Yosys' own choice) LUT RAM holds."""
    from bitscale.hw.folding import Folding, LayerFolding
    from bitscale.nn.random_net import random_fc

    net = random_fc([1024], 2, 2, num_classes=10, in_features=64, seed=7)
    f = Folding((LayerFolding("dense0", 16, 16, "parallel"), LayerFolding("dense1", 2, 8, "parallel")))
    return net, f


def test_dense_input_fifo_to_lut_ram():
    net, f = _lutram_fifo_net()
    plan = packing.plan_design(net, f, "xc7")
    assert [(w.name, w.width, w.depth, w.units) for w in plan.lutram] == [("dense1.fifo", 16, 129, 1)]
    assert plan.lutram_luts <= packing.LUTRAM_MAX_LUTS_PER_UNIT


def test_estimate_pack_cli_prints_bins_and_lut_ram(tmp_path, capsys):
    from bitscale.cli import main
    from bitscale.nn import ir

    net, f = _lutram_net()
    ir.save(net, tmp_path / "run")
    f.save(tmp_path / "f.json")
    argv = ["estimate", str(tmp_path / "run"), "--board", "pynq-z1", "--out", str(tmp_path / "o")]
    assert main([*argv, "--folding", str(tmp_path / "f.json")]) == 0
    out = capsys.readouterr().out
    plan = PackingPlan.from_json(json.loads((tmp_path / "o" / "packing.json").read_text()))
    assert [w.name for w in plan.lutram] == ["dense0.inbuf"]
    assert "LUT RAM: dense0.inbuf 256x16" in out and " fill " in out
    assert "with packing (generate --pack)" in out and "1 input buffer(s) / FIFO(s) in LUT RAM" in out
    # auto-folding that counts the packed block RAM (and the LUTs)
    assert main([*argv, "--force", "--pack", "--fps", "max"]) == 0
    assert "with packing" in capsys.readouterr().out
