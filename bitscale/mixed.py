"""`bitscale search`: sensitivity -> exact ILP on the cost model -> QAT fine-tuning -> normal run dirs.

SEARCH_DIR layout (written into a temporary directory beside it and renamed into
place at the end, so it holds a complete search or nothing):

* ``search.json`` — board, FPS, budget, candidate bits, the ILP's size and, per
  point: budget, per-layer bits, predicted LUT/BRAM18/DSP, perturbation, solve
  seconds, and (fine-tuned points) the run's test accuracy and the real estimate of
  the trained network at the folding the ILP chose (also in pN/run/folding.json).
* ``sensitivity.json`` — the table the search used (copied or computed).
* ``pN/precision.json`` — point N's bits (`bitscale train --precision` reads it).
* ``pN/run/`` — point N fine-tuned from RUN_DIR's checkpoint: a normal run dir.

Guaranteed: bad input (no checkpoint, bits outside 1..16, an infeasible budget, an
--out that is a non-empty non-search directory) raises UserError before anything is
written.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from bitscale.atomic import replace_dir
from bitscale.errors import UserError


def template_net(run_dir: Path, cfg):
    """The run's IR (shapes matter, not bits), or for a float run a random IR of the same topology."""
    from bitscale.nn import ir

    if (run_dir / "network.json").is_file():
        return ir.load(run_dir)
    from bitscale.nn.data import NUM_CLASSES
    from bitscale.nn.models import input_shape_for, widths_for
    from bitscale.nn.random_net import random_cnv, random_fc, random_preset

    w = widths_for(cfg.model, cfg.scale, cfg.base, cfg.layers)
    shape = input_shape_for(cfg.model, cfg.dataset)
    if "preset" in w:  # vgg / darknet: same-padded convs, pools k != s, global pooling
        return random_preset(w["preset"], shape, 2, 2, num_classes=NUM_CLASSES[cfg.dataset])
    if "fc" in w:
        return random_fc(w["fc"], 2, 2, num_classes=NUM_CLASSES[cfg.dataset], in_features=shape[0])
    return random_cnv(shape, w["convs"], w["fcs"], 2, 2, num_classes=NUM_CLASSES[cfg.dataset])


def _check_out(out: Path) -> None:
    if out.exists():
        if not out.is_dir():
            raise UserError(f"--out {out} exists and is not a directory")
        if any(out.iterdir()) and not (out / "search.json").is_file():
            raise UserError(
                f"--out {out} is a non-empty directory that is not a bitscale search; refusing to replace it"
            )
    if not out.parent.is_dir():
        raise UserError(f"--out {out}: directory {out.parent} does not exist")


_log = logging.getLogger(__name__).info  # progress: the bitscale.* loggers (the CLI shows them on stderr)


def _prepare(
    run_dir: Path,
    board_obj,
    fps: float,
    wbits,
    abits,
    lut,
    bram,
    dsp,
    samples: int,
    log,
    cache_sensitivity: bool = False,
):
    """The search's inputs: (run config, sensitivity table, Problem, budget). Sensitivity is read
    from RUN_DIR/sensitivity.json when it covers the candidate bits, else computed (and, with
    ``cache_sensitivity``, written there: the sweep's own run folders)."""
    from bitscale.cost_model.search import Problem
    from bitscale.nn import sensitivity as sens_mod
    from bitscale.nn.train import load_model

    cfg, _ = load_model(run_dir)
    net = template_net(run_dir, cfg)
    sens_path = run_dir / "sensitivity.json"
    sens = sens_mod.read(sens_path) if sens_path.is_file() else None
    # the ILP's costs first: a bad budget is one line before minutes of sensitivity
    problem = Problem(net, None, board_obj, fps, wbits, abits, perturbation=lambda li, w, a: 0.0)
    budget = problem.default_budget()
    for r, v in (("LUT", lut), ("BRAM18", bram), ("DSP", dsp)):
        if v is not None:
            if not isinstance(v, int) or v < 0:
                raise UserError(f"--{r.lower().replace('18', '')} must be a non-negative integer, not {v!r}")
            budget[r] = v
    problem.check_feasible(budget)
    need = set(wbits) | set(abits)
    if sens is None or not need <= set(sens.get("bits", [])):
        bits = sorted(need | set(sens_mod.DEFAULT_BITS))
        log(f"sensitivity of {run_dir} ({samples} Hessian-vector products) ...")
        sens = sens_mod.sensitivity(run_dir, samples=samples, bits=bits, log=log)
        if cache_sensitivity:
            sens_mod.write(sens, sens_path)
    problem.set_sensitivity(sens)
    return cfg, sens, problem, budget


def _fine_tune(problem, s, cfg, run_dir: Path, out_run: Path, epochs: int, lr, board_obj, budget: dict, log):
    """Fine-tune solution ``s`` with QAT from RUN_DIR's checkpoint into ``out_run`` (a normal run dir,
    plus folding.json and estimate.json), and make its full estimate fit ``budget``: the ILP's folding
    when the trained network's estimate() fits it (the ILP costs tables at their declared width, the
    trained ones are usually narrower), else the cheapest folding of the trained network that fits
    (cost_model.search.fit_folding: the exact ILP over its own per-layer costs, checked by estimate());
    if none does, the configuration is cut off, the ILP re-solved and the new one fine-tuned (at most
    3 configurations). Returns (the solution trained, the point's measured fields)."""
    from dataclasses import replace

    from bitscale.cost_model.search import fit_folding
    from bitscale.hw.folding import Folding
    from bitscale.nn import ir
    from bitscale.nn.train import TrainConfig
    from bitscale.nn.train import train as train_run

    kw = {k: v for k, v in cfg.to_json().items() if k not in ("wbits", "abits", "epochs", "lr")}
    excluded: list = []
    while True:
        tcfg = TrainConfig(wbits=s.wbits, abits=s.abits, epochs=epochs, lr=lr if lr is not None else cfg.lr, **kw)
        log(f"fine-tuning {tcfg.label} from {run_dir} ({epochs} epochs)")
        m = train_run(tcfg, out_run, log=log, init_from=run_dir)
        tnet = ir.load(out_run)
        ilp_folding = problem.folding(s)  # the folding the ILP costed for this point
        # named after the trained network's layers (a float source's template net names its own: dense0, ...)
        names = [l.name for l in tnet.compute_layers]
        assert len(names) == len(ilp_folding.layers), (names, ilp_folding)
        ilp_folding = Folding(tuple(replace(f, name=n) for f, n in zip(ilp_folding.layers, names)))
        try:
            folding, est = fit_folding(tnet, board_obj, problem.fps, budget, ilp_folding)
            break
        except UserError as e:
            excluded.append((s.wbits, s.abits))
            log(f"{tcfg.label}: the trained network fits no folding within the budget ({e}); cut off, re-solving")
            if len(excluded) >= 3:
                raise UserError(
                    f"{len(excluded)} searched configurations trained to networks that fit no folding within "
                    f"the budget {budget}; the last: {e}"
                ) from None
            shutil.rmtree(out_run, ignore_errors=True)
            s = problem.solve(budget, exclude=excluded)
    (out_run / "folding.json").write_text(json.dumps(folding.to_json(), indent=1))
    (out_run / "estimate.json").write_text(json.dumps(est.to_json(), indent=1))
    log(
        f"{tcfg.label}: test {m['test_acc']:.4f}, estimate LUT {est.LUT} BRAM18 {est.BRAM18} "
        f"DSP {est.DSP} at {est.fps:,.0f} FPS" + ("" if folding == ilp_folding else " (refolded to fit the budget)")
    )
    return s, {
        "test_acc": m["test_acc"],
        "golden_test_acc": m["golden_test_acc"],
        "golden_agreement": m["golden_agreement"],
        "estimate": {
            "LUT": est.LUT,
            "FF": est.FF,
            "BRAM18": est.BRAM18,
            "DSP": est.DSP,
            "fps": est.fps,
            "fits_budget": all(getattr(est, r) <= budget[r] for r in ("LUT", "BRAM18", "DSP")),
        },
        "folding": folding.to_json(),
        "refolded": folding != ilp_folding,
        "excluded": [{"wbits": list(w), "abits": list(a)} for w, a in excluded],
    }


def search(
    run_dir,
    board: str,
    fps: float,
    out,
    wbits=(1, 2, 4, 8),
    abits=(2, 4, 8),
    lut=None,
    bram=None,
    dsp=None,
    budgets: int | None = None,
    epochs: int = 3,
    lr: float | None = None,
    train: bool = True,
    samples: int = 200,
    log=_log,
) -> dict:
    """Run the whole search; returns search.json's content."""
    from bitscale.boards import get as get_board
    from bitscale.cost_model.search import frontier_budgets
    from bitscale.nn import precision
    from bitscale.nn import sensitivity as sens_mod

    run_dir, out = Path(run_dir), Path(out)
    if not (run_dir / "checkpoint.pt").is_file():
        raise UserError(f"no checkpoint.pt in run directory {run_dir}")
    board_obj = get_board(board)
    _check_out(out)
    if budgets is not None and (not isinstance(budgets, int) or budgets < 1):
        raise UserError(f"--budgets must be a positive integer, not {budgets!r}")
    if not isinstance(epochs, int) or epochs < 1:
        raise UserError(f"--epochs must be a positive integer, not {epochs!r}")
    cfg, sens, problem, budget = _prepare(run_dir, board_obj, fps, wbits, abits, lut, bram, dsp, samples, log)
    if budgets is None:
        sols = [problem.solve(budget)]
    else:
        sols = [problem.solve(dict(budget, BRAM18=b)) for b in frontier_budgets(problem, budgets, budget)]
    for s in sols:
        log(
            f"budget {s.budget}: {precision.label(s.wbits, s.abits)} predicted {s.predicted} "
            f"perturbation {s.perturbation:.4g} (ILP {s.solve_seconds * 1000:.0f} ms)"
        )

    doc = {
        "format": "bitscale.Search",
        "version": 1,
        "source_run": str(run_dir),
        "board": board_obj.name,
        "fps": float(fps),
        "budget": budget,
        "candidates": {"wbits": sorted(set(wbits)), "abits": sorted(set(abits))},
        "ilp": {
            "variables": problem.nvar,
            "equalities": int(problem.A_eq.shape[0]),
            "layers": problem.n_layers,
            "solver": "scipy.optimize.milp (HiGHS)",
        },
        "fine_tune": {"epochs": epochs, "lr": lr if lr is not None else cfg.lr, "init_from": str(run_dir)}
        if train
        else None,
        "points": [],
    }
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    try:
        sens_mod.write(sens, tmp / "sensitivity.json")
        done = {}
        for i, s in enumerate(sols):
            pdir = tmp / f"p{i}"
            pdir.mkdir()
            fields: dict = {}
            if train:
                key = (s.wbits, s.abits)
                if key in done:
                    fields["same_as"] = done[key]
                else:
                    done[key] = f"p{i}"
                    pbudget = dict(budget, **s.budget)
                    s, tuned = _fine_tune(problem, s, cfg, run_dir, pdir / "run", epochs, lr, board_obj, pbudget, log)
                    fields.update({"run_dir": f"p{i}/run", **tuned})
            point = {"name": f"p{i}", **s.to_json(), "label": precision.label(s.wbits, s.abits), **fields}
            (pdir / "precision.json").write_text(json.dumps(precision.precision_json(s.wbits, s.abits), indent=1))
            doc["points"].append(point)
        (tmp / "search.json").write_text(json.dumps(doc, indent=1))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return doc


def search_point(
    source_run,
    out_run,
    board: str,
    fps: float,
    k: int,
    of: int,
    wbits=(1, 2, 4, 8),
    abits=(2, 4, 8),
    epochs: int = 3,
    lr: float | None = None,
    samples: int = 200,
    log=_log,
) -> dict:
    """One point of a traced mixed frontier, for the sweep (``bitscale sweep --mixed K``): the k-th
    (0-based) of ``of`` BRAM18 budgets from the least any configuration needs to what the widest one
    needs (``--budgets K`` of ``bitscale search``), solved and fine-tuned from ``source_run`` into
    ``out_run`` (a normal run dir, which also gets ``search_point.json``: this function's result).
    The source run's sensitivity.json is computed once and kept there for the other K-1 points."""
    from bitscale.boards import get as get_board
    from bitscale.cost_model.search import frontier_budgets
    from bitscale.nn import precision

    source_run, out_run = Path(source_run), Path(out_run)
    if not (source_run / "checkpoint.pt").is_file():
        raise UserError(f"no checkpoint.pt in run directory {source_run}")
    if not (isinstance(of, int) and isinstance(k, int) and 0 <= k < of):
        raise UserError(f"mixed point {k!r} of {of!r}: need 0 <= k < K")
    board_obj = get_board(board)
    cfg, _, problem, budget = _prepare(
        source_run, board_obj, fps, wbits, abits, None, None, None, samples, log, cache_sensitivity=True
    )
    levels = frontier_budgets(problem, of, budget)
    b = levels[min(k, len(levels) - 1)]  # fewer distinct budgets than K: the last repeats
    s = problem.solve(dict(budget, BRAM18=b))
    label = precision.label(s.wbits, s.abits)
    log(
        f"mixed point {k + 1}/{of}: BRAM18 budget {b} -> {label} predicted {s.predicted} "
        f"(ILP {s.solve_seconds * 1000:.0f} ms)"
    )
    doc = {
        "format": "bitscale.SearchPoint",
        "version": 1,
        "source_run": str(source_run),
        "board": board_obj.name,
        "fps": float(fps),
        "k": k,
        "of": of,
        "budget_levels": levels,
        "label": label,
        **s.to_json(),
        "candidates": {"wbits": sorted(set(wbits)), "abits": sorted(set(abits))},
        "fine_tune": {"epochs": epochs, "lr": lr if lr is not None else cfg.lr, "init_from": str(source_run)},
    }
    s, tuned = _fine_tune(problem, s, cfg, source_run, out_run, epochs, lr, board_obj, dict(budget, BRAM18=b), log)
    doc.update({"label": precision.label(s.wbits, s.abits), **s.to_json(), **tuned})
    (out_run / "search_point.json").write_text(json.dumps(doc, indent=1))
    return doc
