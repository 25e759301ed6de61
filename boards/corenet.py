"""The accelerator core synthesized once per board build (issue #13: the clock search re-runs only the
board top's small synthesis and nextpnr per candidate clock).

``bitscale build`` searches the fastest PLL clock by building at up to five clocks. What changes
between them is the board top (the PLL's parameters, the UART divisor, the self-test's timers); the
core (``bitscale_top``, nearly all the logic) is the same Verilog. So :func:`core_netlist` runs Yosys
on the core once (``synth_<family> -top bitscale_top``, cached in the build folder by the hash of
what it was made from), each candidate's board top is synthesized with the core as a blackbox
(:func:`core_stub`), and :func:`merge` puts the core's netlist into the board top's JSON before
nextpnr (which reads hierarchical netlists). On ECP5 the core netlist gets its block RAM output
registers packed first (boards/regpack.py).

``python -m bitscale.boards.corenet BOARD_JSON CORE_JSON`` merges in place (the nextpnr wrapper
script of a board build calls it).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

CORE = "bitscale_top"
CACHE_DIR = "board_build.core"  # in the build folder: core.json + key.json


def core_ports(design: dict) -> dict:
    """design.json's ``ports`` ({name: {dir, width}}), or (a hand-made build folder without them) the
    core's ports (hw/frame.CORE_PORTS) with the data widths of its ``frame``."""
    if design.get("ports"):
        return design["ports"]
    from bitscale.hw.frame import AXIS_OUTPUTS, CORE_PORTS, FrameFormat

    frame = FrameFormat.from_json(design["frame"])
    widths = {"s_axis_tdata": frame.input.tdata_width, "m_axis_tdata": frame.output.tdata_width}
    return {p: {"dir": "out" if p in AXIS_OUTPUTS else "in", "width": widths.get(p, 1)} for p in CORE_PORTS}


def core_stub(ports: dict, top: str = CORE) -> str:
    """A Verilog blackbox of the core with design.json's ports ({name: {dir, width}})."""
    decl = []
    for name, p in ports.items():
        d = "input" if p["dir"] == "in" else "output"
        w = int(p["width"])
        decl.append(f"  {d} {'' if w == 1 else f'[{w - 1}:0] '}{name}")
    return f"(* blackbox *)\nmodule {top}(\n" + ",\n".join(decl) + "\n);\nendmodule\n"


def synth_script(family: str, dsp: bool, top: str = CORE) -> str:
    nodsp = " -nodsp" if (family == "ecp5" and not dsp) else ""
    return f"read_verilog core.v; synth_{family} -top {top}{nodsp}; write_json core.json"


def core_netlist(bdir: Path, family: str, verilog_text: str, dsp: bool, run_yosys, memory_files=()) -> Path:
    """BUILD_DIR/board_build.core/core.json for ``verilog_text`` (the core as the family needs it),
    made by ``run_yosys(script, cwd)`` unless a current one is cached. Returns its path."""
    cache = Path(bdir) / CACHE_DIR
    key = hashlib.sha256(
        json.dumps(
            {
                "v": verilog_text,
                "family": family,
                "dsp": dsp,
                "script": synth_script(family, dsp),
                "mem": {n: (Path(bdir) / n).read_text() for n in memory_files},
                "flow": "regpack-retime" if family == "ecp5" else "",
            }
        ).encode()
    ).hexdigest()
    out = cache / "core.json"
    kf = cache / "key.json"
    if out.is_file() and kf.is_file():
        try:
            if json.loads(kf.read_text()).get("key") == key:
                return out
        except ValueError:
            pass
    cache.mkdir(parents=True, exist_ok=True)
    for f in (out, kf):
        f.unlink(missing_ok=True)
    (cache / "core.v").write_text(verilog_text)
    for n in memory_files:  # $readmemh images, read relative to Yosys' working folder
        (cache / n).write_text((Path(bdir) / n).read_text())
    run_yosys(synth_script(family, dsp), cache)
    net = json.loads((cache / "core.json").read_text())
    stats = {}
    if family == "ecp5":
        from bitscale.boards.regpack import pack_bram_output_registers

        stats = pack_bram_output_registers(net)
    for mod in net.get("modules", {}).values():  # the board top is the netlist's top
        mod.get("attributes", {}).pop("top", None)
    out.write_text(json.dumps(net))
    kf.write_text(json.dumps({"key": key, "regpack": stats}))
    return out


def merge(board_json: Path, core_json: Path, top: str = CORE) -> None:
    """Replace the core's blackbox in ``board_json`` by the core netlist of ``core_json`` (in place)."""
    board = json.loads(Path(board_json).read_text())
    core = json.loads(Path(core_json).read_text())
    mods = board.setdefault("modules", {})
    if top not in core.get("modules", {}):
        raise ValueError(f"{core_json} has no module {top}")
    for name, mod in core["modules"].items():
        if name == top or name not in mods:
            mods[name] = mod
    Path(board_json).write_text(json.dumps(board))


if __name__ == "__main__":
    merge(Path(sys.argv[1]), Path(sys.argv[2]))
