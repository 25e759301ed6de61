"""bitscale report: results.csv, plots, findings and report.html of a sweep (docs/sweep.md)."""


def register(sub):
    p = sub.add_parser(
        "report",
        help="write the report (CSV, plots, HTML, findings) of a sweep",
        description="Read a sweep's result store and write results.csv, SVG figures, "
        "findings.json and a self-contained report.html.",
    )
    p.add_argument("sweep_dir", metavar="SWEEP_DIR")
    p.add_argument("--store", help="SQLAlchemy URL (default: the sweep's own store)")
    p.add_argument("--out", help="output folder (default: SWEEP_DIR)")
    p.add_argument(
        "--delta",
        type=float,
        default=1.0,
        help="findings: accuracy points below the reference's best that count as reaching it (default 1)",
    )
    p.add_argument(
        "--reference",
        default=None,
        help="findings: reference precision, e.g. w8a8 (default: w8a8 if the sweep has it, "
        "else its widest integer precision)",
    )
    p.add_argument(
        "--force", action="store_true", help="write into a non-empty --out folder that bitscale report did not create"
    )
    p.set_defaults(func=run)


def run(args):
    import logging

    from bitscale import outdir, preflight
    from bitscale.cli import Result
    from bitscale.report import write_report

    args.store = preflight.store_url(args.store)
    reference = check_reference(args)
    if args.out:
        outdir.prepare(args.out, "report", force=args.force, replaces=False)
    res = write_report(
        args.sweep_dir,
        store_url=args.store,
        out_dir=args.out,
        delta=args.delta,
        reference=reference,
        log=logging.getLogger("bitscale.report").info,
    )
    text = "\n".join([*(f"  {s}" for s in res["findings"]["statements"]), str(res["report"])])
    return Result(res, text)


def check_reference(args) -> str:
    """The reference precision for the findings; an explicit ``--reference`` must be a precision
    label (w<bits>a<bits> or float) that the sweep has: never a silent fallback. Also checks that
    an explicit ``--store`` exists (a missing SQLite file is an error, not an empty report)."""
    import re
    from pathlib import Path

    from bitscale.errors import UserError
    from bitscale.report import load_rows, precision_label, store_url_for
    from bitscale.store import Store

    if not Path(args.sweep_dir).is_dir():
        raise UserError(f"no sweep folder at {args.sweep_dir}")
    url = store_url_for(args.sweep_dir, args.store)
    Store(url, create=False).dispose()  # a missing store is an error, not "0 points"
    if args.reference is None:
        return "w8a8"
    ref = args.reference.strip().lower()
    if not re.fullmatch(r"w([1-9]|1[0-6])a([1-9]|1[0-6])|float", ref):
        raise UserError(f"--reference: {args.reference!r} is not a precision label like w8a8 or float")
    rows, _ = load_rows(args.sweep_dir, args.store)
    have = sorted(
        {
            precision_label(r.get("wbits"), r.get("abits"))
            for r in rows
            if r.get("status") == "done" and r.get("accuracy") is not None
        }
    )
    if have and ref not in have:
        raise UserError(f"--reference: the sweep has no finished {ref} points (it has {', '.join(have)})")
    return ref
