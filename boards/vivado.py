"""Vivado project scripts for the Xilinx boards (PYNQ-Z1, ZCU104, Alveo U250).

Vivado is not needed to generate these files, only to run them. Written into
``BUILD_DIR/vivado/`` beside the core (``BUILD_DIR/bitscale_top.v``):

* ``bitscale_axis_wrap.v`` — the core behind AXI-DMA-friendly ports: ``aclk``,
  ``aresetn`` (active low), ``s_axis_*``/``m_axis_*`` with tdata widened to a
  width the AXI DMA accepts (8..1024, a power of two; extra input bits ignored,
  extra output bits zero) and ``m_axis_tkeep`` all ones; Xilinx interface
  attributes so IP integrator sees two AXI-Stream interfaces.
* ``create_project.tcl`` (PYNQ-Z1, ZCU104) — a project with a block design: the
  Zynq PS, an AXI DMA (no scatter-gather; MM2S -> core ``s_axis``, core
  ``m_axis`` -> S2MM) and the core as an RTL module reference, all on the PS
  clock (FCLK0 / pl_clk0 at 100 MHz); the DMA's AXI-Lite on the PS master
  port, its memory masters on HP0. Then the HDL wrapper and, with
  ``-tclargs bitstream``, the bitstream and the .hwh a PYNQ overlay needs.
* ``create_selftest_project.tcl`` (every Xilinx board) — the PL-only self-test:
  ``bitscale_selftest.v`` (ROMs + checker + core) in ``bitscale_board_top.v``
  (an MMCM making the accelerator clock from the oscillator — the clocking
  wizard's equivalent, no IP — with the reset held until it locks, power-on
  reset, LEDs, UART where the PL has one) with ``bitscale_<board>.xdc`` (the
  oscillator's create_clock and the MMCM output as ``accel_clk`` at the chosen
  clock, by default the board's clock the cost model quotes FPS at).

Guaranteed: every file the scripts name exists in the build directory; the
wrapper's ports match the core's Verilog header and design.json (tests parse both).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bitscale.errors import UserError
from bitscale.hw.frame import CORE_PORTS

DMA_WIDTHS = (8, 16, 32, 64, 128, 256, 512, 1024)


@dataclass(frozen=True)
class XilinxShell:
    """Pins of a Xilinx board for the self-test top (checked against the board's master XDC)."""

    clock_mhz: float  # the board oscillator used
    clock_pins: tuple[str, ...]  # (pin,) single-ended or (p, n) differential
    clock_iostandard: str
    clock_divide: int  # BUFGCE_DIV divide (UltraScale) to slow a fast oscillator
    leds: tuple[str, ...]
    led_iostandard: str
    button: str | None  # restarts the self-test
    button_iostandard: str | None
    uart_tx: str | None  # the FPGA's transmit pin, where the PL reaches a USB UART
    uart_iostandard: str | None
    ps: str | None  # "ps7" | "ps8" | None (no processing system)
    board_part: str | None = None  # Vivado board part for PS presets
    config: tuple[str, ...] = ()  # bitstream configuration properties


SHELLS = {
    # Digilent PYNQ-Z1: 125 MHz sysclk; LD0..LD3; BTN0. The USB UART belongs to the PS.
    "pynq-z1": XilinxShell(
        125.0,
        ("H16",),
        "LVCMOS33",
        1,
        ("R14", "P14", "N16", "M14"),
        "LVCMOS33",
        "D19",
        "LVCMOS33",
        None,
        None,
        "ps7",
        "www.digilentinc.com:pynq-z1:part0:1.0",
    ),
    # ZCU104: 125 MHz CLK_125 (LVDS); GPIO_LED_0..3; GPIO_PB_SW0. UARTs belong to the PS.
    "zcu104": XilinxShell(
        125.0,
        ("F23", "E23"),
        "LVDS",
        1,
        ("D5", "D6", "A5", "B5"),
        "LVCMOS33",
        "B4",
        "LVCMOS33",
        None,
        None,
        "ps8",
        "xilinx.com:zcu104:part0:1.1",
    ),
    # Alveo U250: 300 MHz SYSCLK0 (DIFF_SSTL12) divided to 150 MHz; three user LEDs; the
    # FPGA's UART transmit pin to the card's USB UART.
    "alveo-u250": XilinxShell(
        300.0,
        ("AY37", "AY38"),
        "DIFF_SSTL12",
        2,
        ("BC21", "BB21", "BA20"),
        "LVCMOS12",
        None,
        None,
        "BF18",
        "LVCMOS12",
        None,
        None,
        ("CFGBVS GND", "CONFIG_VOLTAGE 1.8", "BITSTREAM.CONFIG.SPI_BUSWIDTH 4"),
    ),
}

# LED index on the board -> bit of the self-test status (led[0]=done, [1]=pass, [2]=fail, [3:]=frames)
LED_STATUS = ("done", "pass", "fail", "frames[0]")

_DECL = re.compile(
    r"\b(input|output|inout)\s+(?:wire\s+|reg\s+|logic\s+)?(?:signed\s+)?"
    r"(?:\[\s*(\d+)\s*:\s*(\d+)\s*\]\s*)?([A-Za-z_][A-Za-z0-9_$]*)"
)


def verilog_ports(text: str, module: str) -> dict[str, tuple[str, int]]:
    """Ports of ``module`` in Verilog ``text``: name -> (direction, width); ANSI or non-ANSI headers."""
    m = re.search(rf"\bmodule\s+{re.escape(module)}\b(.*?)\bendmodule\b", text, re.S)
    if not m:
        raise ValueError(f"no module {module!r} in the Verilog")
    body = re.sub(r"//[^\n]*|/\*.*?\*/|\(\*.*?\*\)", " ", m.group(1), flags=re.S)
    ports = {}
    for d, hi, lo, name in _DECL.findall(body):
        width = abs(int(hi) - int(lo)) + 1 if hi else 1
        ports.setdefault(name, (d, width))
    return ports


def check_core_ports(core_verilog: str, frame) -> None:
    """UserError unless ``bitscale_top`` has exactly the agreed ports with the frame's tdata widths."""
    ports = verilog_ports(core_verilog, "bitscale_top")
    expect = {
        p: ("output" if p in ("s_axis_tready", "m_axis_tdata", "m_axis_tvalid", "m_axis_tlast") else "input", 1)
        for p in CORE_PORTS
    }
    expect["s_axis_tdata"] = ("input", frame.input.tdata_width)
    expect["m_axis_tdata"] = ("output", frame.output.tdata_width)
    if ports != expect:
        diff = sorted(set(ports.items()) ^ set(expect.items()))
        raise UserError(f"bitscale_top.v does not have the ports design.json describes: {diff}")


def dma_width(bits: int) -> int:
    """The narrowest AXI DMA stream width that holds ``bits``."""
    for w in DMA_WIDTHS:
        if w >= bits:
            return w
    raise UserError(
        f"a {bits}-bit AXI-Stream word is wider than the AXI DMA's 1024 bits; "
        f"use a folding with fewer elements per beat"
    )


def shell_clock_hz(board_name: str) -> float:
    s = SHELLS[board_name]
    return s.clock_mhz * 1e6 / s.clock_divide


def axis_wrap_verilog(in_width: int, out_width: int) -> str:
    """``bitscale_axis_wrap``: the core with DMA-width AXI-Stream ports, aclk/aresetn."""
    wi, wo = dma_width(in_width), dma_width(out_width)
    pad_out = f"{{{wo - out_width}'d0, core_m_tdata}}" if wo > out_width else "core_m_tdata"
    return f"""// Generated by bitscale: the accelerator core behind AXI DMA-width AXI-Stream ports.
// Core tdata: in {in_width} bits, out {out_width} bits; DMA tdata: in {wi}, out {wo}.
`timescale 1ns / 1ps
module bitscale_axis_wrap (
    (* X_INTERFACE_INFO = "xilinx.com:signal:clock:1.0 aclk CLK" *)
    (* X_INTERFACE_PARAMETER = "ASSOCIATED_BUSIF s_axis:m_axis, ASSOCIATED_RESET aresetn" *)
    input  wire aclk,
    (* X_INTERFACE_INFO = "xilinx.com:signal:reset:1.0 aresetn RST" *)
    (* X_INTERFACE_PARAMETER = "POLARITY ACTIVE_LOW" *)
    input  wire aresetn,
    (* X_INTERFACE_INFO = "xilinx.com:interface:axis:1.0 s_axis TDATA" *)
    input  wire [{wi - 1}:0] s_axis_tdata,
    (* X_INTERFACE_INFO = "xilinx.com:interface:axis:1.0 s_axis TVALID" *)
    input  wire s_axis_tvalid,
    (* X_INTERFACE_INFO = "xilinx.com:interface:axis:1.0 s_axis TREADY" *)
    output wire s_axis_tready,
    (* X_INTERFACE_INFO = "xilinx.com:interface:axis:1.0 s_axis TLAST" *)
    input  wire s_axis_tlast,
    (* X_INTERFACE_INFO = "xilinx.com:interface:axis:1.0 m_axis TDATA" *)
    output wire [{wo - 1}:0] m_axis_tdata,
    (* X_INTERFACE_INFO = "xilinx.com:interface:axis:1.0 m_axis TKEEP" *)
    output wire [{wo // 8 - 1}:0] m_axis_tkeep,
    (* X_INTERFACE_INFO = "xilinx.com:interface:axis:1.0 m_axis TVALID" *)
    output wire m_axis_tvalid,
    (* X_INTERFACE_INFO = "xilinx.com:interface:axis:1.0 m_axis TREADY" *)
    input  wire m_axis_tready,
    (* X_INTERFACE_INFO = "xilinx.com:interface:axis:1.0 m_axis TLAST" *)
    output wire m_axis_tlast
);
    wire [{out_width - 1}:0] core_m_tdata;
    assign m_axis_tdata = {pad_out};
    assign m_axis_tkeep = {{{wo // 8}{{1'b1}}}};
    bitscale_top core (
        .clk(aclk),
        .rst(~aresetn),
        .s_axis_tdata(s_axis_tdata[{in_width - 1}:0]),
        .s_axis_tvalid(s_axis_tvalid),
        .s_axis_tready(s_axis_tready),
        .s_axis_tlast(s_axis_tlast),
        .m_axis_tdata(core_m_tdata),
        .m_axis_tvalid(m_axis_tvalid),
        .m_axis_tready(m_axis_tready),
        .m_axis_tlast(m_axis_tlast)
    );
endmodule
"""


def shell_pll(board, clock_mhz: float | None = None):
    """The MMCM setting of the self-test's accelerator clock: the highest legal frequency at or below
    ``clock_mhz`` (default: the board's clock, the one the cost model's FPS is quoted at) from the
    board's oscillator (boards/pll.py, ranges in boards.FAMILY)."""
    from bitscale.boards.pll import pll_for

    return pll_for(board.family, SHELLS[board.name].clock_mhz, board.clock_mhz if clock_mhz is None else clock_mhz)


def _mmcm_verilog(pll, clk_in: str) -> list[str]:
    """The MMCM (Vivado's clocking-wizard equivalent, no IP needed) making ``clk`` from ``clk_in``, and
    the reset that holds until it locks: asserted at once, released two ``clk`` edges after LOCKED."""
    p = pll.primitive_params()
    return [
        f"    // {pll.primitive}: {pll.fin_mhz:g} MHz / {p['DIVCLK_DIVIDE']} * {p['CLKFBOUT_MULT_F']} = VCO "
        f"{pll.fvco_mhz:g} MHz, / {p['CLKOUT0_DIVIDE_F']} = {pll.fout_mhz:g} MHz accelerator clock",
        "    wire mmcm_fb_out, mmcm_fb, mmcm_out, mmcm_locked;",
        f"    {pll.primitive} #(.CLKIN1_PERIOD({1000 / pll.fin_mhz:.3f}), .DIVCLK_DIVIDE({p['DIVCLK_DIVIDE']}),",
        f"        .CLKFBOUT_MULT_F({float(p['CLKFBOUT_MULT_F']):.3f}), .CLKOUT0_DIVIDE_F({float(p['CLKOUT0_DIVIDE_F']):.3f}))",
        f"        mmcm (.CLKIN1({clk_in}), .CLKFBIN(mmcm_fb), .CLKFBOUT(mmcm_fb_out), .CLKOUT0(mmcm_out),",
        "              .LOCKED(mmcm_locked), .RST(1'b0), .PWRDWN(1'b0));",
        "    BUFG fb_bufg (.I(mmcm_fb_out), .O(mmcm_fb));     // feedback through a BUFG, as the clocking wizard",
        "    BUFG clk_bufg (.I(mmcm_out), .O(clk));",
        "    // reset until the MMCM locks: LOCKED synchronized to clk (asynchronous assert, synchronous release)",
        '    (* ASYNC_REG = "TRUE" *) reg [1:0] lock_sync = 2\'b00;',
        "    always @(posedge clk or negedge mmcm_locked)",
        "        if (!mmcm_locked) lock_sync <= 2'b00; else lock_sync <= {lock_sync[0], 1'b1};",
        "    wire locked = lock_sync[1];",
    ]


def board_top_verilog(board_name: str, pll=None) -> str:
    """``bitscale_board_top``: clock buffer, power-on reset, restart button, LEDs/UART around bitscale_selftest.

    ``pll`` (a :class:`~bitscale.boards.pll.PllConfig`, see :func:`shell_pll`): the self-test and the
    core run on the MMCM's output, held in reset until the MMCM locks; None: on the oscillator."""
    s = SHELLS[board_name]
    diff = len(s.clock_pins) == 2
    ports = ["    input  wire clk_p,\n    input  wire clk_n," if diff else "    input  wire clk,"]
    if s.button:
        ports.append("    input  wire btn,")
    if s.uart_tx:
        ports.append("    output wire uart_tx,")
    ports.append(f"    output wire [{len(s.leds) - 1}:0] led")
    if pll is not None:
        buf = (
            ["    wire clk_ibuf, clk;", "    IBUFDS clk_ibufds (.I(clk_p), .IB(clk_n), .O(clk_ibuf));"]
            if diff
            else ["    wire clk;"]
        )
        buf += _mmcm_verilog(pll, "clk_ibuf" if diff else "clk_pin")
        if not diff:
            ports[0] = "    input  wire clk_pin,"
    elif diff:
        buf = ["    wire clk_ibuf, clk;", "    IBUFDS clk_ibufds (.I(clk_p), .IB(clk_n), .O(clk_ibuf));"]
        if s.clock_divide > 1:
            buf.append(
                f"    BUFGCE_DIV #(.BUFGCE_DIVIDE({s.clock_divide})) clk_div "
                "(.I(clk_ibuf), .CE(1'b1), .CLR(1'b0), .O(clk));"
            )
        else:
            buf.append("    BUFG clk_bufg (.I(clk_ibuf), .O(clk));")
    else:
        buf = []
    por_rst = "(por != 4'hf)"
    btn = (
        (
            "    reg btn_s0 = 1'b0, btn_s1 = 1'b0;\n"
            "    always @(posedge clk) begin btn_s0 <= btn; btn_s1 <= btn_s0; end\n"
            f"    wire rst = {por_rst} | btn_s1;"
        )
        if s.button
        else f"    wire rst = {por_rst};"
    )
    por = "    reg [3:0] por = 4'h0;\n" + (
        "    always @(posedge clk) if (!locked) por <= 4'h0; else if (por != 4'hf) por <= por + 4'h1;"
        if pll is not None
        else "    always @(posedge clk) if (por != 4'hf) por <= por + 4'h1;"
    )
    clock_note = (
        f"{pll.fout_mhz:g} MHz from the {s.clock_mhz:g} MHz oscillator by {pll.primitive}"
        if pll is not None
        else f"{s.clock_mhz:g} MHz oscillator" + (f" / {s.clock_divide}" if s.clock_divide > 1 else "")
    )
    leds = "\n".join(f"    assign led[{i}] = status[{i}];  // {LED_STATUS[i]}" for i in range(len(s.leds)))
    uart = ",\n        .uart_tx(uart_tx)" if s.uart_tx else ""
    return f"""// Generated by bitscale: self-test top for {board_name}
// ({clock_note}).
`timescale 1ns / 1ps
module bitscale_board_top (
{chr(10).join(ports)}
);
{chr(10).join(buf)}
    // hold the test in reset for 15 cycles after configuration{" (after the lock)" if pll is not None else ""}{", and while the button is down" if s.button else ""}
{por}
{btn}
    wire [7:0] status;
    bitscale_selftest selftest (
        .clk(clk),
        .rst(rst),
        .led(status){uart}
    );
{leds}
endmodule
"""


def xdc(board_name: str, pll=None) -> str:
    """The self-test's constraints: pins, the oscillator's clock and (with ``pll``) the MMCM's output
    named ``accel_clk`` at the chosen frequency (a generated clock: Vivado times the core against it)."""
    s = SHELLS[board_name]
    period = 1000.0 / s.clock_mhz
    lines = [
        f"# Generated by bitscale: self-test top (bitscale_board_top) on {board_name}.",
        "# Pins follow the board's master XDC; LED i shows: "
        + ", ".join(f"{i}={LED_STATUS[i]}" for i in range(len(s.leds)))
        + ".",
    ]
    lines += [f"set_property {c} [current_design]" for c in s.config]
    if len(s.clock_pins) == 2:
        p, n = s.clock_pins
        lines += [
            f"set_property -dict {{PACKAGE_PIN {p} IOSTANDARD {s.clock_iostandard}}} [get_ports clk_p]",
            f"set_property -dict {{PACKAGE_PIN {n} IOSTANDARD {s.clock_iostandard}}} [get_ports clk_n]",
            f"create_clock -period {period:.3f} -name board_clk [get_ports clk_p]",
        ]
    else:
        port = "clk_pin" if pll is not None else "clk"
        lines += [
            f"set_property -dict {{PACKAGE_PIN {s.clock_pins[0]} IOSTANDARD {s.clock_iostandard}}} [get_ports {port}]",
            f"create_clock -period {period:.3f} -name board_clk [get_ports {port}]",
        ]
    if pll is not None:
        p = pll.primitive_params()
        lines += [
            f"# the accelerator clock: {pll.primitive} {pll.fin_mhz:g} MHz * {p['CLKFBOUT_MULT_F']} / "
            f"({p['DIVCLK_DIVIDE']} * {p['CLKOUT0_DIVIDE_F']}) = {pll.fout_mhz:g} MHz "
            f"(period {1000 / pll.fout_mhz:.3f} ns)",
            f"create_generated_clock -name accel_clk -source [get_pins mmcm/CLKIN1] "
            f"-multiply_by {p['CLKFBOUT_MULT_F']} -divide_by {p['DIVCLK_DIVIDE'] * p['CLKOUT0_DIVIDE_F']} "
            f"[get_pins mmcm/CLKOUT0]",
        ]
    for i, pin in enumerate(s.leds):
        lines.append(f"set_property -dict {{PACKAGE_PIN {pin} IOSTANDARD {s.led_iostandard}}} [get_ports {{led[{i}]}}]")
    lines.append("set_false_path -to [get_ports {led[*]}]")
    if s.button:
        lines += [
            f"set_property -dict {{PACKAGE_PIN {s.button} IOSTANDARD {s.button_iostandard}}} [get_ports btn]",
            "set_false_path -from [get_ports btn]",
        ]
    if s.uart_tx:
        lines += [
            f"set_property -dict {{PACKAGE_PIN {s.uart_tx} IOSTANDARD {s.uart_iostandard}}} [get_ports uart_tx]",
            "set_false_path -to [get_ports uart_tx]",
        ]
    return "\n".join(lines) + "\n"


_TCL_HEAD = """# Generated by bitscale. Run: vivado -mode batch -source {script} [-tclargs bitstream]
# Creates the Vivado project in ./{proj}/ next to this script.
set here [file normalize [file dirname [info script]]]
set build [file normalize [file join $here ..]]
set do_bitstream [expr {{[llength $argv] > 0 && [lindex $argv 0] eq "bitstream"}}]
proc latest_ip {{name}} {{
    # the newest installed version of an IP (the scripts do not pin a Vivado release)
    set defs [lsort -dictionary [get_ipdefs -all "xilinx.com:ip:${{name}}:*"]]
    if {{[llength $defs] == 0}} {{ error "IP xilinx.com:ip:$name is not installed" }}
    return [lindex $defs end]
}}
create_project {proj} [file join $here {proj}] -part {part} -force
"""


def project_tcl(board, in_width: int, out_width: int, clock_mhz: float = 100.0) -> str:
    """create_project.tcl: PS + AXI DMA + core block design (PYNQ-Z1, ZCU104), all on the PS's fabric
    clock asked for ``clock_mhz`` (the PS's own PLL and dividers make it; Vivado reports the actual)."""
    s = SHELLS[board.name]
    if s.ps is None:
        raise ValueError(f"{board.name} has no processing system; use the self-test project")
    wi, wo = dma_width(in_width), dma_width(out_width)
    t = [
        _TCL_HEAD.format(script="create_project.tcl", proj="bitscale_" + board.name.replace("-", "_"), part=board.part)
    ]
    # Board files (when installed) give the PS its board preset (DDR, MIO); on a
    # PYNQ image the boot loader has already configured the PS, so either works.
    t.append(f"set preset [expr {{![catch {{set_property board_part {s.board_part} [current_project]}}]}}]\n")
    t.append("""add_files -norecurse [list [file join $build bitscale_top.v] [file join $here bitscale_axis_wrap.v]]
update_compile_order -fileset sources_1
create_bd_design bitscale_bd
""")
    if s.ps == "ps7":
        t.append(
            """set ps [create_bd_cell -type ip -vlnv [latest_ip processing_system7] ps]
apply_bd_automation -rule xilinx.com:bd_rule:processing_system7 -config [list make_external "FIXED_IO, DDR" apply_board_preset $preset] $ps
set_property -dict [list CONFIG.PCW_USE_S_AXI_HP0 {1} CONFIG.PCW_USE_M_AXI_GP0 {1} CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ {@MHZ@}] $ps
set ps_master /ps/M_AXI_GP0
set ps_slave /ps/S_AXI_HP0
set ps_clk [get_bd_pins ps/FCLK_CLK0]
set ps_resetn [get_bd_pins ps/FCLK_RESET0_N]
""".replace("@MHZ@", f"{clock_mhz:g}")
        )
    else:
        t.append(
            """set ps [create_bd_cell -type ip -vlnv [latest_ip zynq_ultra_ps_e] ps]
apply_bd_automation -rule xilinx.com:bd_rule:zynq_ultra_ps_e -config [list apply_board_preset $preset] $ps
set_property -dict [list CONFIG.PSU__USE__M_AXI_GP0 {1} CONFIG.PSU__USE__M_AXI_GP1 {0} CONFIG.PSU__USE__S_AXI_GP2 {1} CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ {@MHZ@}] $ps
set ps_master /ps/M_AXI_HPM0_FPD
set ps_slave /ps/S_AXI_HP0_FPD
set ps_clk [get_bd_pins ps/pl_clk0]
set ps_resetn [get_bd_pins ps/pl_resetn0]
""".replace("@MHZ@", f"{clock_mhz:g}")
        )
    t.append(f"""# the DMA: simple mode, one stream each way, widths from design.json (core tdata {in_width} -> {wi}, {out_width} -> {wo})
set dma [create_bd_cell -type ip -vlnv [latest_ip axi_dma] dma]
set_property -dict [list CONFIG.c_include_sg {{0}} CONFIG.c_sg_include_stscntrl_strm {{0}} CONFIG.c_sg_length_width {{26}} \\
    CONFIG.c_m_axis_mm2s_tdata_width {{{wi}}} CONFIG.c_s_axis_s2mm_tdata_width {{{wo}}} \\
    CONFIG.c_mm2s_burst_size {{16}} CONFIG.c_s2mm_burst_size {{16}}] $dma
# the core as an RTL module reference (bitscale_axis_wrap around bitscale_top)
set core [create_bd_cell -type module -reference bitscale_axis_wrap core]
set rst [create_bd_cell -type ip -vlnv [latest_ip proc_sys_reset] core_reset]
connect_bd_net $ps_clk [get_bd_pins core_reset/slowest_sync_clk] [get_bd_pins core/aclk]
connect_bd_net $ps_resetn [get_bd_pins core_reset/ext_reset_in]
connect_bd_net [get_bd_pins core_reset/peripheral_aresetn] [get_bd_pins core/aresetn]
connect_bd_intf_net [get_bd_intf_pins dma/M_AXIS_MM2S] [get_bd_intf_pins core/s_axis]
connect_bd_intf_net [get_bd_intf_pins core/m_axis] [get_bd_intf_pins dma/S_AXIS_S2MM]
apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config [list Clk_master {{Auto}} Clk_slave {{Auto}} Clk_xbar {{Auto}} Master $ps_master Slave {{/dma/S_AXI_LITE}} intc_ip {{New AXI Interconnect}} master_apm {{0}}] [get_bd_intf_pins dma/S_AXI_LITE]
apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config [list Clk_master {{Auto}} Clk_slave {{Auto}} Clk_xbar {{Auto}} Master {{/dma/M_AXI_MM2S}} Slave $ps_slave intc_ip {{Auto}} master_apm {{0}}] [get_bd_intf_pins $ps_slave]
apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config [list Clk_master {{Auto}} Clk_slave {{Auto}} Clk_xbar {{Auto}} Master {{/dma/M_AXI_S2MM}} Slave $ps_slave intc_ip {{Auto}} master_apm {{0}}] [get_bd_intf_pins dma/M_AXI_S2MM]
assign_bd_address
validate_bd_design
save_bd_design
set wrapper [make_wrapper -files [get_files bitscale_bd.bd] -top]
add_files -norecurse $wrapper
set_property top bitscale_bd_wrapper [current_fileset]
update_compile_order -fileset sources_1
if {{$do_bitstream}} {{
    launch_runs impl_1 -to_step write_bitstream -jobs 4
    wait_on_run impl_1
    # PYNQ's Overlay wants the .bit and the .hwh side by side with one name
    set bit [lindex [glob [file join $here {"bitscale_" + board.name.replace("-", "_")} *.runs impl_1 bitscale_bd_wrapper.bit]] 0]
    # the hand-off file is under .gen/ since Vivado 2020.2, under .srcs/ before
    set hwh [lindex [glob -nocomplain [file join $here {"bitscale_" + board.name.replace("-", "_")} *.gen sources_1 bd bitscale_bd hw_handoff bitscale_bd.hwh] \\
                                      [file join $here {"bitscale_" + board.name.replace("-", "_")} *.srcs sources_1 bd bitscale_bd hw_handoff bitscale_bd.hwh]] 0]
    file copy -force $bit [file join $here bitscale.bit]
    file copy -force $hwh [file join $here bitscale.hwh]
    puts "bitscale: wrote [file join $here bitscale.bit] and bitscale.hwh"
}}
""")
    return "".join(t)


def selftest_tcl(board) -> str:
    """create_selftest_project.tcl: the PL-only self-test (bitscale_board_top) with its XDC."""
    proj = "bitscale_selftest_" + board.name.replace("-", "_")
    return (
        _TCL_HEAD.format(script="create_selftest_project.tcl", proj=proj, part=board.part)
        + f"""add_files -norecurse [list [file join $build bitscale_top.v] [file join $here bitscale_selftest.v] [file join $here bitscale_board_top.v]]
add_files -fileset constrs_1 -norecurse [file join $here bitscale_{board.name}.xdc]
set_property top bitscale_board_top [current_fileset]
update_compile_order -fileset sources_1
if {{$do_bitstream}} {{
    launch_runs impl_1 -to_step write_bitstream -jobs 4
    wait_on_run impl_1
    file copy -force [glob [file join $here {proj} *.runs impl_1 bitscale_board_top.bit]] [file join $here bitscale_selftest.bit]
    puts "bitscale: wrote [file join $here bitscale_selftest.bit]"
}}
"""
    )


def write_vivado(out: Path, board, frame, rom, core_verilog: str, *, clock_mhz: float | None = None) -> list[str]:
    """Write the Vivado files for ``board`` into ``out`` (a folder); returns the file names written.

    The self-test runs at :func:`shell_pll` (``clock_mhz``, default the board's clock) from an MMCM; the
    PS project's fabric clock (FCLK0 / pl_clk0) is asked for the same frequency."""
    from bitscale.boards.board_top import selftest_verilog
    from bitscale.boards.uart_tx import divisor_for

    if board.name not in SHELLS:
        raise UserError(f"no Vivado shell for board {board.name!r}; Xilinx boards: {', '.join(SHELLS)}")
    s = SHELLS[board.name]
    check_core_ports(core_verilog, frame)
    pll = shell_pll(board, clock_mhz)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "bitscale_axis_wrap.v": axis_wrap_verilog(frame.input.tdata_width, frame.output.tdata_width),
        "bitscale_board_top.v": board_top_verilog(board.name, pll),
        f"bitscale_{board.name}.xdc": xdc(board.name, pll),
        "create_selftest_project.tcl": selftest_tcl(board),
    }
    clk = pll.fout_hz
    files["bitscale_selftest.v"] = selftest_verilog(
        frame,
        rom,
        uart_divisor=divisor_for(clk) if s.uart_tx else None,
        repeat_cycles=int(clk) if s.uart_tx else 0,
        timeout_cycles=int(clk),
    )
    if s.ps:
        files["create_project.tcl"] = project_tcl(
            board, frame.input.tdata_width, frame.output.tdata_width, clock_mhz=pll.fout_mhz
        )
    for name, text in files.items():
        (out / name).write_text(text)
    return sorted(files)
