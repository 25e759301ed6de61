"""bitscale sweep: the precision x width sweep into a result store (docs/sweep.md)."""

from bitscale.defaults import BOARD, DATASET, EPOCHS, FPS, MODEL, SEED, SIMULATOR


def register(sub):
    p = sub.add_parser(
        "sweep",
        help="train, estimate (and with --hw build) a precision x width grid",
        description="Train every point of a precision x width grid once, estimate its cost "
        "with auto-folding on the board, and keep the results in an SQL store; "
        "resumable (a point already done is never trained again).",
    )
    p.add_argument("--model", default=MODEL, help="fc | tfc | sfc | lfc | cnv | vgg | darknet")
    p.add_argument("--bits", help="tied weight/activation bits, e.g. 1,2,4,8,16,float")
    p.add_argument("--wbits", help="weight bits, e.g. 1,2,4,8,16 (crossed with --abits)")
    p.add_argument("--abits", help="activation bits, e.g. 1,2,4,8,16")
    p.add_argument("--scales", required=True, help="width scales as fractions, e.g. 1/32,1/16,1/8")
    p.add_argument("--dataset", default=DATASET, help="digits | fashion-mnist | mnist | cifar10")
    p.add_argument("--board", default=BOARD, help="board for the cost estimate (see `bitscale boards`)")
    p.add_argument(
        "--fps",
        default=None,
        metavar="N|max",
        help=f"target FPS for auto-folding: each point gets the cheapest folding reaching it "
        f"(default {FPS:g}); 'max' = the fastest folding that fits the board",
    )
    p.add_argument("--out", required=True, help="sweep folder (results.db, runs/, report)")
    p.add_argument(
        "--force",
        action="store_true",
        help="use a non-empty --out folder that is not a sweep folder (nothing in it is deleted)",
    )
    p.add_argument("--epochs", type=int, default=EPOCHS, help="training epochs per point")
    p.add_argument("--seed", type=int, default=SEED, help="training seed")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--data-dir", help="dataset folder (default: the dataset's standard place)")
    p.add_argument("--workers", type=int, help="parallel points (default: 1 on <= 2 cores, else min(cores, points))")
    p.add_argument("--executor", default="local", help="local (process pool) | ray (optional extra bitscale[ray])")
    p.add_argument("--per-gpu", type=int, default=4, help="Ray on GPUs: points sharing one GPU (default 4)")
    p.add_argument("--store", help="SQLAlchemy URL of the result store (default: sqlite SWEEP_DIR/results.db)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N (training)")
    p.add_argument("--hw", action="store_true", help="generate, simulate and synthesize the Pareto points")
    p.add_argument("--hw-max", type=int, help="build at most this many Pareto points")
    p.add_argument("--hw-images", type=int, default=8, help="images per cocotb simulation (default 8)")
    p.add_argument("--simulator", default=SIMULATOR, choices=["verilator", "icarus"], help="HDL simulator")
    p.add_argument(
        "--mixed",
        type=int,
        default=0,
        metavar="K",
        help="also K mixed-precision points per width, searched by `bitscale search` on the cost "
        "model at --fps (K BRAM18 budgets from the cheapest to the widest configuration) and "
        "fine-tuned from the width's float point (else its widest precision); docs/mixed_precision.md",
    )
    p.add_argument("--mixed-wbits", default="1,2,4,8", help="per-layer weight-bit candidates of --mixed")
    p.add_argument("--mixed-abits", default="2,4,8", help="per-layer activation-bit candidates of --mixed")
    p.add_argument("--mixed-epochs", type=int, help="fine-tuning epochs of a --mixed point (default --epochs)")
    p.add_argument("--retry-failed", action="store_true", help="retry points that failed before")
    p.add_argument("--report", action="store_true", help="write the report when the sweep is done")
    p.set_defaults(func=run)


def spec_from_args(args):
    from bitscale.defaults import parse_fps
    from bitscale.errors import UserError
    from bitscale.sweep import SweepSpec, parse_bits, parse_scales, precisions

    if args.bits and (args.wbits or args.abits):
        raise UserError("give either --bits (tied) or --wbits and --abits, not both")
    if args.bits:
        precs = precisions(parse_bits(args.bits, "--bits"), None, tied=True)
    elif args.wbits and args.abits:
        precs = precisions(parse_bits(args.wbits, "--wbits"), parse_bits(args.abits, "--abits"), tied=False)
    else:
        raise UserError("give --bits (e.g. 1,2,4,8) or both --wbits and --abits")
    return SweepSpec(
        model=args.model,
        precisions=precs,
        scales=parse_scales(args.scales),
        dataset=args.dataset,
        board=args.board,
        fps=parse_fps(args.fps),
        epochs=args.epochs,
        seed=args.seed,
        batch_size=args.batch_size,
        lr=args.lr,
        device=args.device,
        data_dir=args.data_dir,
        hw=args.hw,
        hw_images=args.hw_images,
        hw_max=args.hw_max,
        simulator=args.simulator,
        mixed=args.mixed,
        mixed_wbits=_candidates(args.mixed_wbits, "--mixed-wbits"),
        mixed_abits=_candidates(args.mixed_abits, "--mixed-abits"),
        mixed_epochs=args.mixed_epochs,
    )


def _candidates(text, flag):
    from bitscale.errors import UserError
    from bitscale.sweep import parse_bits

    bits = parse_bits(text, flag)
    if 0 in bits:
        raise UserError(f"{flag} must be 1..16, not float")
    return bits


def run(args):
    import logging

    from bitscale.cli import Result
    from bitscale.sweep import run_sweep

    log = logging.getLogger("bitscale.sweep").info
    from bitscale import outdir, preflight

    spec = spec_from_args(args)
    preflight.check_sweep(spec)  # bad seed, scale, data dir: one line before any point runs
    outdir.prepare(args.out, "sweep", force=args.force, replaces=False)
    args.store = preflight.store_url(args.store)
    with preflight.store_errors("sweep"):
        summary = run_sweep(
            spec,
            args.out,
            store_url=args.store,
            workers=args.workers,
            executor=args.executor,
            retry_failed=args.retry_failed,
            per_gpu=args.per_gpu,
            log=log,
        )
    doc = {"sweep": summary}
    if args.report:
        from bitscale.report import write_report

        doc["report"] = write_report(args.out, store_url=args.store, log=log)
    text = f"{summary['done']}/{summary['points']} points done ({summary['failed']} failed) in {args.out}" + (
        f"; report {doc['report']['report']}" if "report" in doc else ""
    )
    rc = preflight.sweep_exit(summary, log)
    if rc and not summary["failed"]:
        text += "; NOT COMPLETE: points still running elsewhere (run it again once they finish)"
    return Result(doc, text, rc)
