"""A/B of the Verilator model's C++ flags: compile time of the eval code vs simulation speed.

    .venv/bin/python bench/sim_flags.py [--design cnv_w2a2] [--images 10] [--runs 1]
                                        [--variants "-O0;-O1;-O2;-O3;-O2 -march=native"]

Takes the design's fast-harness build (bench/sim_speed.py's designs; built with the default
options when not cached), copies it once per variant, deletes the eval code's objects (the
``OPT_FAST`` part: ``Vtop.o``, ``Vtop___024root__N.o``, ``Vtop__Dpi.o`` and their PCH) and
recompiles them with ``make OPT_FAST=<variant>``; the run-once code (``OPT_SLOW``) and the
runtime objects are kept. Then runs the same cocotb harness test (sim/tb_harness.py) on it
with the same frames. Per variant: wall and CPU seconds of that compile (make and its
children), simulated cycles per wall second and per CPU second of the simulator over the
timed stream, and whether every frame matched the golden words. The load average beside each
row: the 2-core machine is shared, so wall numbers depend on it, CPU numbers much less (but still
+-15% from run to run: ``--runs N`` simulates each variant N times, the variants interleaved, and
reports the best, the fewest CPU seconds, beside every run's).
Writes bench/results/sim_flags.json (earlier rows kept: a repeated variant adds a row).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

FAST_OBJS = ("Vtop.o", "Vtop__Dpi.o", "Vtop__pch.h.fast.gch", "Vtop__ALL.a")


def progress(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def harness_build(name: str, images: int):
    """(design build dir, harness build dir, kept run folder with params.json and the hex files)."""
    from sim_speed import DESIGNS
    from cost_common import build
    from vs_finn import design

    from bitscale.sim.simulate import simulate

    (net_name, w, a, mode), _source, _n, _b = DESIGNS[name]
    bd = build(design(net_name, w, a, mode))
    os.environ["BITSCALE_SIM_KEEP"] = "1"
    before = set(bd.glob(".sim-*"))
    doc = simulate(bd, images=images, mode="fast", write=False, log=progress)
    os.environ.pop("BITSCALE_SIM_KEEP")
    runs = sorted(set(bd.glob(".sim-*")) - before, key=lambda p: p.stat().st_mtime)
    builds = sorted(
        (p for p in (bd / "sim_build").glob("verilator-bitscale_harness-*") if (p / "BUILD_OK").is_file()),
        key=lambda p: (p / "BUILD_OK").stat().st_mtime,
    )
    return bd, builds[-1], runs[-1], doc


def _tag(opt: str) -> str:
    return opt.replace(" ", "_").replace("=", "-")


def compile_variant(sim_dir: Path, opt: str, work_root: Path) -> dict:
    """Copy the build and recompile its eval code with OPT_FAST=``opt``; the compile's numbers."""
    from bitscale.sim import runner
    from bitscale.sim.simulate import HARNESS_TOP

    tag = _tag(opt)
    vdir = work_root / f"build{tag}"
    shutil.copytree(sim_dir, vdir, symlinks=True)
    for f in list(vdir.glob("Vtop___024root__[0-9]*.o")) + [vdir / o for o in FAST_OBJS] + [vdir / HARNESS_TOP]:
        if f.name.endswith("__Slow.o"):
            continue
        f.unlink(missing_ok=True)
    _, make_vars = runner.verilator_options(None)
    make_vars = [v if not v.startswith("OPT_FAST=") else f"OPT_FAST={opt}" for v in make_vars]
    env = dict(os.environ)
    env.pop("MAKEFLAGS", None)
    progress(f"{opt}: compiling the eval code ...")
    t0, c0 = time.time(), _children_cpu()
    r = subprocess.run(
        ["make", f"-j{runner.BUILD_JOBS}", "-C", str(vdir), "-f", "Vtop.mk", "VM_TRACE=0"] + make_vars,
        capture_output=True,
        text=True,
        env=env,
    )
    compile_wall, compile_cpu = time.time() - t0, _children_cpu() - c0
    if r.returncode:
        return {"opt_fast": opt, "error": r.stderr[-2000:]}
    return {"opt_fast": opt, "compile_wall_s": round(compile_wall, 1), "compile_cpu_s": round(compile_cpu, 1)}


def run_variant(opt: str, run_dir: Path, work_root: Path) -> dict:
    """Simulate the frames of ``run_dir`` once on the variant's build (compile_variant)."""
    from bitscale.sim import runner
    from bitscale.sim.simulate import HARNESS_TB, HARNESS_TOP

    tag = _tag(opt)
    vdir = work_root / f"build{tag}"
    work = work_root / f"run{tag}"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(run_dir, work)
    params = json.loads((work / "params.json").read_text())
    params["result"] = str(work / "result.json")
    (work / "result.json").unlink(missing_ok=True)
    load = round(os.getloadavg()[0], 2)
    progress(f"{opt}: simulating ...")
    run = runner.run_test(vdir, HARNESS_TOP, HARNESS_TB, params, work, "verilator")
    res = json.loads((work / "result.json").read_text()) if (work / "result.json").is_file() else {}
    cycles, wall, cpu = res.get("stream_cycles"), res.get("stream_wall_s"), res.get("stream_cpu_s")
    row = {
        "passed": run.passed,
        "frames": len(res.get("matches", [])),
        "golden_exact": bool(res.get("matches")) and all(res["matches"]),
        "stream_cycles": cycles,
        "stream_wall_s": round(wall, 3) if wall else None,
        "stream_cpu_s": round(cpu, 3) if cpu else None,
        "cycles_per_s": round(cycles / wall) if cycles and wall else None,
        "cycles_per_cpu_s": round(cycles / cpu) if cycles and cpu else None,
        "load": load,
        "load_after": round(os.getloadavg()[0], 2),
    }
    shutil.rmtree(work, ignore_errors=True)
    return row


def best_of(opt: str, compiled: dict, runs: list[dict]) -> dict:
    """One result row: the compile, the run with the fewest CPU seconds, every run's speed."""
    ok = [r for r in runs if r.get("stream_cpu_s")]
    best = min(ok, key=lambda r: r["stream_cpu_s"]) if ok else (runs[0] if runs else {})
    row = {**compiled, **best, "opt_fast": opt}
    row["passed"] = bool(runs) and all(r.get("passed") for r in runs)
    row["golden_exact"] = bool(runs) and all(r.get("golden_exact") for r in runs)
    if len(runs) > 1:
        row["runs"] = len(runs)
        row["cycles_per_cpu_s_all"] = [r.get("cycles_per_cpu_s") for r in runs]
        row["cycles_per_s_all"] = [r.get("cycles_per_s") for r in runs]
        row["loads"] = [r.get("load") for r in runs]
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--design", default="cnv_w2a2")
    ap.add_argument("--images", type=int, default=10)
    ap.add_argument("--variants", default="-O0;-O1;-O2;-O3;-O2 -march=native")
    ap.add_argument("--runs", type=int, default=1, help="simulations per variant (interleaved); the best is reported")
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error(f"--runs must be at least 1, not {args.runs}")
    from bitscale.sim import runner

    runner.setup_path()
    bd, sim_dir, run_dir, doc = harness_build(args.design, args.images)
    progress(f"harness build {sim_dir} (made in {doc.get('compile_s')} s)")
    out = ROOT / "bench" / "results" / "sim_flags.json"
    prev = json.loads(out.read_text()) if out.is_file() else {}
    rows = {(r["design"], r["opt_fast"], r.get("when")): r for r in prev.get("rows", [])}  # repeats kept
    opts = [v.strip() for v in args.variants.split(";") if v.strip()]
    with tempfile.TemporaryDirectory(prefix="bitscale-simflags-", dir=bd) as tmp:
        compiled = {opt: compile_variant(sim_dir, opt, Path(tmp)) for opt in opts}
        runs: dict[str, list[dict]] = {opt: [] for opt in opts}
        for _ in range(args.runs):
            for opt in opts:
                if "error" not in compiled[opt]:
                    runs[opt].append(run_variant(opt, run_dir, Path(tmp)))
        for opt in opts:
            row = {
                "design": args.design,
                **best_of(opt, compiled[opt], runs[opt]),
                "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            }
            rows[(args.design, opt, row["when"])] = row
            print(json.dumps(row), flush=True)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(
                json.dumps(
                    {
                        **prev,  # other keys (verilator_args_rows: hand-run Verilator option A/Bs) kept
                        "cpus": os.cpu_count(),
                        "verilator": runner._tool_version("verilator"),
                        "build_options": runner.verilator_options(None),
                        "rows": list(rows.values()),
                    },
                    indent=1,
                )
            )
    shutil.rmtree(run_dir, ignore_errors=True)
    print(
        f"{'design':<10} {'OPT_FAST':<22} {'compile s wall/CPU':>18} {'cycles/s':>9} {'per CPU s':>10} "
        f"{'golden':>6} {'load':>5}"
    )
    for r in rows.values():
        print(
            f"{r['design']:<10} {r['opt_fast']:<22} {r.get('compile_wall_s')!s:>8}/{r.get('compile_cpu_s')!s:<9} "
            f"{r.get('cycles_per_s')!s:>9} {r.get('cycles_per_cpu_s')!s:>10} {r.get('golden_exact')!s:>6} "
            f"{r.get('load')!s:>5}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
