"""bitscale report: results.csv, plots, findings and report.html of a sweep (docs/sweep.md)."""


def register(sub):
    p = sub.add_parser("report", help="write the report (CSV, plots, HTML, findings) of a sweep",
                       description="Read a sweep's result store and write results.csv, SVG figures, "
                                   "findings.json and a self-contained report.html.")
    p.add_argument("sweep_dir", metavar="SWEEP_DIR")
    p.add_argument("--store", help="SQLAlchemy URL (default: the sweep's own store)")
    p.add_argument("--out", help="output folder (default: SWEEP_DIR)")
    p.add_argument("--delta", type=float, default=1.0,
                   help="findings: accuracy points below the reference's best that count as reaching it (default 1)")
    p.add_argument("--reference", default="w8a8", help="findings: reference precision (default w8a8)")
    p.set_defaults(func=run)


def run(args):
    import logging

    from bitscale.cli import Result
    from bitscale.report import write_report
    res = write_report(args.sweep_dir, store_url=args.store, out_dir=args.out, delta=args.delta,
                       reference=args.reference, log=logging.getLogger("bitscale.report").info)
    text = "\n".join([*(f"  {s}" for s in res["findings"]["statements"]), str(res["report"])])
    return Result(res, text)
