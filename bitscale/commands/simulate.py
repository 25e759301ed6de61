"""bitscale simulate: stream test images through a generated accelerator (cocotb)."""

from bitscale.defaults import IMAGES, SIMULATOR


def register(sub):
    p = sub.add_parser(
        "simulate", help="simulate a generated accelerator bit-exactly (cocotb on Verilator/Icarus)",
        description="Stream N test images of the run through BUILD_DIR/bitscale_top.v, compare every "
                    "output with the golden model and measure cycles/frame and latency; writes "
                    "BUILD_DIR/sim.json (see docs/simulation.md).")
    p.add_argument("build_dir", metavar="BUILD_DIR", help="a folder written by `bitscale generate`")
    p.add_argument("--images", type=int, default=IMAGES, metavar="N", help="images to stream")
    p.add_argument("--simulator", default=SIMULATOR, choices=["verilator", "icarus"], help="HDL simulator")
    p.add_argument("--waves", action="store_true",
                   help="write a waveform file (BUILD_DIR/waves.fst with Verilator where FST is "
                        "available, else .vcd)")
    p.add_argument("--seed", type=int, default=0, help="seed for random inputs when no test set is known")
    p.set_defaults(func=run)


def run(args):
    import logging

    from bitscale.cli import Result
    from bitscale.sim.simulate import simulate
    doc = simulate(args.build_dir, images=args.images, simulator=args.simulator, waves=args.waves,
                   seed=args.seed, log=logging.getLogger("bitscale.sim").info)
    ok = doc["golden_match"] == doc["images"] and not doc["errors"]
    text = (f"{'OK' if ok else 'FAILED'}: {doc['golden_match']}/{doc['images']} outputs match the golden model "
            f"({doc['simulator']}, {doc['input_source']} inputs); {doc['cycles_per_frame']} cycles/frame "
            f"measured vs {doc['model_cycles_per_frame']} modelled, latency {doc['latency_cycles']} cycles; "
            f"wrote {args.build_dir}/sim.json")
    return Result(doc, text, 0 if ok else 1)
