"""How fast the cost model answers: auto-folding a CNV and costing 2,100 candidate foldings of one layer.

    .venv/bin/python bench/cost_speed.py [--repeat 3]

The tests check what these return; this bench says how long they take (best of --repeat runs,
wall-clock on this machine), since a wall-clock assert in a test fails on a loaded CI machine.
Writes bench/results/cost_speed.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cost_common import progress, write_result  # noqa: E402


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    from bitscale.cost_model import auto_fold, model
    from bitscale.nn.random_net import random_cnv

    net = random_cnv((16, 16, 3), [32, 32, "P", 64, 64], [128], 1, 1, seed=0)
    info = model.layer_infos(net)[1]
    pe = np.repeat([1, 2, 4, 8, 16, 32, 64], 300)
    simd = np.tile(np.repeat([1, 2, 4], 100), 7)
    rows = [
        ("auto_fold cnv 16x16 (pynq-z1)", best_of(lambda: auto_fold(net, "pynq-z1"), args.repeat)),
        (
            f"layer_costs, {len(pe)} candidates",
            best_of(lambda: model.layer_costs(info, pe, simd, np.zeros_like(pe), "xc7"), args.repeat),
        ),
    ]
    progress(f"{'what':<40} {'seconds':>8}")
    for name, s in rows:
        progress(f"{name:<40} {s:>8.3f}")
    out = write_result(
        "cost_speed",
        {
            "rows": [{"what": n, "seconds": round(s, 4)} for n, s in rows],
            "repeat": args.repeat,
            "command": "bench/cost_speed.py",
        },
    )
    progress(f"wrote {out}")


if __name__ == "__main__":
    main()
