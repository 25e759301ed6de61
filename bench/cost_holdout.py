"""Cost model vs Yosys on random held-out designs that never enter the fit.

Designs are drawn from a fixed seed (``--seed``): a random fc (1-2 hidden layers, 8..64 wide) or cnv
(8x8 / 10x10 input, 1-2 3x3 convs, an optional max-pool, an optional dense layer), random per-layer
weight and activation bits (1..16, small ones likelier), and per layer a random PE | MH, SIMD | MW
(SIMD | IC for a conv) and mode. Each design is synthesized for xc7 (pynq-z1) and ECP5 (ulx3s-85f),
one Yosys run at a time, each in a child process capped by ``--timeout`` seconds (a run that hits the
cap is recorded and not retried). Results are cached in bench/results/holdout_synth/ (a re-run only
synthesizes what is missing); bench/calibrate_cost.py never reads that folder, so none of these
designs is in the fit. Prints model vs Yosys per design and family and the summary the issue asks
for; writes bench/results/cost_holdout.json.

    nice -n 10 .venv/bin/python bench/cost_holdout.py -n 40          # synthesize what is missing, report
    .venv/bin/python bench/cost_holdout.py -n 40 --report-only       # cached runs only
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cost_common  # noqa: E402
from cost_common import ROOT, Design, write_result  # noqa: E402

HOLDOUT_CACHE = ROOT / "bench" / "results" / "holdout_synth"
FAMILIES = {"xc7": "pynq-z1", "ecp5": "ulx3s-85f"}
MODES = ("parallel", "weight-serial", "bit-serial")
BITS = (1, 1, 2, 2, 2, 3, 3, 4, 4, 4, 5, 6, 7, 8, 8, 10, 12, 16)


def _divisor(rng, n: int, cap: int) -> int:
    return int(rng.choice([d for d in range(1, min(n, cap) + 1) if n % d == 0]))


FIRST_WINDOWED = 60  # designs from this index on also draw #12's windows (padding, stride 2, 1x1, 5x5, pools)


def _windowed_cnv(rng, i: int) -> tuple:
    """A cnv spec with "same"-padded and stride-2 convs (kernel 1, 3, 5) and pools with kernel != stride."""
    h = int(rng.choice([6, 8, 10]))
    c_in = int(rng.choice([1, 2, 3]))
    convs, size = [], h
    for _ in range(int(rng.integers(1, 3))):
        k = int(rng.choice([1, 3, 3, 5])) if size >= 5 else int(rng.choice([1, 3]))
        stride = int(rng.choice([1, 2])) if size >= 4 else 1
        pad = k // 2 if (rng.random() < 0.7 or size < k) else 0
        convs.append(("conv", int(rng.choice([4, 6, 8, 12])), k, stride, pad))
        size = (size + 2 * pad - k) // stride + 1
        if size >= 4 and rng.random() < 0.35:
            pk, ps = [(2, 2), (2, 1), (3, 2)][int(rng.integers(0, 3))]
            convs.append(("pool", pk, ps))
            size = (size - pk) // ps + 1
    dense = (int(rng.choice([8, 16])),) if rng.random() < 0.5 else ()
    n_compute = sum(1 for c in convs if c[0] == "conv") + len(dense) + 1
    wb = tuple(int(rng.choice(BITS)) for _ in range(n_compute))
    ab = tuple(int(rng.choice(BITS)) for _ in range(n_compute - 1))
    return ("cnv", (h, h, c_in), tuple(convs), dense, wb, ab, 1000 + i)


TRAIN_SEED, TRAIN_FIRST = 11, FIRST_WINDOWED  # the random *training* designs (bench/calibrate_cost.py fits on them)


def random_design(i: int, seed: int, prefix: str = "ho") -> Design:
    """Design ``i`` drawn with ``seed`` (deterministic), named ``<prefix><seed>_<i>``: prefix "ho" for the
    held-out set (seed 7), "tr" for the random training designs (TRAIN_SEED), which join the fit."""
    rng = np.random.default_rng([seed, i])
    if rng.random() < (0.65 if i < FIRST_WINDOWED else 0.4):
        n_in = int(rng.choice([16, 24, 32, 48, 64]))
        widths = tuple(int(rng.choice([8, 12, 16, 24, 32, 48, 64])) for _ in range(int(rng.integers(1, 3))))
        n_compute = len(widths) + 1
        wb = tuple(int(rng.choice(BITS)) for _ in range(n_compute))
        ab = tuple(int(rng.choice(BITS)) for _ in range(n_compute - 1))
        net = ("fc", widths, wb, ab, n_in, 1000 + i)
        shapes = [(w, n) for w, n in zip((*widths, 10), (n_in, *widths))]  # (MH, MW) per layer
        ics = [None] * n_compute
    elif i >= FIRST_WINDOWED:
        net = _windowed_cnv(rng, i)
        shapes, ics = None, None
    else:
        h = int(rng.choice([8, 10]))
        c_in = int(rng.choice([1, 2, 3]))
        c1, c2 = (int(rng.choice([4, 6, 8, 12, 16])) for _ in range(2))
        convs = [(c1,), (c1, "P"), (c1, c2), (c1, "P", c2) if h == 10 else (c1, c2)][int(rng.integers(0, 4))]
        dense = (int(rng.choice([8, 16, 32])),) if rng.random() < 0.6 else ()
        n_compute = sum(1 for c in convs if c != "P") + len(dense) + 1
        wb = tuple(int(rng.choice(BITS)) for _ in range(n_compute))
        ab = tuple(int(rng.choice(BITS)) for _ in range(n_compute - 1))
        net = ("cnv", (h, h, c_in), convs, dense, wb, ab, 1000 + i)
        shapes, ics = None, None
    d = Design(f"{prefix}{seed}_{i:03d}", net, ())
    n = d.network()
    shapes = [(l.mh, l.mw) for l in n.compute_layers]
    ics = [l.in_shape[2] if l.kind == "conv" else None for l in n.compute_layers]
    fold = []
    for (mh, mw), ic, l in zip(shapes, ics, n.compute_layers):
        big = l.wbits * l.in_bits >= 64  # keep wide parallel products few
        pe = _divisor(rng, mh, 4 if big else 8)
        simd = _divisor(rng, ic if ic else mw, 4 if big else 16)
        fold.append((pe, simd, str(rng.choice(MODES))))
    return Design(d.name, net, tuple(fold))


def designs(n: int, seed: int) -> list[Design]:
    return [random_design(i, seed) for i in range(n)]


def training_designs(n: int) -> list[Design]:
    """The first ``n`` random training designs (seed TRAIN_SEED, indices from TRAIN_FIRST: windowed convs
    included); their Yosys runs are cached with the calibration designs', in bench/results/cost_synth/."""
    return [random_design(i, TRAIN_SEED, "tr") for i in range(TRAIN_FIRST, TRAIN_FIRST + n)]


def by_name(name: str) -> Design:
    """The random design named ``name`` (``ho7_012``, ``tr11_064``)."""
    import re

    m = re.fullmatch(r"(ho|tr)(\d+)_(\d+)", name)
    if not m:
        raise ValueError(f"not a random design name: {name!r}")
    return random_design(int(m.group(3)), int(m.group(2)), m.group(1))


def _one(name: str, family: str, n: int, seed: int) -> None:
    """Child process: generate and synthesize one design for one family into the holdout cache."""
    d = by_name(name)
    if not name.startswith("tr"):
        cost_common.CACHE = HOLDOUT_CACHE
    cost_common.synthesized(d, family, log=lambda *a: None)


def synthesize_missing(
    ds, timeout: int, log=print, n_total: int | None = None, families=None, hw: str | None = None
) -> None:
    """Synthesize every (design, family) not cached yet, smallest designs first (by the model's xc7 LUT
    estimate: on a busy machine the small ones are what fits in the time). With ``hw`` (a hw/ commit), a
    cached run of another hw/ is stale: it is kept under <cache>/stale/ and synthesized again."""
    from bitscale.cost_model import model

    HOLDOUT_CACHE.mkdir(parents=True, exist_ok=True)
    size = {d.name: model.estimate(d.network(), d.folding(d.network()), "pynq-z1").LUT for d in ds}
    for d in sorted(ds, key=lambda d: size[d.name]):
        for fam in families or FAMILIES:
            path = (cost_common.CACHE if d.name.startswith("tr") else HOLDOUT_CACHE) / f"{d.name}.{fam}.json"
            if path.is_file():
                if hw is None or _hw_of(path) == hw:
                    continue
                (path.parent / "stale").mkdir(exist_ok=True)
                path.replace(path.parent / "stale" / path.name)
            t = time.time()
            snap = [str(Path(__file__).with_name("snapshot_run.py"))] if os.environ.get("BITSCALE_SNAPSHOT") else []
            cmd = [
                "timeout",
                str(timeout),
                "nice",
                "-n",
                "10",
                sys.executable,
                *snap,
                __file__,
                "--one",
                d.name,
                fam,
                "-n",
                str(n_total or len(ds)),
                "--seed",
                str(_SEED),
            ]
            r = subprocess.run(cmd, check=False, capture_output=True, text=True)
            if not path.is_file():
                why = "timeout" if r.returncode == 124 else f"failed (exit {r.returncode}): {r.stderr[-300:]}"
                path.write_text(json.dumps({"design": d.name, "skipped": why, "timeout_s": timeout}))
            log(f"[{time.strftime('%H:%M:%S')}] {d.name} {fam}: {time.time() - t:.0f} s")


_SEED = 7


def _hw_of(path: Path) -> str:
    """The hw/ commit a cached run was generated with ("skipped" entries count as current: never retried)."""
    doc = json.loads(path.read_text())
    return doc.get("hw_commit", "unknown") if "skipped" not in doc else "skipped"


def report(ds, hw: str | None = None) -> dict:
    """Model vs Yosys per cached (design, family). With ``hw``, rows generated by another hw/ commit are
    labelled stale and summarized apart (the summary of current rows is the one to quote)."""
    from bitscale.cost_model import model

    rows = []
    for d in ds:
        net = d.network()
        fold = d.folding(net)
        for fam, board in FAMILIES.items():
            path = HOLDOUT_CACHE / f"{d.name}.{fam}.json"
            if not path.is_file():
                continue
            y = json.loads(path.read_text())
            if "skipped" in y:
                rows.append({"design": d.name, "family": fam, "skipped": y["skipped"]})
                continue
            e = model.estimate(net, fold, board)
            row = {
                "design": d.name,
                "family": fam,
                "net": list(map(str, d.net)),
                "fold": [list(f) for f in d.fold],
                "hw_commit": y.get("hw_commit", "unknown"),
                "stale": hw is not None and y.get("hw_commit") != hw,
            }
            for k in ("LUT", "FF", "BRAM18", "DSP"):
                row[k] = {"yosys": y[k], "model": getattr(e, k)}
            rows.append(row)
    done = [r for r in rows if "skipped" not in r]

    def err(r, k):
        return (r[k]["model"] - r[k]["yosys"]) / max(r[k]["yosys"], 1)

    print(
        f"{'design':12} {'fam':5} {'LUT yosys':>9} {'model':>7} {'err':>7} {'FF yosys':>8} {'model':>7} {'err':>7}"
        f" {'BRAM y/m':>9} {'DSP y/m':>9}  net"
    )
    for r in done:
        flag = (
            "" if (r["BRAM18"]["yosys"] == r["BRAM18"]["model"] and r["DSP"]["yosys"] == r["DSP"]["model"]) else " <-"
        )
        print(
            f"{r['design'] + (' *' if r['stale'] else ''):12} {r['family']:5} {r['LUT']['yosys']:>9} {r['LUT']['model']:>7} {err(r, 'LUT'):>+7.1%}"
            f" {r['FF']['yosys']:>8} {r['FF']['model']:>7} {err(r, 'FF'):>+7.1%}"
            f" {r['BRAM18']['yosys']:>4}/{r['BRAM18']['model']:<4} {r['DSP']['yosys']:>4}/{r['DSP']['model']:<4}{flag}"
            f"  {' '.join(r['net'][:1] + r['net'][1:-1])}"
        )
    for r in rows:
        if "skipped" in r:
            print(f"{r['design']:12} {r['family']:5} skipped: {r['skipped'][:80]}")
    summary = {}
    for fam, stale in [(f, s) for f in FAMILIES for s in (False, True)]:
        rs = [r for r in done if r["family"] == fam and r["stale"] == stale]
        if not rs:
            continue
        lut = np.array([abs(err(r, "LUT")) for r in rs])
        ff = np.array([abs(err(r, "FF")) for r in rs])
        s = {
            "rows": len(rs),
            "skipped": sum(1 for r in rows if r["family"] == fam and "skipped" in r),
            "bram_equal": sum(r["BRAM18"]["yosys"] == r["BRAM18"]["model"] for r in rs),
            "dsp_equal": sum(r["DSP"]["yosys"] == r["DSP"]["model"] for r in rs),
            "lut_within_15": int((lut <= 0.15).sum()),
            "lut_within_25": int((lut <= 0.25).sum()),
            "lut_mean_abs": round(float(lut.mean()), 4),
            "lut_max_abs": round(float(lut.max()), 4),
            "ff_within_20": int((ff <= 0.20).sum()),
            "ff_mean_abs": round(float(ff.mean()), 4),
        }
        s["hw"] = "stale (older hw/ than " + str(hw) + ")" if stale else (hw or "as cached")
        summary[fam + (" stale" if stale else "")] = s
        print(
            f"{fam}{' STALE' if stale else ''}: {s['rows']} rows ({s['skipped']} skipped): BRAM equal {s['bram_equal']}/{s['rows']}, "
            f"DSP equal {s['dsp_equal']}/{s['rows']}, LUT within 15% {s['lut_within_15']}/{s['rows']} "
            f"(25%: {s['lut_within_25']}; mean {s['lut_mean_abs']:.1%}, max {s['lut_max_abs']:.1%}), "
            f"FF within 20% {s['ff_within_20']}/{s['rows']} (mean {s['ff_mean_abs']:.1%})"
        )
    return {"rows": rows, "summary": summary}


def main(argv=None):
    global _SEED
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=40, help="number of random designs (each synthesized per family)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--timeout", type=int, default=300, help="seconds per Yosys run (child process)")
    ap.add_argument("--report-only", action="store_true", help="cached runs only")
    ap.add_argument(
        "--synth-from",
        type=int,
        default=0,
        metavar="I",
        help="synthesize only designs with index >= I (the report still covers all n)",
    )
    ap.add_argument(
        "--train",
        type=int,
        default=0,
        metavar="N",
        help="instead: synthesize the first N random *training* designs (seed TRAIN_SEED) into the "
        "calibration cache bench/results/cost_synth/ (bench/calibrate_cost.py fits on them)",
    )
    ap.add_argument("--train-families", default="xc7,ecp5", help="families of the --train runs (comma list)")
    ap.add_argument(
        "--hw",
        default=None,
        metavar="COMMIT",
        help="the current hw/ commit (default: the last commit touching hw/, or the snapshot's): rows "
        "generated by another are labelled stale; --resynth-stale synthesizes them again",
    )
    ap.add_argument("--resynth-stale", action="store_true", help="re-synthesize stale rows (smallest first)")
    ap.add_argument("--one", nargs=2, metavar=("DESIGN", "FAMILY"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    _SEED = args.seed
    if args.one:
        _one(args.one[0], args.one[1], args.n, args.seed)
        return
    if args.train:
        synthesize_missing(training_designs(args.train), args.timeout, families=args.train_families.split(","))
        return
    ds = designs(args.n, args.seed)
    hw = args.hw or cost_common.hw_commit()
    if not args.report_only:
        synthesize_missing(ds[args.synth_from :], args.timeout, n_total=len(ds), hw=hw if args.resynth_stale else None)
    doc = report(ds, hw)
    doc["hw_commit"] = hw
    doc.update({"n": args.n, "seed": args.seed, "timeout_s": args.timeout})
    write_result("cost_holdout", doc)


if __name__ == "__main__":
    main()
