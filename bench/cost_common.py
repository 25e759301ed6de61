"""Shared by bench/calibrate_cost.py, bench/cost_vs_yosys.py and bench/vs_finn.py: named designs,
generation into a build cache, and cached Yosys/nextpnr runs.

A design is (name, network factory, folding spec). Synthesis results are cached as JSON under
bench/results/cost_synth/<design>.<family>.json (committed), so fits and tables can be redone
without re-synthesizing; pass resynth=True (scripts: --resynth) to run the tools again.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / "results" / "cost_synth"
BUILD = Path(os.environ.get("BITSCALE_BENCH_BUILD", "/tmp/bitscale_cost_builds"))


_NETS: dict = {}  # network spec -> QuantizedNetwork (random_cnv of a full CNV takes a while)


@dataclass(frozen=True)
class Design:
    name: str
    net: tuple  # ("fc", widths, w, a, in_features, seed) | ("cnv", in_shape, convs, dense, w, a, seed)
    fold: tuple  # ((pe, simd, mode[, mac]), ...) per compute layer

    def network(self):
        if self.net not in _NETS:
            _NETS[self.net] = self._network()
        return _NETS[self.net]

    def _network(self):
        from bitscale.nn.random_net import random_cnv, random_fc

        if self.net[0] == "fc":
            _, widths, w, a, n_in, seed = self.net
            return random_fc(list(widths), w, a, in_features=n_in, seed=seed)
        if self.net[0] == "cnv+bias":  # an imported net's last layer: an integer bias per class
            _, shape, convs, dense, w, a, seed = self.net
            return with_bias(random_cnv(shape, list(convs), list(dense), w, a, seed=seed), seed)
        _, shape, convs, dense, w, a, seed = self.net
        return random_cnv(shape, list(convs), list(dense), w, a, seed=seed)

    def folding(self, net):
        from bitscale.hw.folding import Folding, LayerFolding

        layers = net.compute_layers
        if len(layers) != len(self.fold):
            raise ValueError(f"{self.name}: {len(self.fold)} foldings for {len(layers)} layers")
        return Folding(tuple(LayerFolding(l.name, *t) for l, t in zip(layers, self.fold)))


def with_bias(net, seed: int):
    """``net`` with a random integer bias on its last (act 'none') layer, as imported networks have
    (nn/ir.py: |bias| at most the accumulator's own range)."""
    from dataclasses import replace

    import numpy as np

    from bitscale.nn import ir

    last = net.layers[-1]
    lo, hi = ir.acc_range(last)
    m = max(-lo, hi)
    rng = np.random.default_rng(seed + 7919)
    tensors = dict(net.tensors)
    tensors[f"{last.name}.bias"] = rng.integers(-m // 4, m // 4 + 1, size=last.mh).astype(np.int64)
    out = replace(net, layers=(*net.layers[:-1], replace(last, bias=True)), tensors=tensors)
    ir.validate(out)
    return out


def build(d: Design) -> Path:
    """Generate the design and return its build directory. A build made by another generator version
    (its hw_commit.txt is not :func:`hw_commit`) is generated afresh, so a re-synthesis never reads
    Verilog left in BUILD by an older hw/."""
    import shutil

    from bitscale.hw.generate import generate

    out = BUILD / d.name
    stamp = out / "hw_commit.txt"
    if (out / "design.json").is_file() and stamp.is_file() and stamp.read_text().strip() == hw_commit():
        return out
    if out.exists():
        shutil.rmtree(out)
    net = d.network()
    generate(net, d.folding(net), out)
    stamp.write_text(hw_commit())
    return out


@functools.cache
def hw_commit() -> str:
    """The last commit touching hw/ that changed generated Verilog (the generator version a design was built
    with; bench/hw_verilog_neutral.txt lists the ones that did not), or the snapshot's
    commit when the bench runs on one (bench/snapshot_run.py)."""
    import subprocess

    if os.environ.get("BITSCALE_SNAPSHOT_COMMIT"):
        return os.environ["BITSCALE_SNAPSHOT_COMMIT"]
    neutral = {
        line.split()[0]
        for line in (ROOT / "bench" / "hw_verilog_neutral.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    r = subprocess.run(["git", "log", "--format=%H", "--", "hw/"], cwd=ROOT, capture_output=True, text=True)
    for full in r.stdout.split():
        if full not in neutral:  # commits that changed no generated Verilog (bench/hw_verilog_neutral.txt) skipped
            return full[:7]
    return "unknown"


def synthesized(d: Design, family: str, place: bool = False, resynth: bool = False, log=print) -> dict | None:
    """Cached synth.json content for (design, family); runs the tools when missing (or resynth)."""
    from bitscale.boards.synth import synth

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{d.name}.{family}.json"
    if path.is_file() and not resynth:
        doc = json.loads(path.read_text())
        if not place or doc.get("placed"):
            return doc
    bd = build(d)
    t = time.time()
    log(f"[{time.strftime('%H:%M:%S')}] synth {d.name} {family}{' + place' if place else ''} ...")
    try:
        r = synth(bd, family, place=place, log=lambda *a: None)
    except Exception as e:  # report and keep going: a bench must not die on one design
        log(f"  FAILED: {e}")
        return None
    r["placed"] = place
    r["design"] = d.name
    hc = bd / "hw_commit.txt"
    r["hw_commit"] = hc.read_text().strip() if hc.is_file() else "unknown"
    if family == "ice40":  # the board flow's iCE40 core: adder levels between tree registers (since bfe72b6: 1)
        from bitscale.hw import inventory

        r["cut_level"] = getattr(inventory, "ICE40_CUT_LEVEL", inventory.CUT_LEVEL)
    path.write_text(json.dumps(r, indent=1))
    log(
        f"  {family}: LUT {r['LUT']} FF {r['FF']} {r['bram_kind']} {r['BRAM18']} DSP {r['DSP']}"
        f"{' fmax %.1f MHz' % r['fmax_mhz'] if r.get('fmax_mhz') else ''} ({time.time() - t:.0f} s)"
    )
    return r


def cached(d: Design, family: str) -> dict | None:
    path = CACHE / f"{d.name}.{family}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def write_result(name: str, doc: dict) -> Path:
    out = ROOT / "bench" / "results" / f"{name}.json"
    out.write_text(json.dumps(doc, indent=1))
    return out


def board_for(family: str) -> str:
    return {"xc7": "pynq-z1", "xcup": "zcu104", "ecp5": "ulx3s-85f", "ice40": "icebreaker"}[family]


P, WS, BS = "parallel", "weight-serial", "bit-serial"

# Calibration set: small designs covering every datapath (bench/calibrate_cost.py fits on these).
CALIBRATION = [
    Design("cal_fc_w1a1_p", ("fc", (64, 32), 1, 1, 64, 1), ((4, 8, P), (4, 8, P), (2, 8, P))),
    Design("cal_fc_w2a2_p", ("fc", (64, 32), 2, 2, 64, 1), ((4, 8, P), (4, 8, P), (2, 8, P))),
    Design("cal_fc_w2a2_ws", ("fc", (64, 32), 2, 2, 64, 2), ((4, 8, WS), (4, 8, WS), (2, 8, WS))),
    Design("cal_fc_w2a2_bs", ("fc", (64, 32), 2, 2, 64, 3), ((4, 8, BS), (4, 8, BS), (2, 8, BS))),
    Design("cal_fc_w4a4_p", ("fc", (32, 32), 4, 4, 32, 4), ((2, 8, P), (4, 4, P), (2, 8, P))),
    Design("cal_fc_w4a4_bs", ("fc", (64, 32), 4, 4, 64, 5), ((8, 16, BS), (8, 16, BS), (2, 16, BS))),
    Design("cal_fc_w1a2_p", ("fc", (64, 32), 1, 2, 64, 6), ((8, 16, P), (4, 8, P), (2, 8, P))),
    Design("cal_fc_w2a1_ws", ("fc", (64, 32), 2, 1, 64, 7), ((8, 8, WS), (8, 16, WS), (2, 16, WS))),
    Design("cal_fc_w3a3_ws", ("fc", (48, 24), 3, 3, 48, 8), ((4, 12, WS), (4, 12, WS), (2, 8, WS))),
    Design("cal_fc_w1a1_big", ("fc", (128, 64), 1, 1, 128, 9), ((16, 32, P), (8, 32, P), (2, 32, P))),
    Design("cal_fc_w4a6_p", ("fc", (32, 16), 4, 6, 32, 10), ((2, 4, P), (2, 8, P), (2, 4, P))),
    Design(
        "cal_cnv_w2a2", ("cnv", (10, 10, 3), (8, "P", 8), (16,), 2, 2, 11), ((4, 3, P), (4, 4, P), (4, 8, P), (2, 8, P))
    ),
    Design(
        "cal_cnv_w1a1",
        ("cnv", (10, 10, 3), (16, "P", 16), (16,), 1, 1, 12),
        ((8, 3, P), (8, 8, P), (4, 16, P), (2, 8, P)),
    ),
    Design("cal_fc_deep", ("fc", (256, 64), 1, 2, 256, 13), ((2, 4, P), (4, 8, P), (2, 8, P))),
    # #12's windows: "same" padding, stride 2, 1x1 and 5x5 kernels, a 3x3/2 pool, and a biased last layer
    Design(
        "cal_cnv_pad_s2",
        ("cnv+bias", (8, 8, 3), (("conv", 8, 3, 1, 1), ("conv", 8, 3, 2, 1), ("pool", 3, 2)), (), 2, 2, 61),
        ((4, 3, P), (2, 4, WS), (2, 8, P)),
    ),
    Design(
        "cal_cnv_k5_k1",
        ("cnv", (8, 8, 2), (("conv", 6, 5, 1, 2), ("conv", 8, 1, 2, 0)), (16,), 3, 3, 62),
        ((3, 2, BS), (4, 6, P), (4, 8, WS), (2, 4, P)),
    ),
]

# Validation set: bench/cost_vs_yosys.py synthesizes these for both families (the fit then pools them with
# the calibration set and reports leave-one-design-out errors). Kept small: on the shared 2-core machine
# one synthesis takes minutes.
VALIDATION = [
    Design("val_fc_w1a1_a", ("fc", (96, 48), 1, 1, 96, 21), ((8, 16, P), (4, 16, P), (2, 16, P))),
    Design("val_fc_w2a2_p", ("fc", (96, 48), 2, 2, 96, 22), ((4, 16, P), (4, 8, P), (2, 8, P))),
    Design("val_fc_w4a4_p", ("fc", (48, 32), 4, 4, 48, 25), ((4, 8, P), (4, 8, P), (2, 8, P))),
    Design("val_fc_w3a2_ws", ("fc", (64, 64), 3, 2, 64, 29), ((4, 16, WS), (8, 8, WS), (2, 16, WS))),
    Design("val_fc_deep_w2a2", ("fc", (256, 128), 2, 2, 128, 31), ((2, 8, BS), (4, 8, BS), (2, 8, BS))),
    Design(
        "val_cnv_w1a1",
        ("cnv", (12, 12, 3), (16, 16, "P"), (32,), 1, 1, 33),
        ((4, 3, P), (8, 16, P), (4, 16, P), (2, 16, P)),
    ),
    Design(
        "val_cnv_w2a2_bs",
        ("cnv", (12, 12, 3), (8, "P", 16), (16,), 2, 2, 34),
        ((4, 3, BS), (4, 8, BS), (4, 16, BS), (2, 16, BS)),
    ),
    # added with hw/memstyle.py: the datapaths the first 20 designs exercised once or not at all
    # (cnv at 2 and 4 bits, DSP lanes + requantizer, weight/bit-serial at more widths, a wide XNOR layer)
    Design(
        "val_cnv_w2a2_p",
        ("cnv", (12, 12, 4), (16, "P", 16), (32,), 2, 2, 41),
        ((4, 4, P), (4, 8, P), (4, 16, P), (2, 16, P)),
    ),
    Design(
        "val_cnv_w4a4_ws",
        ("cnv", (10, 10, 3), (16, "P", 16), (16,), 4, 4, 42),
        ((4, 3, WS), (4, 8, WS), (4, 16, WS), (2, 16, WS)),
    ),
    Design("val_fc_w4a8_p", ("fc", (64, 32), 4, 8, 64, 43), ((4, 8, P), (4, 8, P), (2, 8, P))),
    Design("val_fc_w2a4_ws", ("fc", (96, 48), 2, 4, 96, 44), ((4, 16, WS), (4, 8, WS), (2, 8, WS))),
    Design("val_fc_w3a1_bs", ("fc", (64, 64), 3, 1, 64, 45), ((8, 8, BS), (4, 16, BS), (2, 16, BS))),
    Design("val_fc_w1a3_bs", ("fc", (64, 32), 1, 3, 64, 46), ((4, 16, BS), (4, 8, BS), (2, 8, BS))),
    Design("val_fc_w2a2_wide", ("fc", (128, 64), 2, 2, 128, 47), ((8, 16, P), (8, 16, P), (2, 16, P))),
    Design("val_fc_w1a1_wide", ("fc", (256, 256), 1, 1, 256, 48), ((16, 32, P), (8, 32, P), (2, 32, P))),
    # tiny foldings like the demo's (digits, auto-folded for 50k FPS: PE 1, SIMD 2, 1024-deep ROMs in
    # logic), where per-layer overhead (FIFO pointers, counters) is most of the design
    Design("val_tiny_w1a1", ("fc", (32, 32, 32), 1, 1, 64, 51), ((1, 2, P), (1, 2, P), (1, 2, P), (1, 2, P))),
    Design("val_tiny_w4a4", ("fc", (64, 64), 4, 4, 64, 52), ((2, 4, P), (2, 4, P), (1, 4, P))),
    Design("val_tiny_w2a2_bs", ("fc", (32, 32), 2, 2, 64, 53), ((1, 4, BS), (1, 4, BS), (1, 4, BS))),
    Design("val_tiny_w4a4_mix", ("fc", (64, 64, 64), 4, 4, 64, 54), ((1, 16, WS), (1, 4, P), (1, 4, P), (1, 1, P))),
    Design("val_tiny_w2a2", ("fc", (32, 32, 32), 2, 2, 64, 55), ((1, 2, P), (1, 2, P), (1, 2, P), (1, 2, P))),
]


def progress(*a):
    print(*a, flush=True)
    sys.stdout.flush()
