"""Benchmark: the FC precision x width grid on Fashion-MNIST, end to end (train -> IR ->
auto-fold + estimate on PYNQ-Z1), with wall time per point and in total.

Default (the issue's CPU benchmark): bits 1,2,4,8,16,float (tied) x scales 1/32,1/16,1/8
= 18 points, 20 epochs each. On a GPU: ``--device cuda --scales 1/32,1/16,1/8,1/4,1/2,1
--workers 8`` is the full 6x6 grid, several points training concurrently on one GPU.

    .venv/bin/python bench/sweep_fashion.py                       # the 18-point CPU grid (long)
    .venv/bin/python bench/sweep_fashion.py --epochs 2 --scales 1/32 --bits 1,2,4   # a reduced run
    .venv/bin/python bench/sweep_fashion.py --report-only        # the report again from the stored results

Prints a table and writes bench/results/sweep_fashion.json (or --json PATH). The sweep
folder (default runs/bench-sweep-fashion) is a normal sweep: re-running resumes it, and
`bitscale report` works on it. Per-point times are read from the store, so a resumed
run reports the time each point took when it was trained.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bits", default="1,2,4,8,16,float")
    ap.add_argument("--scales", default="1/32,1/16,1/8")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--board", default="pynq-z1")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--workers", type=int)
    ap.add_argument("--out", default=str(ROOT / "runs" / "bench-sweep-fashion"))
    ap.add_argument("--json", default=str(ROOT / "bench" / "results" / "sweep_fashion.json"))
    ap.add_argument("--fps", type=float, help="FPS target for auto-folding (default: the fastest folding that fits)")
    ap.add_argument("--note", default="", help="free text stored in the JSON (e.g. 'reduced: 2 epochs')")
    ap.add_argument(
        "--report-only",
        action="store_true",
        help="train nothing: rewrite the sweep folder's report from its stored results (results.db) "
        "and print the table; the benchmark JSON is left as it is",
    )
    args = ap.parse_args(argv)

    from bitscale.report import load_rows, write_report
    from bitscale.sweep import SweepSpec, parse_bits, parse_scales, precisions, run_sweep

    spec = SweepSpec(
        model="fc",
        precisions=precisions(parse_bits(args.bits, "--bits"), None, tied=True),
        scales=parse_scales(args.scales),
        dataset=args.dataset,
        board=args.board,
        epochs=args.epochs,
        device=args.device,
        fps=args.fps,
    )
    if args.report_only:
        if not (Path(args.out) / "results.db").is_file():
            print(
                f"--report-only: no stored results in {args.out} (no results.db); run the benchmark first",
                file=sys.stderr,
            )
            return 2
        write_report(args.out)
        rows, _ = load_rows(args.out)
        summary = {
            "done": sum(r["status"] == "done" for r in rows),
            "failed": sum(r["status"] == "failed" for r in rows),
            "trained_now": 0,
        }
        wall = 0.0
    else:
        t0 = time.time()
        summary = run_sweep(spec, args.out, workers=args.workers, quiet_points=True)
        wall = time.time() - t0
        write_report(args.out)
    rows, _ = load_rows(args.out)
    keys = {(k.wbits, k.abits, k.scale) for k in spec.points()}
    if not args.report_only:  # report-only: every stored point, whatever grid made it
        rows = [
            r
            for r in rows
            if (r["wbits"], r["abits"], r["scale"]) in keys
            and r["epochs"] == spec.epochs
            and r["dataset"] == spec.dataset
            and r["board"] == spec.board
            and r["fps_target"] == float(spec.fps or 0.0)
        ]
    rows.sort(key=lambda r: (r["scale_value"], r["wbits"] or 99))

    print(
        f"\n{'precision':<9} {'scale':>6} {'status':>7} {'acc %':>7} {'train s':>8} {'point s':>8} "
        f"{'weight bits':>12} {'BRAM18':>7} {'LUT':>8} {'FPS':>10} {'max FPS':>11}"
    )
    points = []
    for r in rows:

        def f(v, fmt):
            return format(v, fmt) if v is not None else "-"

        print(
            f"{r['precision']:<9} {r['scale']:>6} {r['status']:>7} "
            f"{f(r['accuracy'] * 100 if r['accuracy'] is not None else None, '.2f'):>7} "
            f"{f(r.get('t_train_s'), '.1f'):>8} {f(r.get('t_point_s'), '.1f'):>8} {f(r.get('weight_bits'), ','):>12} "
            f"{f(r.get('est_bram18'), 'g'):>7} {f(r.get('est_lut'), ',.0f'):>8} {f(r.get('est_fps'), ',.0f'):>10} "
            f"{f(r.get('max_fps'), ',.0f'):>11}"
        )
        points.append(
            {
                k: r.get(k)
                for k in (
                    "precision",
                    "wbits",
                    "abits",
                    "scale",
                    "status",
                    "error",
                    "accuracy",
                    "golden_agreement",
                    "weight_bits",
                    "est_bram18",
                    "est_lut",
                    "est_fps",
                    "max_fps",
                    "max_bram18",
                    "max_lut",
                    "t_train_s",
                    "t_estimate_s",
                    "t_point_s",
                    "train_attempts",
                )
            }
        )
    total_point_s = sum(p["t_point_s"] or 0 for p in points)
    print(
        f"\n{len(points)} points, {summary['done']} done, {summary['failed']} failed; "
        f"sum of per-point wall times {total_point_s:.0f} s; this invocation {wall:.0f} s "
        f"({summary['trained_now']} trained now)"
    )
    if args.report_only:
        print(f"report: {Path(args.out) / 'report.html'} (benchmark JSON not rewritten)")
        return 0
    doc = {
        "benchmark": "sweep_fashion",
        "spec": spec.to_json(),
        "note": args.note,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0]},
        "load_avg_at_end": os.getloadavg(),
        "invocation_wall_s": wall,
        "sum_point_s": total_point_s,
        "trained_now": summary["trained_now"],
        "done": summary["done"],
        "failed": summary["failed"],
        "points": points,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
