"""bitscale simulate: stream test images through a generated accelerator (cocotb)."""


def register(sub):
    p = sub.add_parser(
        "simulate", help="simulate a generated accelerator bit-exactly (cocotb on Verilator/Icarus)",
        description="Stream N test images of the run through BUILD_DIR/bitscale_top.v, compare every "
                    "output with the golden model and measure cycles/frame and latency; writes "
                    "BUILD_DIR/sim.json (see docs/simulation.md).")
    p.add_argument("build_dir", metavar="BUILD_DIR", help="a folder written by `bitscale generate`")
    p.add_argument("--images", type=int, default=10, metavar="N", help="images to stream (default 10)")
    p.add_argument("--simulator", default="verilator", choices=["verilator", "icarus"],
                   help="HDL simulator (default verilator)")
    p.add_argument("--waves", action="store_true",
                   help="write a waveform file (BUILD_DIR/waves.fst with Verilator where FST is "
                        "available, else .vcd)")
    p.add_argument("--seed", type=int, default=0, help="seed for random inputs when no test set is known")
    p.set_defaults(func=run)


def run(args):
    import json

    from bitscale.sim.simulate import simulate
    doc = simulate(args.build_dir, images=args.images, simulator=args.simulator, waves=args.waves,
                   seed=args.seed)
    keys = ("images", "golden_match", "hw_correct", "cycles_per_frame", "model_cycles_per_frame",
            "latency_cycles", "simulator", "input_source", "waves")
    print(json.dumps({k: doc[k] for k in keys}, indent=1))
    return 0 if doc["golden_match"] == doc["images"] and not doc["errors"] else 1
