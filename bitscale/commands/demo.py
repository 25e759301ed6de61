"""bitscale demo: the README's main command. A small precision x width sweep on
scikit-learn's digits (fc, bits 1/2/4/8 + float, three widths), auto-folded for
50,000 frames/s on PYNQ-Z1, hardware for two Pareto points (generate, cocotb
simulation on Icarus, Yosys synthesis), then the report.
Idempotent: a second run reuses the store and only rewrites the report."""

from dataclasses import dataclass


# A target FPS keeps the designs small enough to simulate and synthesize in about a minute
# each on 2 cores (the fastest folding that fits would fill the board); lr 0.01 reaches
# useful accuracy on digits in 5 epochs. Icarus compiles these designs in seconds, where
# Verilator's C++ build takes a minute or more.
@dataclass(frozen=True)
class DemoSettings:
    model: str = "fc"
    bits: tuple[int, ...] = (1, 2, 4, 8, 0)
    scales: tuple[str, ...] = ("1/128", "1/64", "1/32")
    dataset: str = "digits"
    board: str = "pynq-z1"
    fps: float = 50_000.0
    epochs: int = 5
    lr: float = 0.01
    hw_max: int = 2
    hw_images: int = 4
    simulator: str = "icarus"


DEMO = DemoSettings()


def register(sub):
    p = sub.add_parser(
        "demo",
        help="a small sweep on digits, end to end, and its report",
        description="Train fc at 1/2/4/8 bits and float at three widths on digits, fold and "
        "estimate each for 50k FPS on PYNQ-Z1, build (generate, simulate, "
        "synthesize) two Pareto points, and write the report. Prints where "
        "report.html is; opens nothing. Re-running reuses the store.",
    )
    p.add_argument("--out", default="runs/demo", help="sweep folder")
    p.add_argument("--workers", type=int, help="parallel points (default: 1 on <= 2 cores)")
    p.add_argument("--no-hw", action="store_true", help="skip generate / simulate / synthesize")
    p.add_argument(
        "--force",
        action="store_true",
        help="use a non-empty --out folder that is not a sweep folder (nothing in it is deleted)",
    )
    p.add_argument(
        "--simulator",
        default=DEMO.simulator,
        choices=["icarus", "verilator"],
        help="HDL simulator (the demo's own default: Icarus compiles these designs in seconds)",
    )
    p.set_defaults(func=run)


def spec(hw=True, simulator=DEMO.simulator):
    from bitscale.sweep import SweepSpec

    return SweepSpec(
        model=DEMO.model,
        precisions=tuple((b, b) for b in DEMO.bits),
        scales=DEMO.scales,
        dataset=DEMO.dataset,
        board=DEMO.board,
        fps=DEMO.fps,
        epochs=DEMO.epochs,
        lr=DEMO.lr,
        hw=hw,
        hw_max=DEMO.hw_max,
        hw_images=DEMO.hw_images,
        simulator=simulator,
    )


def run(args):
    import logging

    from bitscale.cli import Result
    from bitscale.report import write_report
    from bitscale.sweep import run_sweep

    log = logging.getLogger("bitscale.sweep").info
    from bitscale import outdir, preflight

    s = spec(hw=not args.no_hw, simulator=args.simulator)
    outdir.prepare(args.out, "sweep", force=args.force, replaces=False)
    with preflight.store_errors("demo"):
        summary = run_sweep(s, args.out, workers=args.workers, log=log)
    res = write_report(args.out, log=log)
    lines = ["Findings:", *(f"  - {line}" for line in res["findings"]["statements"])]
    hw = summary.get("hw") or {}
    lines.append(
        f"\n{summary['done']}/{summary['points']} points done ({summary['failed']} failed)"
        + (f"; {hw.get('done', 0)}/{hw.get('points', 0)} Pareto points built" if hw else "")
        + f"; {summary['seconds']:.0f} s."
    )
    lines.append(f"Report: {res['report']}")
    hw_failed = (hw or {}).get("failed", 0)
    if hw_failed:
        lines.append(f"{hw_failed} hardware build(s) failed: see the [hw] lines above and the report.")
    rc = 0 if summary["failed"] == 0 and not hw_failed else 1
    return Result({"sweep": summary, "report": res}, "\n".join(lines), rc)
