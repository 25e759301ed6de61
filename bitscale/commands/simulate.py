"""bitscale simulate: stream test images through a generated accelerator (cocotb)."""


def _images(text: str):
    """'all' or a positive count (argparse type: a bad value is one clear line, exit 2)."""
    import argparse
    if text.strip().lower() == "all":
        return "all"
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer or 'all', not {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer or 'all', not {text!r}")
    return n


def register(sub):
    p = sub.add_parser(
        "simulate", help="simulate a generated accelerator bit-exactly (cocotb on Verilator/Icarus)",
        description="Stream N test images of the run through BUILD_DIR/bitscale_top.v, compare every "
                    "output with the golden model and measure cycles/frame and latency; writes "
                    "BUILD_DIR/sim.json (see docs/simulation.md).")
    p.add_argument("build_dir", metavar="BUILD_DIR", help="a folder written by `bitscale generate`")
    p.add_argument("--images", type=_images, default=10, metavar="N|all",
                   help="images to stream, or 'all' of the run's test set (default 10)")
    p.add_argument("--mode", default="fast", choices=["fast", "cocotb-stream"],
                   help="fast: frames stream from simulation memories beside the accelerator at the "
                        "simulator's native speed (default); cocotb-stream: the per-beat cocotb "
                        "driver/monitor (protocol debugging)")
    p.add_argument("--simulator", default="verilator", choices=["verilator", "icarus"],
                   help="HDL simulator (default verilator)")
    p.add_argument("--waves", action="store_true",
                   help="write a waveform file (BUILD_DIR/waves.fst with Verilator where FST is "
                        "available, else .vcd)")
    p.add_argument("--gaps", type=float, default=0.0, metavar="P",
                   help="probability of an idle input cycle (default 0: back-to-back)")
    p.add_argument("--backpressure", type=float, default=0.0, metavar="P",
                   help="probability of m_axis_tready low in a cycle (default 0)")
    p.add_argument("--period", type=int, default=0, metavar="N",
                   help="fast mode: periodic back-pressure, tready low --hold cycles in every N (default 0: off)")
    p.add_argument("--hold", type=int, default=0, metavar="N", help="see --period")
    p.add_argument("--seed", type=int, default=0,
                   help="seed for random inputs when no test set is known and for the stall patterns")
    p.set_defaults(func=run)


def run(args):
    import json

    from bitscale.sim.simulate import simulate
    doc = simulate(args.build_dir, images=args.images, simulator=args.simulator, waves=args.waves,
                   mode=args.mode, gaps=args.gaps, backpressure=args.backpressure, period=args.period,
                   hold=args.hold, seed=args.seed)
    keys = ("images", "golden_match", "hw_correct", "cycles_per_frame", "model_cycles_per_frame",
            "latency_cycles", "simulator", "mode", "input_source", "waves", "cycles_per_s", "build_s")
    print(json.dumps({k: doc[k] for k in keys}, indent=1))
    return 0 if doc["golden_match"] == doc["images"] and not doc["errors"] else 1
