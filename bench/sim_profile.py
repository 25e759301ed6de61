"""Where a Verilated model's time goes, by RTL block: the eval code's instructions (and perf samples) per layer
and kind of block (dot-product products, adder trees, the rest of the MVTU, sliding windows, FIFOs, ...).

    .venv/bin/python bench/sim_profile.py BUILD_DIR [--frames 10] [--perf] [--tag NAME]

BUILD_DIR is a folder from `bitscale generate`. The fast harness is built (its own cache,
BUILD_DIR/sim_build_profile/) with the default eval-code flags plus ``-g`` (line tables only: the
same machine code), ``--frames`` frames run through it, and every machine instruction of the
model's eval functions (``*_nba_sequent*``, ``*_ico_sequent*``, ...: the code run each cycle,
branch-free apart from a few enables) is attributed, through its C++ line (``objdump -dl``; a line
of an inlined Verilator helper counts for the generated line it was inlined into), to the C++
statement it belongs to, and from that statement's hierarchical signal names
(``bitscale_harness__DOT__dut__DOT__conv1__DOT__dot3__DOT__prod7``) to a layer (conv1) and a
kind of block: ``dot:products`` (a dot product's product registers / popcounts), ``dot:tree``
(its adder tree), ``mvtu`` (the rest of the layer: pipeline, accumulators, thresholds
``reached``), ``swg``, ``fifo``, ``dwc``, ``harness``. ``--perf`` also runs it once more (on the
cached build) under ``perf record`` and attributes the simulator process's samples the same way
(the dynamic share; the code is straight-line, so it follows the static one). Writes bench/results/sim_profile.json
(``--tag`` names the entry; entries with other tags are kept).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# (core__DOT__: the harness inside the wrapper that makes the clock, hw/harness_top.harness_verilog)
HIER = re.compile(r"bitscale_harness__DOT__(?:core__DOT__)?([A-Za-z0-9_]+)")
EVAL_FUNCS = ("nba_sequent", "ico_sequent", "nba_comb", "act_sequent")


def block(h: str, text: str) -> tuple[str, str]:
    """(layer, kind) of a statement whose first hierarchical name is ``h`` (module doc)."""
    parts = h.split("__DOT__")
    if parts[0] != "dut":
        return "harness", "harness"
    if len(parts) < 3:
        return "top", "top"
    inst = parts[1]
    layer = re.sub(r"_(fifo|swg|dwc)$", "", inst)
    if inst != layer:
        return layer, inst[len(layer) + 1 :]
    if len(parts) > 3 and re.fullmatch(r"dot\d+", parts[2]):
        sig = parts[-1]
        # a DSP product's registers (hw/dotproduct.py: dspa, dspb, pipe, prod, lane); sim/twins.py's twin:
        # the planes (tw_a..tw_p, tw_e) are the products, the byte popcounts (tw_q, tw_n, tw_v, tw_s) the
        # tree's first level
        products = sig.startswith(
            (
                "dspa",
                "dspb",
                "pipe",
                "prod",
                "lane",
                "pc",
                "tw_a",
                "tw_b",
                "tw_c",
                "tw_d",
                "tw_e",
                "tw_p",
                "tw_w",
                "tw_x",
            )
        )
        return layer, "dot:products" if products else "dot:tree"
    if re.search(r"__DOT__dot\d+__DOT__", text):
        return layer, "dot:tree"  # the tree's last add, in the MVTU's scope (a shared dot module's output)
    return layer, "mvtu"


def line_blocks(build: Path) -> dict[tuple[str, int], tuple[str, str, str]]:
    """(C++ file, line) -> (layer, kind, signal) for the eval code's C++ files."""
    out: dict[tuple[str, int], tuple[str, str, str]] = {}
    for cpp in sorted(build.glob("Vtop___024root__*.cpp")):
        if "Slow" in cpp.name:
            continue
        cur = ("?", "?", "?")
        stmt: list[str] = []
        start = 0
        lines = cpp.read_text(errors="replace").splitlines()
        for i, line in enumerate(lines + [""]):
            if not stmt:
                start = i
            stmt.append(line)
            s = line.strip()
            if s.endswith((";", "{", "}")) or not s:
                text = " ".join(stmt)
                found = HIER.search(text.split("=")[0]) or HIER.search(text)
                if found:
                    h = found.group(1)
                    cur = (*block(h, text), re.sub(r"\d+$", "", h.split("__DOT__")[-1]))
                for k in range(start, start + len(stmt)):
                    out[(cpp.name, k + 1)] = cur
                stmt = []
    return out


def static_profile(build: Path):
    """Instruction address -> (layer, kind, signal) for every instruction of the eval functions."""
    lines = line_blocks(build)
    dump = subprocess.run(
        ["objdump", "-dl", "--no-show-raw-insn", str(build / "bitscale_harness")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    addr: dict[int, tuple[str, str, str]] = {}
    funcs: dict[str, int] = {}
    inside, where = False, None
    for line in dump.splitlines():
        if line.endswith(">:"):
            inside = any(f in line for f in EVAL_FUNCS)
            where = None
            continue
        if not inside:
            continue
        m = re.match(r"^(/\S+?):(\d+)", line)
        if m:
            if Path(m.group(1)).name.startswith("Vtop"):  # an inlined runtime helper counts for its caller
                where = (Path(m.group(1)).name, int(m.group(2)))
            continue
        m = re.match(r"^\s+([0-9a-f]+):\s+\S", line)
        if m:
            addr[int(m.group(1), 16)] = lines.get(where, ("?", "?", "?")) if where else ("?", "?", "?")
    for line in subprocess.run(
        ["nm", "-C", str(build / "bitscale_harness")], capture_output=True, text=True
    ).stdout.splitlines():
        f = line.split(None, 2)
        if len(f) == 3 and f[1] in "tTwW" and "[clone" not in f[2]:
            funcs[f[2].split("(")[0]] = int(f[0], 16)
    return addr, funcs


def perf_profile(perf_data: Path, addr, funcs) -> tuple[collections.Counter, collections.Counter, int]:
    """(samples per (layer, kind), samples elsewhere by place, all samples) from a perf.data."""
    script = subprocess.run(
        ["perf", "script", "-i", str(perf_data), "-F", "comm,ip,sym,symoff,dso"], capture_output=True, text=True
    ).stdout
    model, other, total = collections.Counter(), collections.Counter(), 0
    for line in script.splitlines():
        f = line.split()
        if len(f) < 3 or f[0] != "bitscale_harnes":  # the simulator process only (comm: 15 characters)
            continue
        total += 1
        m = re.match(r"(\S+)\+0x([0-9a-f]+)$", f[2])
        hit = addr.get(funcs[m.group(1)] + int(m.group(2), 16)) if m and m.group(1) in funcs else None
        if hit:
            model[hit[:2]] += 1
        elif "python" in f[-1]:
            other["python (start-up, loading, reading back)"] += 1
        elif "bitscale_harness)" in f[-1]:
            other["model other than eval + Verilator runtime / VPI"] += 1
        elif "libc" in f[-1] or "stdc++" in f[-1]:
            other["libc / libstdc++"] += 1
        else:
            other["other"] += 1
    return model, other, total


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build_dir", type=Path)
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--perf", action="store_true", help="also record the run with perf and attribute the samples")
    ap.add_argument("--tag", default=None, help="the entry's name in the JSON (default: the build folder's name)")
    args = ap.parse_args(argv)
    bd = args.build_dir.resolve()
    if not (bd / "design.json").is_file():
        print(f"error: {bd} has no design.json (a folder from `bitscale generate`)", file=sys.stderr)
        return 2
    if args.frames < 1:
        print(f"error: --frames must be >= 1, not {args.frames}", file=sys.stderr)
        return 2
    if args.perf and not shutil.which("perf"):
        print("error: --perf needs `perf` on PATH", file=sys.stderr)
        return 2
    from bitscale.sim import runner

    runner.setup_path()
    fast = runner.verilator_options(None)[1]
    opt = next(v for v in fast if v.startswith("OPT_FAST=")).split("=", 1)[1] + " -g"
    cache = bd / "sim_build_profile"
    env = dict(os.environ, BITSCALE_VERILATOR_OPT=opt)
    code = (
        "import json, sys; from bitscale.sim.simulate import simulate; "
        f"d = simulate({str(bd)!r}, images={args.frames}, mode='fast', write=False, cache_dir={str(cache)!r}); "
        "print(json.dumps({k: d.get(k) for k in ('golden_match', 'images', 'cycles_per_cpu_s', 'stream_cycles')}))"
    )
    with tempfile.TemporaryDirectory(prefix="bitscale-prof-") as tmp:
        cmd = [sys.executable, "-c", code]
        perf_data = Path(tmp) / "perf.data"
        t = time.time()
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)  # builds (once) and runs
        if r.returncode == 0 and args.perf:  # the same run again on the cached build, recorded
            r = subprocess.run(
                ["perf", "record", "-q", "-F", "1999", "-o", str(perf_data), "--", *cmd],
                capture_output=True,
                text=True,
                env=env,
            )
        if r.returncode != 0:
            print(r.stderr[-2000:], file=sys.stderr)
            return 1
        run = json.loads(r.stdout.strip().splitlines()[-1])
        # the build this run used: the newest (the cache may hold builds of earlier Verilog or harness)
        build = max(
            (p for p in cache.glob("verilator-bitscale_harness-*") if (p / "BUILD_OK").is_file()),
            key=lambda p: (p / "BUILD_OK").stat().st_mtime,
        )
        addr, funcs = static_profile(build)
        static = collections.Counter(v[:2] for v in addr.values())
        signals = collections.Counter((v[1], v[2]) for v in addr.values())
        model, other, total = perf_profile(perf_data, addr, funcs) if args.perf else (collections.Counter(), {}, 0)
    n = sum(static.values())
    ns = sum(model.values())

    def table(key):
        rows = collections.Counter()
        dyn = collections.Counter()
        for k, v in static.items():
            rows[key(k)] += v
        for k, v in model.items():
            dyn[key(k)] += v
        return [
            {
                "name": k,
                "instructions": v,
                "share": round(v / n, 4),
                "samples_share": round(dyn[k] / ns, 4) if ns else None,
            }
            for k, v in rows.most_common()
        ]

    entry = {
        "build_dir": str(bd),
        "build": str(build),
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "run": run,
        "seconds": round(time.time() - t, 1),
        "eval_instructions": n,
        "by_kind": table(lambda k: k[1]),
        "by_layer": table(lambda k: k[0]),
        "by_layer_kind": table(lambda k: f"{k[0]} {k[1]}")[:30],
        "mvtu_signals": [{"name": s, "instructions": v} for (kind, s), v in signals.most_common() if kind == "mvtu"][
            :15
        ],
        "perf": {"samples": total, "in_eval": ns, "elsewhere": {k: round(v / total, 4) for k, v in other.items()}}
        if args.perf
        else None,
    }
    out = ROOT / "bench" / "results" / "sim_profile.json"
    doc = json.loads(out.read_text()) if out.is_file() else {}
    doc[args.tag or bd.name] = entry
    out.write_text(json.dumps(doc, indent=1))
    print(f"{bd.name}: {n:,} eval instructions per cycle (static); golden {run['golden_match']}/{run['images']}")
    print(f"{'kind':<14} {'instructions':>12} {'share':>6} {'perf':>6}")
    for r in entry["by_kind"]:
        dyn = f"{r['samples_share']:.1%}" if r["samples_share"] is not None else "-"
        print(f"{r['name']:<14} {r['instructions']:>12,} {r['share']:>6.1%} {dyn:>6}")
    print("by layer: " + ", ".join(f"{r['name']} {r['share']:.1%}" for r in entry["by_layer"][:8]))
    print(f"wrote {out.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
