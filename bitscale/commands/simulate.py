"""bitscale simulate: stream test images through a generated accelerator (cocotb)."""

from bitscale.defaults import IMAGES, SIMULATOR


def _images(text: str):
    """'all' or a count (simulate() checks that it is positive: one UserError line, exit 2)."""
    import argparse

    if text.strip().lower() == "all":
        return "all"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer or 'all', not {text!r}") from None


def register(sub):
    p = sub.add_parser(
        "simulate",
        help="simulate a generated accelerator bit-exactly (cocotb on Verilator/Icarus)",
        description="Stream N test images of the run through BUILD_DIR/bitscale_top.v, compare every "
        "output with the golden model and measure cycles/frame and latency; writes "
        "BUILD_DIR/sim.json (see docs/simulation.md).",
    )
    p.add_argument("build_dir", metavar="BUILD_DIR", help="a folder written by `bitscale generate`")
    p.add_argument(
        "--images",
        type=_images,
        default=IMAGES,
        metavar="N|all",
        help="images to stream, or 'all' of the run's test set",
    )
    p.add_argument(
        "--mode",
        default="fast",
        choices=["fast", "cocotb-stream"],
        help="fast: frames stream from simulation memories beside the accelerator at the "
        "simulator's native speed; cocotb-stream: the per-beat cocotb "
        "driver/monitor (protocol debugging)",
    )
    p.add_argument("--simulator", default=SIMULATOR, choices=["verilator", "icarus"], help="HDL simulator")
    p.add_argument(
        "--waves",
        action="store_true",
        help="write a waveform file (BUILD_DIR/waves.fst with Verilator where FST is available, else .vcd)",
    )
    p.add_argument(
        "--gaps",
        type=float,
        default=0.0,
        metavar="P",
        help="probability of an idle input cycle (default 0: back-to-back)",
    )
    p.add_argument(
        "--backpressure",
        type=float,
        default=0.0,
        metavar="P",
        help="probability of m_axis_tready low in a cycle (default 0)",
    )
    p.add_argument(
        "--period",
        type=int,
        default=0,
        metavar="N",
        help="fast mode: periodic back-pressure, tready low --hold cycles in every N (default 0: off)",
    )
    p.add_argument("--hold", type=int, default=0, metavar="N", help="see --period")
    p.add_argument(
        "--seed", type=int, default=0, help="seed for random inputs (--random-inputs) and for the stall patterns"
    )
    p.add_argument(
        "--random-inputs",
        action="store_true",
        help="stream random frames instead of the run's test set (without it, a run whose test "
        "set cannot be loaded is an error; a design generated without a run gets random frames)",
    )
    p.add_argument(
        "--no-twins",
        action="store_true",
        help="fast mode on Verilator: simulate the synthesized Verilog everywhere, not the Yosys-proven "
        "faster twins of its dot products and threshold comparisons (docs/simulation.md, 'Simulation twins')",
    )
    p.set_defaults(func=run)


def run(args):
    import logging

    from bitscale.cli import Result
    from bitscale.errors import UserError
    from bitscale.sim.simulate import simulate

    try:
        doc = simulate(
            args.build_dir,
            images=args.images,
            simulator=args.simulator,
            waves=args.waves,
            mode=args.mode,
            gaps=args.gaps,
            backpressure=args.backpressure,
            period=args.period,
            hold=args.hold,
            seed=args.seed,
            random_inputs=True if args.random_inputs else None,
            twins=False if args.no_twins else None,
            log=logging.getLogger("bitscale.sim").info,
        )
    except RuntimeError as e:
        # sim/runner.py: "<simulator> build of <top> failed (...):\n<log tail>" (e.g. truncated Verilog)
        msg = str(e)
        if " build of " not in msg or " failed" not in msg:
            raise
        lines = [ln.strip() for ln in msg.splitlines() if ln.strip()]
        first = next((ln for ln in lines[1:] if "error" in ln.lower()), lines[0])
        raise UserError(f"{args.simulator} cannot compile {args.build_dir}: {first[:300]}") from None
    ok = doc["golden_match"] == doc["images"] and not doc["errors"]
    text = (
        f"{'OK' if ok else 'FAILED'}: {doc['golden_match']}/{doc['images']} outputs match the golden model "
        f"({doc['simulator']} {doc['mode']}, {doc['input_source']} inputs); {doc['cycles_per_frame']} "
        f"cycles/frame measured vs {doc['model_cycles_per_frame']} modelled, latency {doc['latency_cycles']} "
        f"cycles; {doc['cycles_per_s']} cycles/s, build {doc['build_s']} s; wrote {args.build_dir}/sim.json"
    )
    return Result(doc, text, 0 if ok and throughput_ok(doc, args) else 1)


THROUGHPUT_TOLERANCE = 0.02


def throughput_ok(doc: dict, args=None, log=None) -> bool:
    """Measured cycles/frame within 2% of design.json's model (when streamed without stalls);
    otherwise says so with both numbers and returns False (the command exits 1)."""
    import logging

    stalls = args is not None and any(getattr(args, k, 0) for k in ("gaps", "backpressure", "period"))
    cpf, model = doc.get("cycles_per_frame"), doc.get("model_cycles_per_frame")
    if stalls or not cpf or not model:
        return True
    ratio = cpf / model
    if abs(ratio - 1) <= THROUGHPUT_TOLERANCE:
        return True
    what = "slower than" if ratio > 1 else "faster than"
    (log or logging.getLogger("bitscale.simulate").error)(
        f"THROUGHPUT: measured {cpf:g} cycles/frame vs model {model} cycles/frame ({ratio:.2f}x, {what} "
        f"the model by more than {THROUGHPUT_TOLERANCE:.0%})"
    )
    return False
