"""bitscale search: per-layer (wbits, abits) by an exact ILP on the cost model, then QAT fine-tuning."""


def register(sub):
    p = sub.add_parser(
        "search",
        help="mixed per-layer precision by a hardware-aware ILP, then fine-tune",
        description="Choose one (wbits, abits) per compute layer minimizing the total HAWQ-V2 "
        "perturbation (sensitivity.json; computed when missing) subject to the board "
        "budget at the target FPS (the cost model's LUT/BRAM18/DSP at the folding each "
        "layer needs), solved exactly with scipy.optimize.milp (HiGHS); then fine-tune "
        "the chosen configuration from RUN_DIR's checkpoint (docs/mixed_precision.md).",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a trained run: its checkpoint and topology")
    p.add_argument("--board", required=True, metavar="B")
    p.add_argument("--fps", required=True, type=float, metavar="F", help="target frames per second")
    p.add_argument("--bram", type=int, default=None, metavar="N", help="BRAM18 budget (default 80%% of the board)")
    p.add_argument("--lut", type=int, default=None, metavar="N", help="LUT budget (default 80%% of the board)")
    p.add_argument("--dsp", type=int, default=None, metavar="N", help="DSP budget (default 80%% of the board)")
    p.add_argument("--wbits", default="1,2,4,8", help="candidate weight widths (default 1,2,4,8)")
    p.add_argument("--abits", default="2,4,8", help="candidate activation widths (default 2,4,8)")
    p.add_argument(
        "--budgets",
        type=int,
        default=None,
        metavar="K",
        help="trace K BRAM18 budgets from the cheapest to the widest configuration (a mixed frontier)",
    )
    p.add_argument("--epochs", type=int, default=3, help="QAT fine-tuning epochs per chosen point (default 3)")
    p.add_argument("--lr", type=float, default=None, help="fine-tuning learning rate (default RUN_DIR's)")
    p.add_argument("--samples", type=int, default=200, help="Hutchinson samples when sensitivity.json is missing")
    p.add_argument("--no-train", action="store_true", help="solve only: write precision.json files, no fine-tuning")
    p.add_argument("--out", required=True, metavar="SEARCH_DIR")
    p.set_defaults(func=run)


def _bits_list(text, flag):
    from bitscale.errors import UserError

    out = []
    for t in str(text).split(","):
        try:
            v = int(t.strip())
        except ValueError:
            raise UserError(f"{flag} must be a comma-separated list of widths 1..16, not {t.strip()!r}") from None
        if not 1 <= v <= 16:
            raise UserError(f"{flag} must be widths 1..16, not {v}")
        out.append(v)
    return tuple(out)


def run(args):
    import logging

    import torch

    from bitscale.cli import Result
    from bitscale.mixed import search

    torch.set_num_threads(1)
    doc = search(
        args.run_dir,
        args.board,
        args.fps,
        args.out,
        wbits=_bits_list(args.wbits, "--wbits"),
        abits=_bits_list(args.abits, "--abits"),
        lut=args.lut,
        bram=args.bram,
        dsp=args.dsp,
        budgets=args.budgets,
        epochs=args.epochs,
        lr=args.lr,
        train=not args.no_train,
        samples=args.samples,
        log=logging.getLogger("bitscale.search").info,
    )
    rows = []
    for p in doc["points"]:
        acc = f"  test {p['test_acc']:.4f}" if "test_acc" in p else ""
        est = f"  estimate BRAM18 {p['estimate']['BRAM18']}" if "estimate" in p else ""
        rows.append(
            f"{p['name']}: {p['label']}  predicted BRAM18 {p['predicted']['BRAM18']} LUT {p['predicted']['LUT']} "
            f"DSP {p['predicted']['DSP']}  ILP {p['solve_seconds'] * 1000:.0f} ms{acc}{est}"
        )
    rows.append(f"wrote {args.out}")
    return Result({**doc, "out": str(args.out)}, "\n".join(rows))
