"""bitscale boards: list the known boards."""


def register(sub):
    p = sub.add_parser("boards", help="list the boards bitscale knows")
    p.add_argument("--json", action="store_true", help="print the boards as a JSON list instead of a table")
    p.set_defaults(func=run)


def run(args):
    from bitscale.boards import BOARDS
    from bitscale.cli import Result

    rows = [f"{'board':<12} {'family':<6} {'part':<22} {'LUT':>9} {'FF':>9} {'BRAM':>12} {'DSP':>6} {'MHz':>6}"]
    for b in BOARDS.values():
        bram = f"{b.bram} {b.bram_kind}"
        rows.append(
            f"{b.name:<12} {b.family:<6} {b.part:<22} {b.lut:>9} {b.ff:>9} {bram:>12} {b.dsp:>6} {b.clock_mhz:>6g}"
        )
    return Result([b.to_json() for b in BOARDS.values()], "\n".join(rows))
