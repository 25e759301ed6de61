"""bitscale vs FINN's own MVAU estimate formulas at equal folding (TFC, SFC, LFC, CNV x w1a1, w2a2, w4a4).

    .venv/bin/python bench/vs_finn.py [--yosys tfc] [--resynth]

Networks: nn/random_net.py with random weights at the FINN topologies (TFC/SFC/LFC = 784-{64,256,1024}x3-10,
CNV = 32x32x3 conv 64,64,P,128,128,P,256,256, FC 512,512,10), on PYNQ-Z1 (xc7).
Folding: FINN's published ones where known (TFC: FINN end2end test fold_tfc; CNV: fold_cnv_large;
LFC: BNN-PYNQ's lfc config with layer 0 at SIMD 49 since 64 does not divide 784 unpadded), SFC our FINN-like choice; the same PE/SIMD at every precision.

Per design, weight memories only (what FINN's formula covers):
* ours: the model's block-RAM count (= Yosys, see bench/cost_vs_yosys.py), FINN: its BRAM18 formula
  (all weight memories in BRAM, ram_style "block"), bound: sum over our block weight memories of
  max(ceil(bits/18Ki), ceil(width/36)) and the same over all weight memories;
  targets: ours within 10% of the bound of our block memories, never above FINN's.
* LUT: the model (whole design: MVTUs + FIFOs + width converters + sliding windows), Yosys where run,
  FINN's HLS MVAU formula summed over layers; target: Yosys <= 0.7 x FINN.
Then the same networks at equal PE*SIMD in parallel vs weight-serial vs bit-serial (model): BRAM18, LUT, FPS.
Writes bench/results/vs_finn.json.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cost_common import Design, cached, progress, synthesized, write_result  # noqa: E402

BOARD = "pynq-z1"
NETS = {
    "tfc": (("fc", (64, 64, 64), None, None, 784, 0), [(16, 49), (8, 8), (8, 8), (10, 8)]),
    "sfc": (("fc", (256, 256, 256), None, None, 784, 0), [(16, 49), (16, 16), (16, 16), (10, 16)]),
    "lfc": (("fc", (1024, 1024, 1024), None, None, 784, 0), [(32, 49), (64, 32), (32, 64), (10, 8)]),
    "cnv": (
        ("cnv", (32, 32, 3), (64, 64, "P", 128, 128, "P", 256, 256), (512, 512), None, None, 0),
        [(16, 3), (32, 32), (16, 32), (16, 32), (4, 32), (1, 32), (1, 4), (1, 8), (5, 1)],
    ),
}
PRECISIONS = [(1, 1), (2, 2), (4, 4)]


def design(net_name, w, a, mode="parallel", folder_mac=False) -> Design:
    """The FINN design; ``folder_mac``: each layer's MAC resource (LUT or DSP products) chosen by the
    folder for the board (cost_model.autofold.choose_mac; #13), named ``..._mac`` where that differs
    from the products-as-written default (DSP) the earlier cached runs were built with."""
    spec, fold = NETS[net_name]
    spec = list(spec)
    if spec[0] == "fc":
        spec[2], spec[3] = w, a
    else:
        spec[4], spec[5] = w, a
    d = Design(f"finn_{net_name}_w{w}a{a}_{mode}", tuple(spec), tuple((p, s, mode) for p, s in fold))
    if not folder_mac:
        return d
    from bitscale.cost_model.autofold import choose_mac

    net = d.network()
    chosen = choose_mac(net, d.folding(net), BOARD)
    macs = [lf.mac for lf in chosen.layers]
    name = d.name + ("_mac" if any(m != "dsp" and _has_products(l) for m, l in zip(macs, net.compute_layers)) else "")
    return Design(name, d.net, tuple((p, s, mode, m) for (p, s), m in zip(fold, macs)))


def _has_products(layer) -> bool:
    return layer.wbits > 1 and layer.in_bits > 1


def finn_lut(layer, pe, simd) -> float:
    """FINN's HLS MVAU LUT estimate (anchors file): 300 + 1.1*PE*(mult + addertree + acc + thresholds)."""
    from bitscale.nn import ir

    W, A = layer.wbits, layer.in_bits
    Q = simd
    mult = Q * (2 * math.ceil((W + A) / 6) - 1) * (W + A)
    addertree = (W + A) * (2 * Q - 1)
    acc = ir.acc_bits(layer)
    thr = 0
    if layer.act == "thresholds":
        B = layer.out_bits
        tmem = layer.mh // pe
        thr = (2**B - 1) * acc * math.ceil(tmem / 64) + (2**B - 1) * acc
    return 300 + 1.1 * pe * (mult + addertree + acc + thr)


def evaluate(d: Design, with_yosys: bool, resynth: bool, cached_only: bool = False):
    from bitscale.cost_model import bram, estimate

    net = d.network()
    f = d.folding(net)
    e = estimate(net, f, BOARD)
    ours = bound_block = bound_all = finn = 0
    finn_luts = 0.0
    for l, le in zip(net.compute_layers, e.layers):
        wm = next(m for m in le.memories if m.role == "weights")
        ours += wm.count
        bound_all += wm.floor
        if wm.style == "block":
            bound_block += wm.floor
        finn += bram.finn_bram18(wm.width, wm.depth)
        finn_luts += finn_lut(l, le.pe, le.simd)
    row = {
        "design": d.name,
        "BRAM18_weights": ours,
        "bound_block": bound_block,
        "bound_all": bound_all,
        "finn_BRAM18": finn,
        "BRAM18_total": e.BRAM18,
        "LUT_model": e.LUT,
        "LUT_finn": round(finn_luts),
        "DSP": e.DSP,
        "fps": round(e.fps, 1),
        "cycles": e.cycles,
        "mac": [le.mac for le in e.layers],
        # products of <= 4x4 bits (the first layer takes 8-bit pixels) in DSP blocks (model = Yosys)
        "DSP_small_products": sum(
            le.DSP
            for l, le in zip(net.compute_layers, e.layers)
            if _has_products(l) and l.wbits <= 4 and l.in_bits <= 4
        ),
        "over_bound": round(ours / bound_block - 1, 4) if bound_block else 0.0,
        "weight_memories": [m.to_json() for le in e.layers for m in le.memories if m.role == "weights"],
    }
    if with_yosys:
        r = cached(d, "xc7") if cached_only else synthesized(d, "xc7", resynth=resynth, log=progress)
        if r:
            row.update(LUT_yosys=r["LUT"], BRAM18_yosys=r["BRAM18"], DSP_yosys=r["DSP"], FF_yosys=r["FF"])
            row["yosys_hw_commit"] = r.get("hw_commit", "unknown")  # the RTL the Yosys numbers are of
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--yosys", default="tfc", help="comma-separated networks to also synthesize (xc7); '' for none")
    ap.add_argument("--resynth", action="store_true")
    ap.add_argument("--cached-only", action="store_true", help="use cached Yosys runs only, start none")
    ap.add_argument(
        "--as-written",
        action="store_true",
        help="products as written (DSP where Yosys maps them), not the folder's MAC choice",
    )
    args = ap.parse_args(argv)
    ysets = {s for s in args.yosys.split(",") if s}
    t0 = time.time()
    rows = []
    progress(
        f"{'design':<24} {'ours':>5} {'bound':>6} {'(all)':>6} {'FINN':>5} {'total':>6} "
        f"{'LUT model':>10} {'LUT yosys':>10} {'LUT FINN':>9} {'FPS':>10}"
    )
    for name in NETS:
        for w, a in PRECISIONS:
            d = design(name, w, a, folder_mac=not args.as_written)
            row = evaluate(d, name in ysets, args.resynth, args.cached_only)
            rows.append(row)
            progress(
                f"{d.name:<24} {row['BRAM18_weights']:>5} {row['bound_block']:>6} {row['bound_all']:>6} "
                f"{row['finn_BRAM18']:>5} {row['BRAM18_total']:>6} {row['LUT_model']:>10} "
                f"{row.get('LUT_yosys', '-'):>10} {row['LUT_finn']:>9} {row['fps']:>10.0f}"
            )
    progress("\nequal PE*SIMD, three MAC modes (model, pynq-z1 @ 100 MHz)")
    progress(f"{'network':<12} {'mode':<14} {'BRAM18':>7} {'LUT':>8} {'DSP':>5} {'FPS':>12}")
    modes = []
    from bitscale.cost_model import estimate

    nets = {}
    for name in NETS:
        for w, a in PRECISIONS[1:]:
            for mode in ("parallel", "weight-serial", "bit-serial"):
                d = design(name, w, a, mode)
                key = (name, w, a)
                net = nets[key] = nets.get(key) or d.network()
                e = estimate(net, d.folding(net), BOARD)
                m = {
                    "network": f"{name}_w{w}a{a}",
                    "mode": mode,
                    "BRAM18": e.BRAM18,
                    "LUT": e.LUT,
                    "DSP": e.DSP,
                    "fps": round(e.fps, 1),
                }
                modes.append(m)
                progress(f"{m['network']:<12} {mode:<14} {e.BRAM18:>7} {e.LUT:>8} {e.DSP:>5} {e.fps:>12,.0f}")
    checks = {
        "bram_within_10pct_of_bound": all(r["over_bound"] <= 0.10 for r in rows),
        "bram_never_above_finn": all(r["BRAM18_weights"] <= r["finn_BRAM18"] for r in rows),
        "lut_yosys_le_0.7_finn": all(r["LUT_yosys"] <= 0.7 * r["LUT_finn"] for r in rows if "LUT_yosys" in r),
        # #13: <= 0.6 with the folder's MAC choice (Yosys where run, else the model, marked per row)
        "lut_le_0.6_finn": all(r.get("LUT_yosys", r["LUT_model"]) <= 0.6 * r["LUT_finn"] for r in rows),
        "no_dsp_for_products_le_4x4": all(r["DSP_small_products"] == 0 for r in rows),
    }
    for r in rows:
        r["LUT_ratio"] = round(r.get("LUT_yosys", r["LUT_model"]) / r["LUT_finn"], 3)
        r["LUT_ratio_from"] = "yosys" if "LUT_yosys" in r else "model"
    progress("\n" + "  ".join(f"{r['design']} {r['LUT_ratio']} ({r['LUT_ratio_from']})" for r in rows))
    progress(f"\nchecks: {checks}")
    out = write_result(
        "vs_finn",
        {
            "board": BOARD,
            "rows": rows,
            "modes": modes,
            "checks": checks,
            "seconds": round(time.time() - t0, 1),
            "command": "bench/vs_finn.py --yosys " + args.yosys + (" --cached-only" if args.cached_only else ""),
        },
    )
    progress(f"wrote {out}")


if __name__ == "__main__":
    main()
