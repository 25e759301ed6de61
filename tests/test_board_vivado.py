"""Xilinx boards: the Vivado scripts, constraints and wrappers (Vivado itself is not here).

What can be checked without Vivado is checked: every file a script names
exists, the DMA widths in the Tcl equal the wrapper's ports, the wrapper and
the self-test top instantiate the core with exactly the ports its Verilog
header and design.json declare, the XDC constrains exactly the board top's
ports, and everything lints with Verilator (Xilinx primitives stubbed).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bitscale.errors import UserError  # noqa: E402

XILINX = ["pynq-z1", "zcu104", "alveo-u250"]


@pytest.fixture(scope="module")
def core_dir(tmp_path_factory):
    """A generated core (random fc, input 64 pixels) without board files."""
    from bitscale.hw.folding import Folding, LayerFolding
    from bitscale.hw.generate import generate
    from bitscale.nn.random_net import random_fc

    net = random_fc([16], 2, 2, in_features=64, seed=3)
    # 4 pixels a beat (32-bit tdata); 5 accumulators a beat: the output needs padding to a DMA width
    folding = Folding((LayerFolding("dense0", 4, 4, "parallel"), LayerFolding("dense1", 5, 8, "parallel")))
    d = tmp_path_factory.mktemp("core") / "build"
    generate(net, folding, d)
    return d


def _board_dir(core_dir: Path, tmp: Path, board: str) -> Path:
    import shutil

    from bitscale.boards.board import add_board

    d = tmp / board
    shutil.copytree(core_dir, d)
    add_board(d, board, frames=4, log=lambda *a: None)
    return d


def _tcl_files(tcl: str, d: Path) -> list[Path]:
    """Source and constraint files a script adds ([file join $build X] / [file join $here X] on add_files lines)."""
    out = []
    for line in tcl.splitlines():
        if line.startswith("add_files"):
            for base, name in re.findall(r"\[file join \$(build|here) ([A-Za-z0-9_.\-]+)\]", line):
                out.append((d if base == "build" else d / "vivado") / name)
    return out


def _verilator():
    from bitscale.sim.runner import setup_path

    setup_path()
    return "verilator"


STUBS = """
module IBUFDS(input I, input IB, output O); assign O = I; endmodule
module BUFG(input I, output O); assign O = I; endmodule
module BUFGCE_DIV #(parameter BUFGCE_DIVIDE = 1) (input I, input CE, input CLR, output O); assign O = I; endmodule
module MMCME2_BASE #(parameter real CLKIN1_PERIOD = 0.0, parameter DIVCLK_DIVIDE = 1,
    parameter real CLKFBOUT_MULT_F = 5.0, parameter real CLKOUT0_DIVIDE_F = 1.0) (input CLKIN1, input CLKFBIN,
    output CLKFBOUT, output CLKOUT0, output LOCKED, input RST, input PWRDWN);
  assign CLKOUT0 = CLKIN1; assign CLKFBOUT = CLKFBIN; assign LOCKED = 1'b1;
endmodule
module MMCME4_BASE #(parameter real CLKIN1_PERIOD = 0.0, parameter DIVCLK_DIVIDE = 1,
    parameter real CLKFBOUT_MULT_F = 5.0, parameter real CLKOUT0_DIVIDE_F = 1.0) (input CLKIN1, input CLKFBIN,
    output CLKFBOUT, output CLKOUT0, output LOCKED, input RST, input PWRDWN);
  assign CLKOUT0 = CLKIN1; assign CLKFBOUT = CLKFBIN; assign LOCKED = 1'b1;
endmodule
"""


@pytest.mark.slow  # the module's core takes seconds to generate
@pytest.mark.parametrize("board", XILINX)
def test_vivado_files(core_dir, tmp_path, board):
    from bitscale.boards import get
    from bitscale.hw.frame import FrameFormat
    from bitscale.boards.vivado import dma_width, shell as shell_of, verilog_ports

    d = _board_dir(core_dir, tmp_path, board)
    v = d / "vivado"
    doc = json.loads((d / "board.json").read_text())
    design = json.loads((d / "design.json").read_text())
    frame = FrameFormat.from_json(design["frame"])
    shell = shell_of(board)
    assert sorted(p.name for p in v.iterdir()) == doc["vivado"]

    # the core's Verilog header == design.json's ports
    core = verilog_ports((d / "bitscale_top.v").read_text(), "bitscale_top")
    assert core == {n: ({"in": "input", "out": "output"}[p["dir"]], p["width"]) for n, p in design["ports"].items()}
    assert core["s_axis_tdata"][1] == frame.input.tdata_width == 32  # 4 pixels
    assert core["m_axis_tdata"][1] == frame.output.tdata_width
    assert frame.output.tdata_width not in (8, 16, 32, 64, 128)

    scripts = ["create_selftest_project.tcl"] + (["create_project.tcl"] if shell.ps else [])
    assert (v / "create_project.tcl").exists() == bool(shell.ps)
    for script in scripts:
        tcl = (v / script).read_text()
        files = _tcl_files(tcl, d)
        assert files and all(f.is_file() for f in files), [f for f in files if not f.is_file()]
        names = {f.name for f in files}
        assert "bitscale_top.v" in names
        assert names >= (
            {"bitscale_axis_wrap.v"}
            if script == "create_project.tcl"
            else {"bitscale_selftest.v", "bitscale_board_top.v", f"bitscale_{board}.xdc"}
        )
        assert f"-part {get(board).part}" in tcl
        assert tcl.count("{") == tcl.count("}") and tcl.count("[") == tcl.count("]")

    if shell.ps:
        tcl = (v / "create_project.tcl").read_text()
        wrap = verilog_ports((v / "bitscale_axis_wrap.v").read_text(), "bitscale_axis_wrap")
        wi = int(re.search(r"c_m_axis_mm2s_tdata_width \{(\d+)\}", tcl).group(1))
        wo = int(re.search(r"c_s_axis_s2mm_tdata_width \{(\d+)\}", tcl).group(1))
        assert (wi, wo) == (dma_width(frame.input.tdata_width), dma_width(frame.output.tdata_width))
        assert wrap["s_axis_tdata"] == ("input", wi) and wrap["m_axis_tdata"] == ("output", wo)
        assert wrap["m_axis_tkeep"] == ("output", wo // 8)
        assert {
            "aclk",
            "aresetn",
            "s_axis_tvalid",
            "s_axis_tready",
            "s_axis_tlast",
            "m_axis_tvalid",
            "m_axis_tready",
            "m_axis_tlast",
        } <= set(wrap)
        assert "-reference bitscale_axis_wrap" in tcl
        assert "dma/M_AXIS_MM2S] [get_bd_intf_pins core/s_axis]" in tcl
        assert "core/m_axis] [get_bd_intf_pins dma/S_AXIS_S2MM]" in tcl
        assert ("processing_system7" if shell.ps == "ps7" else "zynq_ultra_ps_e") in tcl
        # the wrapper drives every core port, by name
        inst = re.search(r"bitscale_top core \((.*?)\);", (v / "bitscale_axis_wrap.v").read_text(), re.S).group(1)
        assert set(re.findall(r"\.(\w+)\(", inst)) == set(core)

    # XDC constrains exactly the self-test board top's ports
    top = verilog_ports((v / "bitscale_board_top.v").read_text(), "bitscale_board_top")
    xdc = (v / f"bitscale_{board}.xdc").read_text()
    constrained = set(re.findall(r"PACKAGE_PIN \S+ IOSTANDARD \S+\} \[get_ports \{?([A-Za-z_]+)", xdc))
    assert constrained == set(top)
    assert top["led"] == ("output", len(shell.leds))
    assert len(re.findall(r"get_ports \{led\[\d\]\}", xdc)) == len(shell.leds)
    assert re.search(r"create_clock -period [\d.]+ -name board_clk", xdc)
    assert ("uart_tx" in top) == bool(shell.uart_tx)
    st = verilog_ports((v / "bitscale_selftest.v").read_text(), "bitscale_selftest")
    assert st["led"] == ("output", 8) and st["clk"] == ("input", 1) and st["rst"] == ("input", 1)


@pytest.mark.verilator
@pytest.mark.parametrize("board", ["pynq-z1", "alveo-u250"])
def test_vivado_verilog_lints(core_dir, tmp_path, board):
    """verilator --lint-only: the core, the DMA wrapper, and the self-test board top (primitives stubbed)."""
    d = _board_dir(core_dir, tmp_path, board)
    v = d / "vivado"
    (tmp_path / "stubs.v").write_text(STUBS)
    exe = _verilator()
    runs = [
        ["--top-module", "bitscale_top", str(d / "bitscale_top.v")],
        [
            "--top-module",
            "bitscale_board_top",
            str(tmp_path / "stubs.v"),
            str(v / "bitscale_board_top.v"),
            str(v / "bitscale_selftest.v"),
            str(d / "bitscale_top.v"),
        ],
    ]
    if (v / "bitscale_axis_wrap.v").exists():
        runs.append(["--top-module", "bitscale_axis_wrap", str(v / "bitscale_axis_wrap.v"), str(d / "bitscale_top.v")])
    for args in runs:
        r = subprocess.run([exe, "--lint-only", "-Wno-fatal", *args], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
        assert "%Error" not in r.stderr, r.stderr[-3000:]


@pytest.mark.slow
def test_core_port_mismatch_is_reported(core_dir, tmp_path):
    from bitscale.hw.frame import FrameFormat, StreamFormat
    from bitscale.boards.vivado import check_core_ports

    text = (core_dir / "bitscale_top.v").read_text()
    design = json.loads((core_dir / "design.json").read_text())
    frame = FrameFormat.from_json(design["frame"])
    check_core_ports(text, frame)
    wrong = FrameFormat(StreamFormat(8, 8, False, 8), frame.output)
    with pytest.raises(UserError, match="s_axis_tdata"):
        check_core_ports(text, wrong)


def test_verilog_ports_parses_both_header_styles():
    from bitscale.boards.vivado import verilog_ports

    ansi = "module a (input wire clk, input [7:0] d, output reg [3:0] q); endmodule"
    old = "module b(clk, d, q);\n  input clk;\n  wire clk;\n  input [15:0] d;\n  output [0:0] q;\nendmodule"
    assert verilog_ports(ansi, "a") == {"clk": ("input", 1), "d": ("input", 8), "q": ("output", 4)}
    assert verilog_ports(old, "b") == {"clk": ("input", 1), "d": ("input", 16), "q": ("output", 1)}
    with pytest.raises(ValueError):
        verilog_ports(ansi, "c")


def test_dma_width():
    from bitscale.boards.vivado import dma_width

    assert [dma_width(b) for b in (1, 8, 9, 24, 40, 64, 65, 1024)] == [8, 8, 16, 32, 64, 64, 128, 1024]
    with pytest.raises(UserError, match="1025-bit"):
        dma_width(1025)
