"""bitscale estimate: predicted LUT/FF/BRAM/DSP, cycles and FPS of a run on a board (cost_model/)."""

from bitscale.defaults import BOARD, FPS, MAX_UTIL, MODES


def register(sub):
    p = sub.add_parser(
        "estimate",
        help="estimate cost and speed of a run on a board (and auto-fold it)",
        description="Print a per-layer table and write estimate.json and folding.json "
        "(which `bitscale generate RUN_DIR` then builds). Without --folding, the "
        "folding is chosen by auto-folding: the cheapest that reaches --fps on the "
        "board (--fps max: the fastest that fits).",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run or build directory with network.json/.npz")
    p.add_argument("--board", default=BOARD, metavar="B", help="board name (see `bitscale boards`)")
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--fps",
        default=None,
        metavar="N|max",
        help=f"target frames per second for auto-folding (default {FPS:g}); max = the fastest folding that fits",
    )
    g.add_argument("--folding", metavar="F.json", help="estimate this folding instead of auto-folding")
    p.add_argument("--modes", default=MODES, help="MAC modes auto-folding may use (comma-separated)")
    p.add_argument("--max-util", type=float, default=MAX_UTIL, help="utilization cap for auto-folding")
    p.add_argument(
        "--pack",
        action="store_true",
        help="auto-fold counting block RAM as packed across layers (as `generate --pack` builds it)",
    )
    p.add_argument("--out", metavar="DIR", help="where to write estimate.json and folding.json (default RUN_DIR)")
    p.add_argument(
        "--force", action="store_true", help="write into a non-empty --out folder that bitscale estimate did not create"
    )
    p.set_defaults(func=run)


def _atomic_json(path, doc):
    from bitscale.atomic import write_json

    write_json(path, doc)


def table(est) -> str:
    """The per-layer table printed by the command."""
    rows = [
        f"{'layer':<10} {'w/a':>5} {'PE':>5} {'SIMD':>5} {'mode':<13} {'LUT':>8} {'FF':>8} "
        f"{est.bram_kind:>7} {'floor':>6} {'DSP':>5} {'cycles':>10}"
    ]
    for l in est.layers:
        rows.append(
            f"{l.name:<10} {f'{l.wbits}/{l.abits}':>5} {l.pe:>5} {l.simd:>5} {l.mode:<13} {l.LUT:>8} {l.FF:>8} "
            f"{l.BRAM18:>7} {l.bram_floor:>6} {l.DSP:>5} {l.cycles:>10}"
        )
    rows.append(
        f"{'total':<42} {est.LUT:>8} {est.FF:>8} {est.BRAM18:>7} {est.bram_floor:>6} {est.DSP:>5} {est.cycles:>10}"
    )
    u = est.utilization
    rows.append(
        f"{est.board} @ {est.clock_mhz:g} MHz: {est.fps:,.0f} FPS, latency {est.latency_cycles} cycles; "
        + (f"logic cells {est.LC:,} = {u['LC']:.1%}, " if "LC" in u else "")
        + f"LUT {u['LUT']:.1%}, FF {u['FF']:.1%}, {est.bram_kind} {u['BRAM18']:.1%}, DSP {u['DSP']:.1%}"
        + ("" if est.fits else "  (DOES NOT FIT)")
    )
    return "\n".join(rows)


def run(args):
    from bitscale import outdir
    from bitscale.api import _load_folding, auto_fold
    from bitscale.boards import get as get_board
    from bitscale.cli import Result
    from bitscale.cost_model import estimate
    from bitscale.defaults import parse_fps
    from bitscale.nn import ir

    board = get_board(args.board)
    net = ir.load(args.run_dir)
    # the output folder is checked (and created) before the work; estimate only adds two files,
    # so its own RUN_DIR is a fine place for them
    out = outdir.prepare(
        args.out or args.run_dir,
        "estimate",
        force=args.force or not args.out,
        inputs=[args.run_dir],
        replaces=False,
        create=False,
    )
    if args.folding:
        folding = _load_folding(args.folding, net)  # UserError naming the bad value
    else:
        folding = auto_fold(
            net, board, parse_fps(args.fps), modes=args.modes, max_util=args.max_util, pack=getattr(args, "pack", False)
        )
    est = estimate(net, folding, board)
    from bitscale.cost_model.packing import packed_estimate, plan_on_board

    # BRAM packing across layers (cost_model/packing.py), input buffers to LUT RAM within the LUT cap
    plan = plan_on_board(net, folding, board, args.max_util, est)
    pest = packed_estimate(est, plan)
    # files first: a closed stdout (`estimate ... | head -1`) must not lose them
    if not out.exists():
        out.mkdir(parents=True)
        outdir.mark(out, "estimate")
    _atomic_json(out / "folding.json", folding.to_json())
    _atomic_json(out / "estimate.json", est.to_json())
    _atomic_json(out / "packing.json", plan.to_json())
    files = {
        "estimate": str(out / "estimate.json"),
        "folding": str(out / "folding.json"),
        "packing": str(out / "packing.json"),
    }
    return Result(
        {**est.to_json(), "folding": folding.to_json(), "packing": plan.to_json(), "files": files},
        f"{table(est)}\n{plan.table()}\n"
        f"with packing (generate --pack): {pest.BRAM18} {est.bram_kind} in all ({pest.utilization['BRAM18']:.1%}), "
        f"LUT {pest.LUT:,} ({pest.utilization['LUT']:.1%}) (written memories: not packed; "
        f"{len(plan.lutram)} input buffer(s) / FIFO(s) in LUT RAM)\nwrote {files['estimate']}, {files['folding']} and {files['packing']}",
    )
