"""bitscale generate: Verilog + design.json for a trained run (hw/generate.py)."""


def register(sub):
    p = sub.add_parser("generate", help="generate the streaming accelerator (Verilog + design.json) for a run",
                       description="Write BUILD_DIR/bitscale_top.v, design.json and a copy of the network. "
                                   "The folding defaults to hw.folding.default_folding (parallel mode).")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory with network.json/.npz (bitscale train)")
    p.add_argument("--out", required=True, metavar="BUILD_DIR",
                   help="build directory to write: new, empty, or one generate wrote before (replaced)")
    p.add_argument("--force", action="store_true",
                   help="write into a non-empty BUILD_DIR that generate did not create (its other files are "
                        "kept; only a folder generate made is ever replaced)")
    p.add_argument("--folding", metavar="F.json", help="a Folding JSON file (per layer PE, SIMD, mode)")
    p.add_argument("--board", metavar="B", help="also write the board-level files for board B (bitscale boards)")
    p.add_argument("--selftest-frames", type=int, default=16, metavar="N",
                   help="test images in the board self-test ROM (with --board; default 16)")
    p.set_defaults(func=run)


def run(args):
    from bitscale.hw.folding import Folding, default_folding
    from bitscale.hw.generate import generate
    from bitscale.nn import ir

    if args.board:                         # a bad board or frame count fails before the slow part
        from bitscale.boards.board import check_args
        check_args(args.board, args.selftest_frames)
    from pathlib import Path

    from bitscale import outdir
    net = ir.load(args.run_dir)
    folding = Folding.load(args.folding) if args.folding else default_folding(net)
    out = Path(args.out)
    replace = outdir.replaceable(out, "generate")
    outdir.prepare(out, "generate", force=args.force, inputs=[args.run_dir], create=False)
    run_dir = str(Path(args.run_dir).resolve())       # absolute: simulate may run from elsewhere
    if replace:
        design = generate(net, folding, out, run_dir=run_dir, log=print)
    else:                                  # --force into a folder that is not ours: add, never replace
        import os
        import shutil
        import tempfile
        tmp = Path(tempfile.mkdtemp(dir=out, prefix=".bitscale-generate-tmp."))
        try:
            design = generate(net, folding, tmp / "build", run_dir=run_dir, log=print)
            for f in (tmp / "build").iterdir():
                if (out / f.name).is_dir() and not f.is_dir():
                    shutil.rmtree(out / f.name)
                os.replace(f, out / f.name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if replace:                            # never mark a folder that holds somebody else's files
        outdir.mark(out, "generate")
    if args.board:
        from bitscale.boards.board import add_board
        add_board(args.out, args.board, frames=args.selftest_frames, log=print)
    print(f"model: {design['model_cycles_per_frame']} cycles/frame; "
          f"in {design['frame']['input']['elems']}x{design['frame']['input']['bits']} bits/beat, "
          f"out {design['frame']['output']['elems']}x{design['frame']['output']['bits']} bits/beat")
    return 0
