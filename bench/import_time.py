"""How long `import bitscale` and the CLI's start-up take, in fresh interpreters.

    .venv/bin/python bench/import_time.py [--runs N]

Times, best of N fresh interpreters each: `import bitscale` (the API's promise: < 0.5 s, no
torch), `import bitscale as bs; bs.estimate` (the name resolves, the stage does not load), the
interpreter alone (the floor), and `bitscale --help` / `bitscale boards --json` end to end.
Prints a table and writes bench/results/import_time.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = [
    ("python -c pass (floor)", [sys.executable, "-c", "pass"]),
    ("import bitscale", [sys.executable, "-c", "import bitscale"]),
    ("import bitscale as bs; bs.estimate", [sys.executable, "-c", "import bitscale as bs; bs.estimate"]),
    ("bitscale --help", [sys.executable, "-m", "bitscale", "--help"]),
    ("bitscale boards --json", [sys.executable, "-m", "bitscale", "boards", "--json"]),
]


def best_of(cmd, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)
    rows = [{"case": name, "seconds": round(best_of(cmd, args.runs), 4)} for name, cmd in CASES]
    floor = rows[0]["seconds"]
    print(f"{'case':<40} {'best s':>8} {'over floor':>11}")
    for r in rows:
        print(f"{r['case']:<40} {r['seconds']:>8.3f} {r['seconds'] - floor:>11.3f}")
    out = ROOT / "bench" / "results" / "import_time.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "runs": args.runs,
                "rows": rows,
                "python": platform.python_version(),
                "load": os.getloadavg()[0],
                "cores": os.cpu_count(),
            },
            indent=1,
        )
        + "\n"
    )
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
