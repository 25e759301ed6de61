"""Fake stages for the sweep tests (no tests here): deterministic, fast, and shaped like
the real stages' outputs. They are module-level so worker processes can import them.

The fake accuracy follows Su et al.'s shape: accuracy grows with width x precision,
so w2a2 needs 2x the width of w8a8 for the same accuracy (used by the findings test).
"""

import json
import math
import os
import time
from pathlib import Path

from bitscale.hw.folding import Folding, default_folding
from bitscale.nn import ir
from bitscale.nn.random_net import random_fc

# Effective capacity: the width counts x{1:0.25, 2:0.5, 4:0.9, 8:1, 16:1}.
EFF = {0: 1.05, 1: 0.25, 2: 0.5, 4: 0.9, 8: 1.0, 16: 1.0}


def fake_accuracy(wbits, abits, scale):
    width = 4096 * scale * EFF[min(wbits, abits) if wbits else 0]
    return round(0.95 - 0.6 * math.exp(-width / 40.0), 6)


def train(kw, out_dir, log):
    out = Path(out_dir)
    delay = float(os.environ.get("BITSCALE_FAKE_TRAIN_S", "0"))
    for e in range(kw["epochs"]):
        log(f"epoch {e + 1}/{kw['epochs']}")
        time.sleep(delay / max(kw["epochs"], 1))
    acc = fake_accuracy(kw["wbits"], kw["abits"], kw["scale"])
    width = max(2, int(round(4096 * kw["scale"])))
    # shaped like bitscale.nn.train's metrics.json (bitscale.results.TrainResult.from_metrics reads it)
    m = {"test_acc": acc, "golden_agreement": None if kw["wbits"] == 0 else 1.0}
    if kw["wbits"]:
        net = random_fc([width, width], kw["wbits"], kw["abits"], in_features=16, seed=kw["seed"])
        ir.save(net, out)
    else:
        m["params"] = 16 * width + width * width + width * 10
    (out / "config.json").write_text(json.dumps(kw))
    (out / "metrics.json").write_text(json.dumps(m))
    # A per-process marker file: the kill test counts trainings independently of the store.
    with open(Path(os.environ.get("BITSCALE_FAKE_LOG", "/dev/null")), "a") as f:
        f.write(f"{kw['wbits']}-{kw['abits']}-{kw['scale']}\n")
    return m


def load_net(run_dir):
    return ir.load(Path(run_dir))


def auto_fold(net, board, target_fps):
    return default_folding(net)


def estimate(net, folding, board):
    layers, tot = [], {"LUT": 0, "FF": 0, "BRAM18": 0, "DSP": 0, "cycles": 0}
    for l in net.compute_layers:
        f = folding[l.name]
        bits = l.mh * l.mw * l.wbits
        lut = f.pe * f.simd * (2.5 + 1.6 * (l.wbits * max(l.in_bits, 1) - 1))
        bram = math.ceil(bits / 18432) if bits > 4096 else 0
        cyc = (l.mh // f.pe) * (l.mw // f.simd)
        layers.append({"name": l.name, "LUT": lut, "FF": lut, "BRAM18": bram, "DSP": 0, "cycles": cyc})
        tot["LUT"] += lut
        tot["FF"] += lut
        tot["BRAM18"] += bram
        tot["cycles"] = max(tot["cycles"], cyc)
    tot["fps"] = board.clock_mhz * 1e6 / tot["cycles"]
    tot["latency_cycles"] = sum(l["cycles"] for l in layers)
    return {"board": board.name, "layers": layers, "total": tot}


def folding_from_json(doc):
    return Folding.from_json(doc)


def generate(net, folding, out_dir, run_dir, log=None):
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ir.save(net, out)
    (out / "bitscale_top.v").write_text("module bitscale_top(); endmodule\n")
    d = {"format": "bitscale.Design", "version": 1, "model_cycles_per_frame": 123, "run_dir": str(run_dir)}
    (out / "design.json").write_text(json.dumps(d))
    return d


def simulate(build_dir, images, simulator, log=None):
    return {
        "images": images,
        "all_frames_match": True,
        "golden_match": images,
        "hw_correct": images - 1,
        "errors": [],
        "cycles_per_frame": 123,
    }


def synth(build_dir, family, board, log=None):
    return {"LUT": 1000, "FF": 900, "BRAM18": 2, "DSP": 0}


def search(source_run, out_dir, req, log):
    """Shaped like bitscale.mixed.search_point: the k-th of K points gets wider inner layers as k
    grows, the first and last layers stay at the widest candidate, and it is a little more accurate
    than the uniform point of its inner bits (so the report's mixed findings have wins to name)."""
    out = Path(out_dir)
    src = json.loads((Path(source_run) / "config.json").read_text())
    W, A = sorted(req["wbits"]), sorted(req["abits"])
    k, of = req["k"], req["of"]
    w_in, a_in = W[min(k, len(W) - 1)], A[min(k, len(A) - 1)]
    width = max(2, int(round(4096 * src["scale"])))
    wb = [max(W), w_in, max(W)]
    net = random_fc([width, width], wb, [a_in, a_in], in_features=16, seed=src["seed"])
    ir.save(net, out)
    ab = [l.in_bits for l in net.compute_layers]
    acc = min(0.99, fake_accuracy(w_in, a_in, src["scale"]) + 0.01)
    (out / "config.json").write_text(json.dumps(dict(src, wbits=wb, abits=ab, epochs=req["epochs"])))
    (out / "metrics.json").write_text(json.dumps({"test_acc": acc, "golden_agreement": 1.0}))
    label = f"w{'.'.join(map(str, wb))}-a{'.'.join(map(str, ab))}"
    bram = sum(
        math.ceil(l.mh * l.mw * l.wbits / 18432) if l.mh * l.mw * l.wbits > 4096 else 0 for l in net.compute_layers
    )
    doc = {
        "format": "bitscale.SearchPoint",
        "source_run": str(source_run),
        "board": req["board"],
        "fps": req["fps"],
        "k": k,
        "of": of,
        "label": label,
        "wbits": wb,
        "abits": ab,
        "perturbation": 0.1 / (k + 1),
        "predicted": {"LUT": 1000, "BRAM18": bram, "DSP": 0},
        "budget": {"LUT": 10**6, "BRAM18": bram + k, "DSP": 0},
        "solve_seconds": 0.01,
        "folding": default_folding(net).to_json(),
        "test_acc": acc,
    }
    (out / "search_point.json").write_text(json.dumps(doc))
    with open(Path(os.environ.get("BITSCALE_FAKE_LOG", "/dev/null")), "a") as f:
        f.write(f"mixed{k + 1}of{of}-{src['scale']}\n")
    return doc


def stages():
    from bitscale.sweep import Stages

    return Stages(
        train=train,
        load_net=load_net,
        auto_fold=auto_fold,
        estimate=estimate,
        folding_from_json=folding_from_json,
        generate=generate,
        simulate=simulate,
        synth=synth,
        search=search,
    )


def main():
    """`python tests/test_sweep_fakes.py OUT W`: a fake-stage sweep, used as the kill-test subprocess
    until (or where) the real stages are too slow."""
    import sys
    from bitscale.sweep import SweepSpec, run_sweep

    out, workers = sys.argv[1], int(sys.argv[2])
    bits = [int(b) for b in (sys.argv[3] if len(sys.argv) > 3 else "1,2,4").split(",")]
    spec = SweepSpec(precisions=tuple((b, b) for b in bits), scales=("1/256", "1/128"), epochs=2)
    run_sweep(spec, out, workers=workers, stages=stages(), log=lambda m: print(m, flush=True))


if __name__ == "__main__":
    main()
