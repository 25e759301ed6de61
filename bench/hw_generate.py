"""Generator benchmark: generate() time, Verilog size, memories and model cycles for FINN-shaped networks,
plus the frame period measured in Amaranth's simulator for the small ones.

    nice .venv/bin/python bench/hw_generate.py      # writes bench/results/hw_generate.json

Networks are random (nn/random_net.py) with FINN's shapes: TFC/SFC/LFC = 784-{64,256,1024}x3-10,
and CNV at 1/4 width on 32x32x3. Folding: hw.folding.default_folding in each mode.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bitscale.hw.folding import default_folding
from bitscale.hw.generate import generate
from bitscale.hw.testbench import run_accelerator
from bitscale.hw.top import Accelerator
from bitscale.nn import golden
from bitscale.nn.random_net import random_cnv, random_fc, random_inputs

CASES = [
    ("tfc-w1a1", lambda: random_fc([64] * 3, 1, 1, in_features=784), True),
    ("tfc-w2a2", lambda: random_fc([64] * 3, 2, 2, in_features=784), True),
    ("tfc-w4a4", lambda: random_fc([64] * 3, 4, 4, in_features=784), False),
    ("sfc-w1a1", lambda: random_fc([256] * 3, 1, 1, in_features=784), False),
    ("lfc-w1a1", lambda: random_fc([1024] * 3, 1, 1, in_features=784), False),
    ("cnv/4-w2a2", lambda: random_cnv((32, 32, 3), [16, 16, "P", 32, 32, "P", 64, 64], [128, 128], 2, 2), False),
]
MODES = ["parallel", "bit-serial"]


def main():
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, make, simulate in CASES:
            net = make()
            for mode in MODES:
                f = default_folding(net, mode=mode)
                t0 = time.time()
                d = generate(net, f, Path(tmp) / f"{name}-{mode}")
                gen_s = time.time() - t0
                vbytes = (Path(tmp) / f"{name}-{mode}" / "bitscale_top.v").stat().st_size
                mems = [l["memory"] for l in d["layers"] if l["memory"]]
                row = {
                    "net": name,
                    "mode": mode,
                    "generate_s": round(gen_s, 2),
                    "verilog_kib": vbytes // 1024,
                    "model_cycles_per_frame": d["model_cycles_per_frame"],
                    "weight_bits": sum(m["bits"] for m in mems),
                    "block_memories": sum(m["style"] == "block" for m in mems),
                    "widest_word": max(m["width"] for m in mems),
                    "amaranth_sim_cycles_per_frame": None,
                    "sim_golden_match": None,
                }
                if simulate and mode == "parallel":
                    acc = Accelerator(net, f)
                    x = random_inputs(net.input_shape, 4, seed=0)
                    got, cyc, _ = run_accelerator(acc, x)
                    b = acc.frame.output.beats
                    ends = np.array(cyc[b - 1 :: b])
                    row["amaranth_sim_cycles_per_frame"] = float(np.diff(ends[1:]).mean())
                    row["sim_golden_match"] = int((got == golden.run(net, x)).all(axis=1).sum())
                rows.append(row)
                print(
                    f"{name:<11} {mode:<11} gen {row['generate_s']:>5.1f}s  {row['verilog_kib']:>5} KiB  "
                    f"model {row['model_cycles_per_frame']:>7} cyc  weights {row['weight_bits']:>8} b  "
                    f"block mems {row['block_memories']}  sim {row['amaranth_sim_cycles_per_frame']}",
                    flush=True,
                )
    out = Path(__file__).parent / "results" / "hw_generate.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "python": sys.version.split()[0]}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
