"""bitscale generate: Verilog + design.json for a trained run (hw/generate.py)."""

from bitscale.defaults import FPS


def register(sub):
    p = sub.add_parser(
        "generate",
        help="generate the streaming accelerator (Verilog + design.json) for a run",
        description="Write BUILD_DIR/bitscale_top.v, design.json and a copy of the network. "
        "The folding: --folding F.json if given; else RUN_DIR/folding.json when "
        "`bitscale estimate` wrote one (for this --board, and no --fps given); else, "
        "with --board, auto-folded for the board like estimate (cheapest folding "
        "reaching --fps); else the default folding (parallel, PE <= 8, SIMD <= 16). "
        "A folding that does not fit the board (the core's estimate, and beside it the "
        "self-test's ROMs), or a --folding below the --fps given, is refused, with "
        "the numbers, before anything is written.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory with network.json/.npz (bitscale train)")
    p.add_argument(
        "--out",
        required=True,
        metavar="BUILD_DIR",
        help="build directory to write: new, empty, or one generate wrote before (replaced)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="write into a non-empty BUILD_DIR that generate did not create (its other files are "
        "kept; only a folder generate made is ever replaced)",
    )
    p.add_argument("--folding", metavar="F.json", help="a Folding JSON file (per layer PE, SIMD, mode)")
    p.add_argument(
        "--board",
        metavar="B",
        help="fold for board B and also write its board-level top and self-test (bitscale boards)",
    )
    p.add_argument(
        "--fps",
        default=None,
        metavar="N|max",
        help=f"with --board: auto-fold for N frames/s (default {FPS:g}); max = the fastest folding that fits",
    )
    p.add_argument(
        "--selftest-frames",
        type=int,
        default=16,
        metavar="N",
        help="test images in the board self-test ROM (with --board; default 16)",
    )
    p.add_argument(
        "--pack",
        action="store_true",
        help="pack the read-only memories (weights, parameter tables) of all layers into shared block "
        "RAMs (cost_model/packing.py; cycles unchanged); the plan goes into design.json",
    )
    p.set_defaults(func=run)


def run(args):
    from bitscale.api import generate
    from bitscale.cli import Result
    from bitscale.defaults import parse_fps

    fps = None if args.fps is None else (parse_fps(args.fps) or "max")
    if fps is not None and not args.board:
        from bitscale.errors import UserError

        raise UserError("--fps folds for a board: give --board B too (or fold with `bitscale estimate`)")
    d = generate(
        args.run_dir,
        args.out,
        board=args.board,
        fps=fps,
        folding=args.folding,
        selftest_frames=args.selftest_frames,
        force=args.force,
        pack=args.pack,
    )
    fr = d.design["frame"]
    text = (
        f"folding: {d.folding_source}\n"
        f"model: {d.cycles_per_frame} cycles/frame; in {fr['input']['elems']}x{fr['input']['bits']} bits/beat, "
        f"out {fr['output']['elems']}x{fr['output']['bits']} bits/beat"
        + (
            f"\n{d.board}: LUT {d.estimate.LUT:,}, {d.estimate.bram_kind} {d.estimate.BRAM18}, DSP "
            f"{d.estimate.DSP}, {d.estimate.fps:,.0f} FPS (estimate)"
            if d.estimate is not None
            else ""
        )
        + (
            f"\npacked: {d.design['packing']['summary']['packed']} block RAMs for the read-only memories "
            f"({d.design['packing']['summary']['unpacked']} unpacked)"
            + (
                f"; {', '.join(w['name'] for w in d.design['packing']['lutram'])} in LUT RAM "
                f"({d.design['packing']['summary']['lutram_units']} block RAMs freed, about "
                f"{d.design['packing']['summary']['lutram_luts']} LUTs)"
                if d.design["packing"].get("lutram")
                else ""
            )
            if d.design.get("packing")
            else ""
        )
        + f"\nwrote {d.build_dir}"
    )
    return Result(d, text)
