"""Simulation speed: the fast HDL stream harness vs the per-beat cocotb driver, on FINN-folded designs.

    .venv/bin/python bench/sim_speed.py [--designs tfc_w1a1,sfc_w2a2,cnv_w2a2,tfc_w2a2_bitserial,cnv_w2a2_lut]
                                        [--beat-frames 4] [--cli-cnv] [--cli-runs 3]

Designs (random weights, nn/random_net.py, generated once into $BITSCALE_BENCH_BUILD like
bench/vs_finn.py): TFC w1a1, SFC w2a2 and CNV w2a2 at FINN's folding, and TFC w2a2 with every
layer bit-serial (4 cycles per weight word), and the CNV with every layer's products in LUT form
(``mac="lut"``, the existing per-layer option: the same network and cycles, other RTL for the
products). The fc designs stream the Fashion-MNIST test set (all 10,000 images for TFC/SFC, 1,000
for the bit-serial one), the CNVs 50 random 32x32x3 frames.

Per design, one Verilator build (cached in the design's sim_build/, shared by both modes):
``simulate(mode="fast")`` over the images, then ``simulate(mode="cocotb-stream")`` over
a few frames (its own build). Reported: build seconds (0 when the build was cached; compile_s is
what it took when it was made), golden match, measured vs model cycles per frame, latency,
simulated cycles per wall second of each mode (process start-up and reading the results
included) and their ratio; the fast run's ``twins`` report (sim/twins.py), and for the CNV w2a2 a 10-frame fast
run without the twins (``fast_no_twins``: the same harness and clock on the synthesized modules). ``--cli-cnv`` also times ``bitscale simulate BUILD --images 50`` on
the CNV in a fresh copy of its build folder (a full build); earlier such runs with the same build
options stay in ``cli_cnv_earlier`` (one run's wall time says mostly how loaded the machine was). The machine's load average is
recorded beside every row: the 2-core machine is shared, so wall times depend on it; the cycle
counts do not (and `uptime`'s line before and after each design, and cycles per CPU second of the
simulator, which depend much less on the load). ``--cli-cnv`` runs with an empty simulation cache,
so its build also compiles Verilator's runtime objects (a machine's first build); ``--cli-runs N``
times it N times in a row (each from an empty cache; ``--designs ''`` skips the design rows).
Writes bench/results/sim_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

DESIGNS = {
    # name: (vs_finn design args, inputs, fast images, per-beat frames[, MAC resource of every layer])
    "tfc_w1a1": (("tfc", 1, 1, "parallel"), "fashion-mnist", "all", 200),
    "tfc_w2a2_bitserial": (("tfc", 2, 2, "bit-serial"), "fashion-mnist", 1000, 50),
    "sfc_w2a2": (("sfc", 2, 2, "parallel"), "fashion-mnist", "all", 50),
    "cnv_w2a2": (("cnv", 2, 2, "parallel"), "random", 50, 4),
    "cnv_w2a2_lut": (("cnv", 2, 2, "parallel"), "random", 50, 4, "lut"),
}


def _design(name: str):
    """The bench/vs_finn design of a row (with every layer's MAC resource set where the row names one)."""
    from cost_common import Design
    from vs_finn import design

    spec = DESIGNS[name]
    net_name, w, a, mode = spec[0]
    mac = spec[4] if len(spec) > 4 else None
    d = design(net_name, w, a, mode)
    if mac is None:
        return d
    return Design(f"{d.name}_{mac}", d.net, tuple((f[0], f[1], f[2], mac) for f in d.fold))


def progress(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def load() -> float:
    return round(os.getloadavg()[0], 2)


def _hw_commit(bd: Path) -> str | None:
    """The hw/ commit the design was generated with (bench/cost_common.py writes it)."""
    try:
        return (bd / "hw_commit.txt").read_text().strip()
    except OSError:
        return None


def uptime() -> str:
    """`uptime`'s line: 8 engineers share the 2 cores, so every wall number needs it beside it."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return f"load average {os.getloadavg()}"


def run_design(name: str, beat_frames: int | None) -> dict:
    from cost_common import build

    from bitscale.nn import ir
    from bitscale.sim.simulate import simulate

    _, source, n_fast, n_beat = DESIGNS[name][:4]
    beat_frames = beat_frames or n_beat
    bd = build(_design(name))
    net = ir.load(bd)
    x = y = None
    if source == "fashion-mnist":
        from bitscale.nn.data import load_dataset

        ds = load_dataset("fashion-mnist", None, tuple(net.input_shape))
        x, y = ds.test_x, ds.test_y
    row = {
        "design": name,
        "build_dir": str(bd),
        "hw_commit": _hw_commit(bd),
        "load_before": load(),
        "uptime_before": uptime(),
    }
    progress(f"{name}: fast harness, {n_fast} image(s) ...")
    fast = simulate(bd, images=n_fast, inputs=x, labels=y, mode="fast", write=False, log=progress)
    row["load_fast"] = load()
    progress(f"{name}: per-beat cocotb, {beat_frames} frame(s) ...")
    beat = simulate(
        bd,
        images=beat_frames,
        inputs=None if x is None else x[:beat_frames],
        labels=None if y is None else y[:beat_frames],
        mode="cocotb-stream",
        write=False,
        log=progress,
    )
    row["load_beat"] = load()
    row["uptime_after"] = uptime()
    for tag, doc in (("fast", fast), ("beat", beat)):
        row[tag] = {
            k: doc.get(k)
            for k in (
                "images",
                "golden_match",
                "hw_correct",
                "input_source",
                "cycles_per_frame",
                "model_cycles_per_frame",
                "latency_cycles",
                "frames_streamed",
                "sim_cycles",
                "sim_s",
                "stream_cycles",
                "stream_s",
                "cycles_per_s",
                "cycles_per_cpu_s",
                "run_cycles_per_s",
                "build_s",
                "compile_s",
                "compile_cpu_s",
                "wall_s",
                "errors",
                "twins",
            )
        }
    if name == "cnv_w2a2":  # the same fast harness and clock on the synthesized dot products and comparisons
        progress(f"{name}: fast harness without the simulation twins ...")
        plain = simulate(bd, images=10, mode="fast", twins=False, write=False, log=progress)
        row["fast_no_twins"] = {
            k: plain.get(k) for k in ("images", "golden_match", "cycles_per_s", "cycles_per_cpu_s", "compile_cpu_s")
        }
    row["speedup"] = round(fast["cycles_per_s"] / beat["cycles_per_s"], 1) if beat["cycles_per_s"] else None
    cf, cb = fast.get("cycles_per_cpu_s"), beat.get("cycles_per_cpu_s")
    row["speedup_cpu"] = round(cf / cb, 1) if cf and cb else None
    row["same_cycles"] = (
        fast["cycles_per_frame"] == beat["cycles_per_frame"] and fast["latency_cycles"] == beat["latency_cycles"]
    )
    from bitscale.cost_model import estimate
    from bitscale.hw.folding import Folding

    folding = Folding.from_json(json.loads((bd / "design.json").read_text())["folding"])
    try:  # the cost model's latency bound (a side column: a cost model mid-refit must not lose the run)
        row["latency_model"] = estimate(net, folding, "pynq-z1").latency_cycles
    except (ValueError, KeyError) as e:
        row["latency_model"], row["latency_model_error"] = None, str(e)
    row["checks"] = {
        "golden_exact": fast["golden_match"] == fast["images"] and beat["golden_match"] == beat["images"],
        "cycles_eq_model": fast["cycles_per_frame"] == fast["model_cycles_per_frame"],
        "latency_le_model": (
            fast["latency_cycles"] <= row["latency_model"] if row["latency_model"] is not None else None
        ),
    }
    return row


def cli_cnv(images: int = 50) -> dict:
    """`bitscale simulate` of the CNV in a fresh copy of its build folder: a full build, timed."""
    from cost_common import build
    from vs_finn import design

    bd = build(design("cnv", 2, 2))
    with tempfile.TemporaryDirectory(prefix="bitscale-simspeed-") as tmp:
        fresh = Path(tmp) / "cnv"
        shutil.copytree(bd, fresh, ignore=shutil.ignore_patterns("sim_build", ".sim-*", "sim.json"))
        env = dict(os.environ, BITSCALE_SIM_CACHE=str(Path(tmp) / "cache"))
        t, up0 = time.time(), uptime()
        c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        progress(f"bitscale simulate {fresh} --images {images} (fresh build) ...")
        r = subprocess.run(
            [sys.executable, "-m", "bitscale", "simulate", str(fresh), "--images", str(images)],
            capture_output=True,
            text=True,
            env=env,
        )
        wall = time.time() - t
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)  # the whole command, build included
        doc = json.loads((fresh / "sim.json").read_text()) if (fresh / "sim.json").is_file() else {}
    return {
        "command": f"bitscale simulate BUILD --images {images}",
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "returncode": r.returncode,
        "hw_commit": _hw_commit(bd),
        "wall_s": round(wall, 1),
        "build_s": doc.get("build_s"),
        "compile_cpu_s": doc.get("compile_cpu_s"),
        "cpu_s": round(cpu, 1),
        "sim_s": doc.get("sim_s"),
        "cycles_per_cpu_s": doc.get("cycles_per_cpu_s"),
        "uptime_before": up0,
        "uptime_after": uptime(),
        "golden_match": doc.get("golden_match"),
        "images": doc.get("images"),
        "cycles_per_s": doc.get("cycles_per_s"),
        "twins": doc.get("twins"),
        "load_after": load(),
        "stdout_tail": r.stdout[-400:],
        "stderr_tail": r.stderr[-800:],
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--designs", default=",".join(DESIGNS))
    ap.add_argument(
        "--beat-frames",
        type=int,
        default=None,
        help="frames through the per-beat testbench (default: per design, enough for >10k cycles)",
    )
    ap.add_argument("--cli-cnv", action="store_true")
    ap.add_argument("--cli-runs", type=int, default=1, help="with --cli-cnv: how many timed runs in a row")
    args = ap.parse_args(argv)
    names = [n for n in args.designs.split(",") if n]
    bad = [n for n in names if n not in DESIGNS]
    if bad:
        ap.error(f"unknown design {bad[0]!r}; choose from {', '.join(DESIGNS)}")
    from bitscale.sim import runner

    runner.setup_path()

    out = ROOT / "bench" / "results" / "sim_speed.json"
    prev = json.loads(out.read_text()) if out.is_file() else {}
    rows = {r["design"]: r for r in prev.get("rows", [])}
    doc: dict = {}

    def save() -> None:  # after every design: a late failure keeps what was measured
        doc.update(
            {
                "machine": platform.node(),
                "cpus": os.cpu_count(),
                "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "verilator": runner._tool_version("verilator"),
                "build_options": runner.verilator_options(None),
                "rows": [rows[n] for n in DESIGNS if n in rows],
            }
        )
        if "cli_cnv" not in doc and "cli_cnv" in prev:
            doc["cli_cnv"] = prev["cli_cnv"]
        if "cli_cnv_earlier" in prev and "cli_cnv_earlier" not in doc:
            doc["cli_cnv_earlier"] = prev["cli_cnv_earlier"]
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, indent=1))

    for n in names:
        rows[n] = run_design(n, args.beat_frames)
        save()
    if args.cli_cnv:
        # the wall time of one run depends on the load: earlier runs with the same build options are kept
        opts = [list(o) for o in runner.verilator_options(None)]  # as JSON reads it back
        same = [
            c
            for c in [prev.get("cli_cnv"), *prev.get("cli_cnv_earlier", [])]
            if c and c.get("build_options", prev.get("build_options")) == opts
        ]
        for k in range(max(1, args.cli_runs)):
            doc["cli_cnv_earlier"] = same[:12]
            doc["cli_cnv"] = {**cli_cnv(), "build_options": opts}
            save()
            same = [doc["cli_cnv"], *same]

    hdr = (
        f"{'design':<20} {'images':>6} {'match':>11} {'cyc/frame':>9} {'model':>6} {'latency':>7} "
        f"{'build s':>7} {'fast cyc/s':>11} {'(per CPU s)':>11} {'beat cyc/s':>10} {'(per CPU s)':>11} "
        f"{'x':>6} {'load':>5}"
    )
    print(hdr)
    for r in doc["rows"]:
        f, b = r["fast"], r["beat"]
        build_s = f["build_s"] if f["build_s"] > 1 else f"({f['compile_s']})"
        print(
            f"{r['design']:<20} {f['images']:>6} {f['golden_match']:>5}/{f['images']:<5} "
            f"{f['cycles_per_frame']:>9.1f} {f['model_cycles_per_frame']:>6} {f['latency_cycles']:>7} "
            f"{build_s!s:>7} {f['cycles_per_s']:>11,} {f.get('cycles_per_cpu_s') or 0:>11,} "
            f"{b['cycles_per_s']:>10,} {b.get('cycles_per_cpu_s') or 0:>11,} {r['speedup']!s:>6} "
            f"{r['load_fast']:>5}"
        )
    if "cli_cnv" in doc:
        c = doc["cli_cnv"]
        print(
            f"{c['command']} (CNV w2a2, fresh build): {c['wall_s']} s wall, build {c['build_s']} s, "
            f"{c['golden_match']}/{c['images']} golden, exit {c['returncode']}"
        )
    print(f"wrote {out.relative_to(ROOT)}", file=sys.stderr)
    ok = all(
        r["fast"]["golden_match"] == r["fast"]["images"] and r["beat"]["golden_match"] == r["beat"]["images"]
        for r in doc["rows"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
