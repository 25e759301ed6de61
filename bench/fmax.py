"""fmax of benchmark designs after place and route: design x family x fmax (issue #13).

    .venv/bin/python bench/fmax.py [--designs a,b] [--families ecp5,ice40] [--rerun] [--cached-only]

Each design is generated from the working tree's hw/, synthesized with Yosys and placed and routed
with yowasp-nextpnr (boards/synth.synth: a few-pin wrapper, the accelerator's own hierarchy kept)
on the family's benchmark part: ECP5 LFE5U-85F speed 6 (ULX3S-85F), iCE40UP5K (iCEBreaker), with
nextpnr's clock target at the goal (150 / 50 MHz) so the placer works for it. ECP5 designs with
integer products run twice, LUT products (mac "lut") and DSP products (mac "dsp", MULT18X18D).

Results are cached per (design, family) in bench/results/fmax_synth/ with the hash of the Verilog they
were measured on (the design is generated again, seconds, to compare): a re-run only places what
changed (``--rerun`` forces, ``--cached-only`` starts no tool and marks changed designs stale).
One tool at a time (the machine is shared). Prints the table and writes bench/results/fmax.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cost_common import Design, ROOT, progress, write_result  # noqa: E402

from bitscale.hw.inventory import ICE40_CUT_LEVEL  # noqa: E402

CACHE = ROOT / "bench" / "results" / "fmax_synth"
BUILD = Path("/tmp/bitscale_fmax_builds")
GOAL = {"ecp5": 150.0, "ice40": 50.0}
# the flow per family (a cached result of another flow is re-measured): ECP5 "regpack-retime" = DP16KD
# output registers packed after Yosys (boards/regpack.py), registers with a synchronous reset too, and
# the registers behind a deep memory's block-select mux moved in front of it (retime_bram_read_muxes);
# iCE40 "cut1" = the core elaborated with a register after every dot-product adder level
# (boards/build.core_verilog, hw/inventory.ICE40_CUT_LEVEL; the Verilog hash is the default design's)
FLOW = {"ecp5": "regpack-retime", "ice40": f"cut{ICE40_CUT_LEVEL}"}
TIMEOUT_S = 2400.0  # Yosys + nextpnr per design (placement alone took ~10 min at load 11 on 2 cores)
BOARD = {"ecp5": "ulx3s-85f", "ice40": "icebreaker"}
P, BS = "parallel", "bit-serial"

_TFC = (64, 64, 64)


def _fc(name, w, a, fold, widths=_TFC, n_in=784):
    return Design(name, ("fc", widths, w, a, n_in, 0), fold)


# TFC/SFC-size fc networks (784-64x3-10, 784-256x3-10) and a quarter-width CNV (32x32x3 conv
# 16,16,P,32,32,P,64,64, FC 128,128,10): the datapaths of the FINN benchmarks at CPU-friendly size.
_CNV_Q = ("cnv", (32, 32, 3), (16, 16, "P", 32, 32, "P", 64, 64), (128, 128))
DESIGNS = {
    "tfc_w1a1": (_fc("fmax_tfc_w1a1", 1, 1, ((8, 16, P), (8, 16, P), (8, 16, P), (2, 16, P))), ("ecp5",)),
    "tfc_w2a2_lut": (
        _fc("fmax_tfc_w2a2_lut", 2, 2, ((4, 16, P, "lut"), (4, 16, P, "lut"), (4, 16, P, "lut"), (2, 16, P, "lut"))),
        ("ecp5",),
    ),
    # DSP products where they fit the part (ECP5-85F: 156 MULT18X18D; all four layers would need 224):
    # the first layer (2-bit weights x 8-bit pixels) and the last in MULT18X18Ds, 96 in all
    "tfc_w2a2_dsp": (
        _fc("fmax_tfc_w2a2_dsp", 2, 2, ((4, 16, P, "dsp"), (4, 16, P, "lut"), (4, 16, P, "lut"), (2, 16, P, "dsp"))),
        ("ecp5",),
    ),
    "sfc_w2a2_bs": (
        _fc("fmax_sfc_w2a2_bs", 2, 2, ((4, 16, BS), (4, 16, BS), (4, 16, BS), (2, 16, BS)), widths=(256, 256, 256)),
        ("ecp5",),
    ),
    "tfc_w4a4_lut": (
        _fc("fmax_tfc_w4a4_lut", 4, 4, ((2, 16, P, "lut"), (2, 16, P, "lut"), (2, 16, P, "lut"), (2, 8, P, "lut"))),
        ("ecp5",),
    ),
    "cnv_q_w2a2_lut": (
        Design(
            "fmax_cnv_q_w2a2_lut",
            (*_CNV_Q, 2, 2, 0),
            (
                (4, 3, P, "lut"),
                (4, 16, P, "lut"),
                (4, 16, P, "lut"),
                (4, 16, P, "lut"),
                (2, 16, P, "lut"),
                (2, 16, P, "lut"),
                (2, 16, P, "lut"),
                (2, 16, P, "lut"),
                (2, 16, P, "lut"),
            ),
        ),
        ("ecp5",),
    ),
    # iCE40UP5K (5,280 LUTs): the board self-test's size (fc 64-16-16-10) and a TFC w1a1 at small folding
    "tiny_w2a2_bs": (
        _fc("fmax_tiny_w2a2_bs", 2, 2, ((2, 8, BS), (2, 8, BS), (2, 8, BS)), widths=(16, 16), n_in=64),
        ("ice40", "ecp5"),
    ),
    "tfc_w1a1_small": (_fc("fmax_tfc_w1a1_small", 1, 1, ((2, 8, P), (2, 8, P), (2, 8, P), (1, 8, P))), ("ice40",)),
}


def generated(d: Design) -> tuple[Path, str]:
    """Generate ``d`` from the working tree's hw/ (a fresh build folder); (folder, hash of its Verilog)."""
    from bitscale.hw.generate import generate

    bd = BUILD / d.name
    if bd.exists():
        shutil.rmtree(bd)
    net = d.network()
    generate(net, d.folding(net), bd)
    return bd, hashlib.sha256((bd / "bitscale_top.v").read_bytes()).hexdigest()[:16]


def measure(d: Design, family: str, rerun: bool, cached_only: bool) -> dict | None:
    from bitscale.boards.synth import synth

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{d.name}.{family}.json"
    bd, version = generated(d)
    if path.is_file() and not rerun:
        doc = json.loads(path.read_text())
        current = doc.get("verilog_hash") == version and doc.get("flow") == FLOW[family]
        if current or cached_only:
            return {**doc, "current": current}
    if cached_only:
        return None
    t0 = time.time()
    progress(f"[{time.strftime('%H:%M:%S')}] {d.name} {family}: yosys + nextpnr at {GOAL[family]:g} MHz ...")
    try:
        r = synth(
            bd, family, board=BOARD[family], place=True, freq_mhz=GOAL[family], log=lambda *a: None, timeout=TIMEOUT_S
        )
    except Exception as e:  # a bench keeps going: record the failure
        progress(f"  FAILED: {e}")
        return None
    keep = {
        k: r.get(k)
        for k in (
            "LUT",
            "FF",
            "BRAM18",
            "bram_kind",
            "DSP",
            "fmax_mhz",
            "freq_mhz",
            "critical_path",
            "regpack",
            "seconds",
            "tools",
            "board",
            "part",
        )
    }
    doc = {
        "design": d.name,
        "family": family,
        "verilog_hash": version,
        "flow": FLOW[family],
        **keep,
        "wall_s": round(time.time() - t0, 1),
    }
    path.write_text(json.dumps(doc, indent=1))
    progress(
        f"  fmax {doc['fmax_mhz']} MHz, LUT {doc['LUT']} FF {doc['FF']} DSP {doc['DSP']} "
        f"({doc['wall_s']} s); critical: {doc['critical_path']}"
    )
    return {**doc, "current": True}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--designs", default=",".join(DESIGNS), help="comma-separated names")
    ap.add_argument("--families", default="ecp5,ice40")
    ap.add_argument("--rerun", action="store_true", help="place again even where a current result is cached")
    ap.add_argument("--cached-only", action="store_true", help="report cached results only, start no tool")
    args = ap.parse_args(argv)
    names = [n for n in args.designs.split(",") if n]
    unknown = [n for n in names if n not in DESIGNS]
    if unknown:
        print(f"unknown design(s) {unknown}; known: {', '.join(DESIGNS)}", file=sys.stderr)
        return 2
    fams = [f for f in args.families.split(",") if f]
    rows = []
    for name in names:
        d, families = DESIGNS[name]
        for fam in families:
            if fam not in fams:
                continue
            r = measure(d, fam, args.rerun, args.cached_only)
            row = {"design": name, "family": fam, "goal_mhz": GOAL[fam], "current": bool(r and r.get("current"))}
            if r:
                row.update({k: r.get(k) for k in ("fmax_mhz", "LUT", "FF", "BRAM18", "DSP", "critical_path")})
                row["meets_goal"] = bool(r.get("fmax_mhz") and r["fmax_mhz"] >= GOAL[fam])
            rows.append(row)
    progress(
        f"\n{'design':<16} {'family':<6} {'fmax MHz':>9} {'goal':>5} {'LUT':>7} {'FF':>7} {'BRAM':>5} {'DSP':>4}  "
        f"critical path (source -> sink)"
    )
    for r in rows:
        cp = r.get("critical_path") or {}
        fm = r.get("fmax_mhz")
        flag = "" if r.get("meets_goal") else "  MISS" if fm else "  (not run)"
        stale = "" if r["current"] or not r.get("fmax_mhz") else " (stale: the Verilog changed since)"
        progress(
            f"{r['design']:<16} {r['family']:<6} {fm if fm else '-':>9} {r['goal_mhz']:>5g} {r.get('LUT', '-'):>7} "
            f"{r.get('FF', '-'):>7} {r.get('BRAM18', '-'):>5} {r.get('DSP', '-'):>4}  "
            f"{cp.get('source', '')} -> {cp.get('sink', '')}{flag}{stale}"
        )
    out = write_result(
        "fmax",
        {
            "goal_mhz": GOAL,
            "boards": BOARD,
            "rows": rows,
            "command": "bench/fmax.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        },
    )
    progress(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
