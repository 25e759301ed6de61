"""bench/sim_profile.py's attribution of Verilated C++ statements to RTL blocks (no build: the classifier
and the C++ statement scanner on text)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import sim_profile  # noqa: E402

H = "bitscale_harness__DOT__"


def test_blocks_by_hierarchical_name():
    b = sim_profile.block
    assert b("dut__DOT__conv1__DOT__dot3__DOT__prod7", "") == ("conv1", "dot:products")
    assert b("dut__DOT__conv1__DOT__dot3__DOT__cut40", "") == ("conv1", "dot:tree")
    # the tree's last add lands in the MVTU's scope (a shared dot module's output)
    assert b("dut__DOT__conv1__DOT____024527", f"x = {H}dut__DOT__conv1__DOT__dot0__DOT__cut46;") == (
        "conv1",
        "dot:tree",
    )
    assert b("dut__DOT__conv1__DOT__reached", "") == ("conv1", "mvtu")
    assert b("dut__DOT__conv1_swg__DOT__buf", "") == ("conv1", "swg")
    assert b("dut__DOT__conv1_fifo__DOT__fifo__DOT__level", "") == ("conv1", "fifo")
    assert b("dut__DOT__dense9_dwc__DOT__count", "") == ("dense9", "dwc")
    assert b("harness__DOT__src_lfsr", "") == ("harness", "harness")
    assert b("dut__DOT__beat", "") == ("top", "top")
    # sim/twins.py's twins: the bit-planes are the products, the byte popcounts and sums the tree
    assert b("dut__DOT__conv1__DOT__dot3__DOT__tw_p2_0", "") == ("conv1", "dot:products")
    assert b("dut__DOT__conv1__DOT__dot3__DOT__tw_n1_0", "") == ("conv1", "dot:tree")
    # the harness inside the wrapper that makes the clock (hw/harness_top.harness_verilog)
    m = sim_profile.HIER.search("bitscale_harness__DOT__core__DOT__dut__DOT__conv1__DOT__acc5_0")
    assert m is not None and b(m.group(1), "") == ("conv1", "mvtu")


def test_statements_span_lines_and_temporaries_follow_the_last_block(tmp_path):
    cpp = tmp_path / "Vtop___024root__0.cpp"
    cpp.write_text(
        "void f() {\n"
        f"    vlSelfRef.{H}dut__DOT__conv1__DOT__dot0__DOT__prod6 \n"
        "        = (0x0fU & VL_MULS_III(4, a,\n"
        "                               b));\n"
        "    __Vtemp_1 = 3U;\n"
        f"    vlSelfRef.{H}dut__DOT__conv3_fifo__DOT__fifo__DOT__level = 0U;\n"
        "}\n"
    )
    (tmp_path / "Vtop___024root__0__Slow.cpp").write_text(f"    vlSelfRef.{H}dut__DOT__x = 1;\n")
    lines = sim_profile.line_blocks(tmp_path)
    assert all(lines[("Vtop___024root__0.cpp", k)][:2] == ("conv1", "dot:products") for k in (2, 3, 4))
    assert lines[("Vtop___024root__0.cpp", 5)][:2] == ("conv1", "dot:products")  # a temporary: the block before
    assert lines[("Vtop___024root__0.cpp", 6)][:2] == ("conv3", "fifo")
    assert not any(f.endswith("Slow.cpp") for f, _ in lines)  # run-once code is not per-cycle work
