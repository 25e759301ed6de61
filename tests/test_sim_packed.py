"""A packed design end to end (#16): two bit-serial layers whose weight memories share one block RAM
through the time-multiplexed port (an iCE40 plan: its EBR has one read port), the xc7 plan that
stores both memories reshaped (8 and 2 rows per word, read in 8 / 2 cycles), and an xc7 plan with a
memory split by depth over three bins (the layer switches bins by its word address), generated with the plan,
simulated in cocotb on Verilator (golden-exact, cycles/frame = the model) and mapped by Yosys (block RAMs =
the estimate with the plan's packed count in place of the unpacked memories)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bitscale.cost_model import estimate
from bitscale.hw.generate import generate
from bitscale.sim import runner
from bitscale.sim.simulate import simulate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_hw_packed_memory import _depth_plan, _two_layer_case  # noqa: E402


@pytest.fixture(scope="module", params=["ice40-shared-port", "xc7-rows-per-word", "xc7-depth-split"])
def packed_build(request, tmp_path_factory):
    net, f, plan = _two_layer_case()
    if request.param == "xc7-depth-split":  # dense0's words 0..95 in one bin, 96..127 in two others
        net, f, plan = _depth_plan()
    elif request.param == "xc7-rows-per-word":  # both memories alone, 8 and 2 rows per word
        from bitscale.cost_model import packing

        plan = packing.plan_design(net, f, "xc7")
        assert sorted(p.rows_per_word for b in plan.bins for p in b.placements) == [2, 8]
    d = tmp_path_factory.mktemp("packed")
    design = generate(net, f, d, packing=plan)
    assert design["packing"]["summary"]["packed"] == plan.packed
    return d, net, f, plan


@pytest.mark.verilator
@pytest.mark.usefixtures("verilator_o0")
def test_packed_design_verilator_bit_exact_cycles_model(packed_build):
    d, net, f, plan = packed_build
    doc = simulate(d, images=5, simulator="verilator", cache_dir=runner.default_cache_dir(), log=lambda *a: None)
    assert doc["errors"] == [] and doc["golden_match"] == 5 and doc["all_frames_match"]
    assert doc["cycles_per_frame"] == doc["model_cycles_per_frame"]
    doc = simulate(
        d,
        images=4,
        simulator="verilator",
        gaps=0.3,
        backpressure=0.5,
        seed=5,
        cache_dir=runner.default_cache_dir(),
        log=lambda *a: None,
        write=False,
    )
    assert doc["errors"] == [] and doc["golden_match"] == 4 and doc["all_frames_match"]


@pytest.mark.yosys
def test_packed_design_yosys_maps_the_plan(packed_build):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from packing import yosys_bram

    d, net, f, plan = packed_build
    e = estimate(net, f, {"ice40": "icebreaker", "xc7": "pynq-z1"}[plan.family])
    n = yosys_bram(d, plan.family)
    assert n == e.BRAM18 - plan.saving
    # the depth-split plan holds its memories in as many block RAMs as unpacked (4): the others save
    assert n < e.BRAM18 or any(p.nrows for b in plan.bins for p in b.placements)


@pytest.mark.slow
@pytest.mark.yosys
@pytest.mark.parametrize("case,family", [("_lutram_net", "xc7"), ("_lutram_fifo_net", "xc7"), ("_lutram_net", "ecp5")])
def test_lut_ram_written_memories_yosys_maps_the_plan(case, family, tmp_path):
    """Input buffer / dense input FIFO in LUT RAM (generate --pack): Yosys maps exactly the estimate less the
    plan's saving (the moved memory takes no block RAM)."""
    import test_cost_packing

    from bitscale.cost_model import packing

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from packing import yosys_bram

    net, f = getattr(test_cost_packing, case)()
    plan = packing.plan_design(net, f, family)
    assert plan.lutram
    generate(net, f, tmp_path / "b", packing=plan)
    e = estimate(net, f, {"xc7": "pynq-z1", "ecp5": "ulx3s-85f"}[family])
    assert yosys_bram(tmp_path / "b", family) == e.BRAM18 - plan.saving < e.BRAM18
