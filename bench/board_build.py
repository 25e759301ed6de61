"""Bitstreams for iCEBreaker and ULX3S-85F from a small trained fc, with the open toolchain.

    .venv/bin/python bench/board_build.py [--out DIR]

Trains fc 64-16-16-10 (w2a2) on digits for 3 epochs, generates the accelerator
with a small folding (PE 2, SIMD 8, bit-serial) plus the board self-test (16
test images), runs `bitscale build` for each board (the accelerator on the family's
PLL at the fastest clock nextpnr closes: bitscale build's clock search) and prints
utilization, the PLL clock, fmax and the FPS at that clock beside the FPS the board's
own clock would give. Writes bench/results/board_build.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOARDS = ("icebreaker", "ulx3s-85f")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="work folder (default: a temporary one)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT / "tests"))
    from test_board_selftest import SMALL, small_folding, train_tiny_fc

    from bitscale.nn import ir

    work = Path(args.out or tempfile.mkdtemp(prefix="bitscale-board-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"training fc 64-16-16-10 w2a2 on digits in {work} ...", flush=True)
    run = train_tiny_fc(work / "run")
    metrics = json.loads((run / "metrics.json").read_text())
    small_folding(ir.load(run)).save(work / "folding.json")
    rows = []
    for board in BOARDS:
        d = work / board
        t0 = time.monotonic()
        for cmd in (
            ["generate", str(run), "--folding", str(work / "folding.json"), "--board", board, "--out", str(d)],
            ["build", str(d)],
        ):
            r = subprocess.run([sys.executable, "-m", "bitscale", *cmd], capture_output=True, text=True)
            print(r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "", flush=True)
            if r.returncode:
                print(r.stderr, file=sys.stderr)
                return 1
        doc = json.loads((d / "build.json").read_text())
        design = json.loads((d / "design.json").read_text())
        res = doc["resources"]
        rows.append(
            {
                "board": board,
                "part": doc["part"],
                "clock_mhz": doc["clock_mhz"],
                "fmax_mhz": doc["fmax_mhz"],
                "timing_met": doc["timing_met"],
                "board_clock_mhz": doc["board_clock_mhz"],
                "pll": doc["pll"],
                "clock_search": doc["clock_search"],
                "uart_divisor": doc["uart_divisor"],
                "fps_at_clock": doc["fps"],
                **{k: res[k]["used"] for k in ("LUT", "FF", "BRAM", "DSP") if k in res},
                **{f"{k}_available": res[k]["available"] for k in ("LUT", "BRAM") if k in res},
                "model_cycles_per_frame": design["model_cycles_per_frame"],
                "fps_at_board_clock": round(doc["board_clock_mhz"] * 1e6 / design["model_cycles_per_frame"], 1),
                "bitstream_bytes": (d / doc["bitstream"]).stat().st_size,
                "toolchain_seconds": doc["seconds"],
                "total_seconds": round(time.monotonic() - t0, 1),
                "tools": doc["tools"],
            }
        )
    print()
    print(
        f"{'board':<11} {'LUT':>12} {'FF':>6} {'BRAM':>7} {'PLL MHz':>8} {'fmax':>7} {'tries':>5} "
        f"{'FPS':>8} {'board MHz':>9} {'FPS there':>9} {'build s':>8}"
    )
    for r in rows:
        lut = f"{r['LUT']}/{r['LUT_available']}"
        bram = f"{r['BRAM']}/{r['BRAM_available']}"
        print(
            f"{r['board']:<11} {lut:>12} {r.get('FF', '-'):>6} {bram:>7} {r['clock_mhz']:>8g} {r['fmax_mhz']:>7} "
            f"{len(r['clock_search']):>5} {r['fps_at_clock']:>8} {r['board_clock_mhz']:>9g} "
            f"{r['fps_at_board_clock']:>9} {r['toolchain_seconds']:>8}"
        )
    out = {
        "network": "fc 64-16-16-10 w2a2 (digits, 3 epochs)",
        "test_acc": metrics.get("test_acc"),
        "folding": SMALL,
        "selftest_frames": 16,
        "machine": platform.machine(),
        "rows": rows,
    }
    res_dir = ROOT / "bench" / "results"
    res_dir.mkdir(parents=True, exist_ok=True)
    (res_dir / "board_build.json").write_text(json.dumps(out, indent=1))
    print(f"\nwrote {res_dir / 'board_build.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
