"""Re-synthesize cached Yosys runs that another hw/ generated, from a snapshot of one frozen commit.

    nice .venv/bin/python bench/resynth.py --commit 8e3c5fb --sets holdout            # 41+41 held-out rows
    nice .venv/bin/python bench/resynth.py --commit 8e3c5fb --sets calibration,training --max-minutes 30
    .venv/bin/python bench/resynth.py --commit 8e3c5fb --sets all --dry-run            # list what is stale

Sets: ``holdout`` (bench/cost_holdout.py's random designs, seed 7, indices < ``-n``, with a cached run in
bench/results/holdout_synth/), ``training`` (its random training designs, seed 11, cached in
bench/results/cost_synth/), ``calibration`` (the CALIBRATION, VALIDATION and FINN-topology designs of
bench/calibrate_cost.py, cached in bench/results/cost_synth/). A cached run is stale when its ``hw_commit`` is
not the Verilog-changing hw/ commit current at ``--commit`` (commits in bench/hw_verilog_neutral.txt are
skipped, as bench/cost_common.hw_commit does); only runs that exist are redone (nothing new is drawn), only
for ``--families``.

Each stale run is moved to <cache>/stale/ and synthesized again in a child process (``timeout``, ``nice``),
one Yosys at a time, smallest design first (the model's LUT estimate), from ``git archive COMMIT`` unpacked
under /tmp (bench/snapshot_run.py: no uncommitted edit of the shared tree reaches the Verilog) into a build
folder of its own per commit; a run that fails or times out gets its old (stale) result back, so no row is
lost. One progress line per run (time, k/N, seconds, LUT/FF, elapsed, the estimate of what is left);
``--max-minutes`` stops starting new runs after that long. Then: ``cost_holdout.py -n 90 --report-only`` and
``calibrate_cost.py --fit-only``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cost_common  # noqa: E402
from cost_common import ROOT  # noqa: E402

SETS = ("holdout", "training", "calibration")
FAMILIES = {"holdout": ("xc7", "ecp5"), "training": ("xc7", "ecp5"), "calibration": ("xc7", "xcup", "ecp5", "ice40")}


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def current_hw(commit: str) -> str:
    """The last commit at or before ``commit`` that touched hw/ and changed generated Verilog (short hash)."""
    neutral = {
        line.split()[0]
        for line in (ROOT / "bench" / "hw_verilog_neutral.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for full in _git("log", "--format=%H", commit, "--", "hw/").split():
        if full not in neutral:
            return full[:7]
    raise SystemExit(f"no hw/ commit at or before {commit}")


def snapshot(commit: str) -> Path:
    """``git archive COMMIT`` of the package folders, unpacked once under /tmp."""
    full = _git("rev-parse", commit)
    snap = Path(f"/tmp/bitscale_snapshot_{full[:12]}")
    if not (snap / "hw").is_dir():
        tmp = snap.with_name(snap.name + ".part")
        tmp.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "archive", full, "bitscale", "nn", "hw", "sim", "cost_model", "boards"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
        tmp.replace(snap)
    return snap


def designs(sets, n_holdout: int) -> list[tuple]:
    """[(set, Design, cache folder)] of the chosen sets."""
    import calibrate_cost
    import cost_holdout

    out = []
    if "holdout" in sets:
        out += [("holdout", d, cost_holdout.HOLDOUT_CACHE) for d in cost_holdout.designs(n_holdout, 7)]
    if "training" in sets:
        out += [("training", d, cost_common.CACHE) for d in cost_holdout.training_designs(calibrate_cost.TRAIN_N)]
    if "calibration" in sets:
        cal = cost_common.CALIBRATION + cost_common.VALIDATION + calibrate_cost.finn_designs()
        out += [("calibration", d, cost_common.CACHE) for d in cal]
    return out


def by_name(name: str):
    import calibrate_cost
    import cost_holdout

    if name.startswith(("ho", "tr")):
        return cost_holdout.by_name(name)
    for d in cost_common.CALIBRATION + cost_common.VALIDATION + calibrate_cost.finn_designs():
        if d.name == name:
            return d
    raise SystemExit(f"unknown design {name!r}")


def stale_jobs(sets, families, n_holdout: int, hw: str) -> list[tuple]:
    """[(Design, family, cached path, its hw)] whose cached run is not ``hw`` (skipped entries excluded)."""
    jobs = []
    for s, d, cache in designs(sets, n_holdout):
        for fam in FAMILIES[s]:
            if families and fam not in families:
                continue
            path = cache / f"{d.name}.{fam}.json"
            if not path.is_file():
                continue
            doc = json.loads(path.read_text())
            if "skipped" in doc or doc.get("hw_commit") == hw:
                continue
            jobs.append((d, fam, path, doc.get("hw_commit", "unknown")))
    return jobs


def _size(d) -> float:
    from bitscale.cost_model import model

    net = d.network()
    return float(model.estimate(net, d.folding(net), "pynq-z1").LUT)


def run_jobs(jobs, commit: str, hw: str, timeout: int, max_minutes: float | None, log=print) -> dict:
    snap = snapshot(commit)
    env = dict(
        os.environ,
        BITSCALE_SNAPSHOT=str(snap),
        BITSCALE_SNAPSHOT_COMMIT=hw,
        BITSCALE_BENCH_BUILD=f"/tmp/bitscale_cost_builds_{hw}",
    )
    t0 = time.time()
    done, failed, seconds = [], [], []
    for k, (d, fam, path, old_hw) in enumerate(jobs, 1):
        if max_minutes is not None and time.time() - t0 > 60 * max_minutes:
            log(f"--max-minutes {max_minutes:g} reached: {len(jobs) - k + 1} runs not started")
            break
        stale_dir = path.parent / "stale"
        stale_dir.mkdir(exist_ok=True)
        kept = stale_dir / path.name
        if kept.exists():
            kept = stale_dir / f"{path.stem}.{old_hw}.json"
        path.replace(kept)
        t = time.time()
        cmd = ["timeout", str(timeout), "nice", "-n", "10", sys.executable]
        cmd += [str(Path(__file__).with_name("snapshot_run.py")), __file__, "--one", d.name, fam, str(path.parent)]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        dt = time.time() - t
        new = json.loads(path.read_text()) if path.is_file() else None
        if new is None or new.get("hw_commit") != hw:
            why = "timeout" if r.returncode == 124 else f"exit {r.returncode}: {r.stderr.strip()[-200:]}"
            if path.is_file():
                path.unlink()
            kept.replace(path)  # the old run back: a row is never lost
            failed.append({"design": d.name, "family": fam, "why": why})
            what = f"FAILED ({why}); old run ({old_hw}) kept"
        else:
            done.append({"design": d.name, "family": fam, "seconds": round(dt, 1)})
            seconds.append(dt)
            what = f"LUT {new['LUT']} FF {new['FF']} {new['bram_kind']} {new['BRAM18']} DSP {new['DSP']}"
        left = len(jobs) - k
        eta = left * (sum(seconds) / len(seconds)) / 60 if seconds else float("nan")
        log(
            f"[{time.strftime('%H:%M:%S')}] {k}/{len(jobs)} {d.name} {fam}: {dt:.0f} s, {what}; "
            f"elapsed {(time.time() - t0) / 60:.1f} min, {left} left (~{eta:.0f} min at the mean so far)"
        )
    return {"commit": commit, "hw": hw, "done": done, "failed": failed, "minutes": round((time.time() - t0) / 60, 1)}


def _one(name: str, family: str, cache: str) -> None:
    """Child process (run on the snapshot): synthesize one design for one family into ``cache``."""
    cost_common.CACHE = Path(cache)
    if cost_common.synthesized(by_name(name), family, resynth=True, log=lambda *a: None) is None:
        raise SystemExit(f"synthesis of {name} {family} failed")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commit", help="the frozen commit (its hw/ generates the Verilog)")
    ap.add_argument("--sets", default="holdout", help=f"comma list of {', '.join(SETS)}, or all")
    ap.add_argument("--families", default="", help="comma list (default: each set's own)")
    ap.add_argument("-n", type=int, default=90, help="held-out designs considered (indices < n)")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per Yosys run")
    ap.add_argument("--max-minutes", type=float, default=None, help="start no run after this many minutes")
    ap.add_argument("--dry-run", action="store_true", help="list the stale runs only")
    ap.add_argument("--one", nargs=3, metavar=("DESIGN", "FAMILY", "CACHE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        _one(*args.one)
        return
    if not args.commit:
        ap.error("--commit is required")
    sets = SETS if args.sets == "all" else tuple(s for s in args.sets.split(",") if s)
    bad = [s for s in sets if s not in SETS]
    if bad:
        print(f"resynth.py: error: --sets: unknown set {bad[0]!r} (known: {', '.join(SETS)}, all)", file=sys.stderr)
        raise SystemExit(2)
    try:
        hw = current_hw(args.commit)
    except subprocess.CalledProcessError:
        print(f"resynth.py: error: --commit: not a commit: {args.commit!r}", file=sys.stderr)
        raise SystemExit(2) from None
    families = tuple(f for f in args.families.split(",") if f)
    jobs = stale_jobs(sets, families, args.n, hw)
    size = {d.name: _size(d) for d, *_ in jobs}
    jobs.sort(key=lambda j: (size[j[0].name], j[1]))
    print(f"hw/ at {args.commit}: {hw}; {len(jobs)} stale runs in {', '.join(sets)}", flush=True)
    for d, fam, _, old in jobs:
        print(f"  {d.name:22} {fam:5} {old:10} model LUT (xc7) {size[d.name]:>9,.0f}")
    if args.dry_run or not jobs:
        return
    doc = run_jobs(jobs, args.commit, hw, args.timeout, args.max_minutes, log=lambda s: print(s, flush=True))
    print(f"done {len(doc['done'])}, failed {len(doc['failed'])}, {doc['minutes']} min")
    cost_common.write_result("resynth", doc)


if __name__ == "__main__":
    main()
