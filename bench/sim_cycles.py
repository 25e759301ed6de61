"""Measured vs modelled cycles per frame, latency and simulation speed, on Verilator and Icarus.

    .venv/bin/python bench/sim_cycles.py [--images 8] [--simulators verilator,icarus]

Generates a few accelerators from random networks (no training), simulates each with
``bitscale.sim.simulate`` (builds cached in the system temp dir) and prints a table:
golden_match, measured / model cycles per frame, latency, build and simulation wall
time, and simulated cycles per wall second. Writes bench/results/sim_cycles.json.
Wall times depend on the machine's load; the cycle numbers do not.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def designs():
    from bitscale.hw.folding import Folding, LayerFolding, default_folding
    from bitscale.nn.random_net import random_cnv, random_fc

    def tfc_like():
        net = random_fc([64, 64, 64], 2, 2, num_classes=10, in_features=784, seed=0)
        return net, default_folding(net, "parallel", max_pe=16, max_simd=16)

    def fc_bitserial():
        net = random_fc([32, 16], 3, 2, num_classes=10, in_features=64, seed=1)
        return net, Folding(
            tuple(
                LayerFolding(l.name, pe, simd, "bit-serial")
                for l, (pe, simd) in zip(net.compute_layers, [(8, 16), (4, 8), (5, 8)])
            )
        )

    def small_cnv():
        net = random_cnv((12, 12, 1), [8, "P", 16], [32], 2, 2, num_classes=10, seed=2)
        return net, default_folding(net, "parallel", max_pe=4, max_simd=8)

    return {
        "tfc-like w2a2 parallel": tfc_like,
        "fc w3a2 bit-serial": fc_bitserial,
        "cnv 12x12 w2a2 parallel": small_cnv,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--simulators", default="verilator,icarus")
    args = ap.parse_args(argv)

    from bitscale.hw.generate import generate
    from bitscale.sim import runner
    from bitscale.sim.simulate import simulate

    rows = []
    with tempfile.TemporaryDirectory(prefix="bitscale-bench-sim-") as tmp:
        cache = Path(tmp) / "cache"
        for name, make in designs().items():
            net, folding = make()
            build = Path(tmp) / name.replace(" ", "_")
            generate(net, folding, build)
            for sim in args.simulators.split(","):
                print(f"{name} on {sim} ...", file=sys.stderr, flush=True)
                t0 = time.time()
                runner.build([build / "bitscale_top.v"], "bitscale_top", sim, cache_dir=cache, log=lambda *a: None)
                build_s = time.time() - t0
                t0 = time.time()
                doc = simulate(
                    build, images=args.images, simulator=sim, cache_dir=cache, log=lambda *a: None, write=False
                )
                sim_s = time.time() - t0
                cycles = doc["frames_streamed"] * doc["cycles_per_frame"] + doc["latency_cycles"]
                rows.append(
                    {
                        "design": name,
                        "simulator": sim,
                        "images": doc["images"],
                        "golden_match": doc["golden_match"],
                        "cycles_per_frame": doc["cycles_per_frame"],
                        "model_cycles_per_frame": doc["model_cycles_per_frame"],
                        "ratio": doc["cycles_ratio"],
                        "latency_cycles": doc["latency_cycles"],
                        "build_s": round(build_s, 1),
                        "sim_s": round(sim_s, 1),
                        "cycles_per_s": round(cycles / sim_s),
                    }
                )
    hdr = (
        f"{'design':<26} {'sim':<10} {'match':>7} {'cyc/frame':>10} {'model':>7} {'ratio':>6} "
        f"{'latency':>8} {'build s':>8} {'sim s':>6} {'cyc/s':>8}"
    )
    print(hdr)
    for r in rows:
        print(
            f"{r['design']:<26} {r['simulator']:<10} {r['golden_match']:>3}/{r['images']:<3} "
            f"{r['cycles_per_frame']:>10.1f} {r['model_cycles_per_frame']:>7} {r['ratio']:>6.3f} "
            f"{r['latency_cycles']:>8} {r['build_s']:>8} {r['sim_s']:>6} {r['cycles_per_s']:>8}"
        )
    out = ROOT / "bench" / "results" / "sim_cycles.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {"machine": platform.node(), "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "rows": rows},
            indent=1,
        )
    )
    print(f"wrote {out.relative_to(ROOT)}", file=sys.stderr)
    return 0 if all(r["golden_match"] == r["images"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
