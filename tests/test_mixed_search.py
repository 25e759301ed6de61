"""Sensitivity (HAWQ-V2 Hutchinson trace) and the exact mixed-precision ILP, and `bitscale search`.

* Hutchinson's estimate agrees with the exact Hessian trace of a small network;
* the ILP's optimum equals brute force over every configuration of a small instance,
  for random budgets (hypothesis), and its predicted costs are the cost model's;
* `bitscale sensitivity` / `bitscale search` end to end on a trained digits fc, with
  bad input (no checkpoint, bits outside 1..16, infeasible budget, a foreign --out) one
  line, exit 2, nothing written.
"""

import itertools
import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

torch.set_num_threads(1)

from bitscale.cli import main
from bitscale.cost_model.search import Problem
from bitscale.errors import UserError
from bitscale.nn import sensitivity as sens
from bitscale.nn.random_net import random_fc
from bitscale.nn.train import TrainConfig, train


def test_hutchinson_matches_exact_trace():
    torch.manual_seed(0)
    l1 = torch.nn.Linear(6, 5, bias=False).double()
    l2 = torch.nn.Linear(5, 3, bias=False).double()
    x = torch.randn(40, 6, dtype=torch.float64)
    y = torch.randint(0, 3, (40,))

    def loss_fn():
        return torch.nn.functional.cross_entropy(l2(torch.tanh(l1(x))), y)

    est, _ = sens.hutchinson(loss_fn, [l1.weight, l2.weight], samples=1000, seed=1)
    for k, p in enumerate([l1.weight, l2.weight]):

        def f(w, k=k):
            w1 = w if k == 0 else l1.weight
            w2 = w if k == 1 else l2.weight
            return torch.nn.functional.cross_entropy(torch.tanh(x @ w1.T) @ w2.T, y)

        h = torch.autograd.functional.hessian(f, p.detach().clone())
        exact = float(h.reshape(p.numel(), p.numel()).trace())
        se = est[:, k].std() / np.sqrt(len(est))
        assert abs(est[:, k].mean() - exact) < 4 * se + 1e-9, (est[:, k].mean(), exact, se)


def test_weight_quantizer():
    w = np.random.default_rng(0).normal(size=(64, 32))
    errs = [float(((sens.quantize_weight(w, b) - w) ** 2).sum()) for b in (1, 2, 3, 4, 8, 16)]
    assert all(a > b for a, b in zip(errs, errs[1:])), errs
    q2 = sens.quantize_weight(w, 2)
    assert len(np.unique(q2)) <= 3  # ternary
    assert set(np.unique(np.sign(sens.quantize_weight(w, 1)))) == {-1.0, 1.0}


# --- the ILP against brute force ----------------------------------------------------------------

W, A = (1, 2, 4), (2, 4)


@pytest.fixture(scope="module")
def small_problem():
    net = random_fc([32, 16], 2, 2, num_classes=10, in_features=48, seed=0)
    rng = np.random.default_rng(1)
    tw, ta = rng.uniform(0.5, 5, 3), rng.uniform(0, 0.3, 3)

    def pert(li, w, a):
        return tw[li] * 4.0**-w + (0 if li == 0 else ta[li] * 2.0**-a)

    return Problem(net, None, "pynq-z1", 200_000, W, A, perturbation=pert), pert


def _brute(problem, pert, budget):
    """Every configuration x every kept folding option of every layer."""
    best = None
    for ws in itertools.product(W, repeat=3):
        for a_s in itertools.product(A, repeat=2):
            ab = (8,) + a_s
            opts = [problem.costs.cost[(i, ws[i], ab[i], ab[i + 1] if i < 2 else 0)] for i in range(3)]
            p = sum(pert(i, ws[i], ab[i]) for i in range(3))
            for combo in itertools.product(*opts):
                cost = {r: problem.costs.fixed[r] + sum(o[r] for o in combo) for r in ("LUT", "BRAM18", "DSP")}
                if any(cost[r] > v for r, v in budget.items()):
                    continue
                if best is None or p < best[0] - 1e-12:
                    best = (p, ws, ab, cost)
    return best


@settings(max_examples=15, deadline=None)
@given(frac_bram=st.floats(0, 1), frac_lut=st.floats(0, 1))
def test_ilp_equals_brute_force(small_problem, frac_bram, frac_lut):
    problem, pert = small_problem
    lo, hi = problem.least({}), problem.config_cost((4, 4, 4), (8, 4, 4), "LUT")
    budget = {
        "BRAM18": round(lo["BRAM18"] + frac_bram * (hi["BRAM18"] - lo["BRAM18"])),
        "LUT": round(lo["LUT"] + frac_lut * (hi["LUT"] - lo["LUT"]) * 1.5),
    }
    want = _brute(problem, pert, budget)
    if want is None:
        with pytest.raises(UserError, match="infeasible budget"):
            problem.solve(budget)
        return
    sol = problem.solve(budget)
    assert sol.perturbation == pytest.approx(want[0], rel=1e-6, abs=1e-9)
    assert all(sol.predicted[r] <= v for r, v in budget.items())
    assert sol.abits[0] == 8


def test_ilp_predicted_cost_is_the_cost_model(small_problem):
    """The ILP's per-layer cost = the cost model's estimate of a network with those bits at that folding."""
    from bitscale.cost_model import estimate

    problem, _ = small_problem
    sol = problem.solve({"BRAM18": problem.least({})["BRAM18"] + 1})
    net = random_fc([32, 16], list(sol.wbits), list(sol.abits[1:]), num_classes=10, in_features=48, seed=0)
    est = estimate(net, problem.folding(sol), "pynq-z1")
    assert est.BRAM18 <= sol.predicted["BRAM18"] and est.DSP <= sol.predicted["DSP"]
    assert est.cycles <= problem.costs.budget_cycles
    for l, got in zip(sol.layers, est.layers):
        assert (got.pe, got.simd, got.mode, got.mac, got.cycles) == (
            l["pe"],
            l["simd"],
            l["mode"],
            l["mac"],
            l["cycles"],
        )
        assert got.BRAM18 <= l["BRAM18"] and got.LUT <= l["LUT"] + 1 and got.DSP <= l["DSP"]


def _design_term(sol):
    """A cost the ILP's per-layer sums do not see (like a design-level block): a mixed design pays
    2 BRAM18 and 150 LUT per distinct activation width."""
    extra_bram = 2 if len(set(sol.wbits)) > 1 else 0
    return {"BRAM18": extra_bram, "LUT": 150 * len(set(sol.abits[1:])), "DSP": 0}


def _brute_full(problem, pert, budget):
    """Brute force under the full cost (the ILP's per-layer sums + _design_term)."""
    from types import SimpleNamespace

    best = None
    for ws in itertools.product(W, repeat=3):
        for a_s in itertools.product(A, repeat=2):
            ab = (8,) + a_s
            extra = _design_term(SimpleNamespace(wbits=ws, abits=ab))
            opts = [problem.costs.cost[(i, ws[i], ab[i], ab[i + 1] if i < 2 else 0)] for i in range(3)]
            p = sum(pert(i, ws[i], ab[i]) for i in range(3))
            for combo in itertools.product(*opts):
                cost = {
                    r: problem.costs.fixed[r] + extra[r] + sum(o[r] for o in combo) for r in ("LUT", "BRAM18", "DSP")
                }
                if all(cost[r] <= v for r, v in budget.items()) and (best is None or p < best - 1e-12):
                    best = p
    return best


def _full_check(sol):
    extra = _design_term(sol)
    return {r: sol.predicted[r] + extra[r] for r in ("LUT", "BRAM18", "DSP")}


def test_lazy_check_cuts_what_the_full_estimate_rejects(small_problem):
    """The plain ILP's point exceeds the budget under the full cost; with the check it is cut off and the
    returned point is the brute-force optimum under the full cost."""
    problem, pert = small_problem
    lo, hi = problem.least({}), problem.config_cost((4, 4, 4), (8, 4, 4), "LUT")
    found = 0
    for frac in np.linspace(0.05, 1.0, 12):
        budget = {"BRAM18": round(lo["BRAM18"] + frac * (hi["BRAM18"] - lo["BRAM18"]))}
        plain = problem.solve(budget)
        if all(_full_check(plain)[r] <= v for r, v in budget.items()):
            continue
        found += 1  # the ILP's linear costs alone would return a point over the budget
        want = _brute_full(problem, pert, budget)
        if want is None:
            with pytest.raises(UserError, match="infeasible budget"):
                problem.solve(budget, check=_full_check, max_rounds=400)
            continue
        sol = problem.solve(budget, check=_full_check, max_rounds=400)
        assert sol.checked == _full_check(sol) and all(sol.checked[r] <= v for r, v in budget.items())
        assert sol.rounds > 1 and sol.perturbation == pytest.approx(want, rel=1e-6, abs=1e-9)
    assert found >= 2, "no budget where the linear costs alone go over: the test checks nothing"


@settings(max_examples=10, deadline=None)
@given(frac_bram=st.floats(0, 1), frac_lut=st.floats(0, 1))
def test_lazy_check_equals_brute_force(small_problem, frac_bram, frac_lut):
    problem, pert = small_problem
    lo, hi = problem.least({}), problem.config_cost((4, 4, 4), (8, 4, 4), "LUT")
    budget = {
        "BRAM18": round(lo["BRAM18"] + frac_bram * (hi["BRAM18"] - lo["BRAM18"] + 2)),
        "LUT": round(lo["LUT"] + frac_lut * (hi["LUT"] - lo["LUT"]) * 1.5),
    }
    want = _brute_full(problem, pert, budget)
    if want is None:
        with pytest.raises(UserError, match="infeasible budget"):
            problem.solve(budget, check=_full_check, max_rounds=400)
        return
    sol = problem.solve(budget, check=_full_check, max_rounds=400)
    assert all(sol.checked[r] <= v for r, v in budget.items())
    assert sol.perturbation == pytest.approx(want, rel=1e-6, abs=1e-9)


def test_exclude_cuts_a_configuration(small_problem):
    problem, _ = small_problem
    budget = {"BRAM18": problem.least({})["BRAM18"] + 2}
    first = problem.solve(budget)
    again = problem.solve(budget, exclude=[(first.wbits, first.abits)])
    assert (again.wbits, again.abits) != (first.wbits, first.abits)
    assert again.perturbation >= first.perturbation - 1e-12


def test_fit_folding_makes_the_full_estimate_fit():
    """fit_folding: the given folding when its estimate() fits, else one whose estimate() fits (the exact
    ILP over the network's own costs), UserError only where no folding of the network fits (brute force
    over every Pareto-optimal folding of every layer)."""
    from bitscale.cost_model import estimate
    from bitscale.cost_model.search import CostTable, fit_folding
    from bitscale.boards import get as get_board

    board = get_board("pynq-z1")
    net = random_fc([256, 128], [4, 8, 2], [8, 4], num_classes=10, in_features=256, seed=3)
    fps = 20_000
    every = CostTable(net, board, fps, (1,), (1,), max_options=10**6, exact=True)
    opts = list(every.cost.values())
    combos = [
        {r: every.fixed[r] + sum(o[r] for o in c) for r in ("LUT", "BRAM18", "DSP")} for c in itertools.product(*opts)
    ]
    assert len(combos) >= 8 and len({c["BRAM18"] for c in combos}) >= 2
    least_b = min(c["BRAM18"] for c in combos)
    least_l = min(c["LUT"] for c in combos)
    checked = 0
    for bram in range(least_b - 1, least_b + 4):
        for lut in (least_l - 1, least_l + 500, least_l + 5000, None):
            budget = {"BRAM18": bram, "LUT": lut}
            ok = any(all(v is None or c[r] <= v for r, v in budget.items()) for c in combos)
            if not ok:
                with pytest.raises(UserError, match="infeasible budget"):
                    fit_folding(net, board, fps, budget)
                continue
            f, e = fit_folding(net, board, fps, budget)
            assert e == estimate(net, f, board) and e.cycles <= board.clock_mhz * 1e6 // fps
            assert e.BRAM18 <= bram and (lut is None or e.LUT <= lut)
            # a folding that fits is kept as it is
            assert fit_folding(net, board, fps, budget, f)[0] == f
            checked += 1
    assert checked >= 5


def test_infeasible_budget_names_value(small_problem):
    problem, _ = small_problem
    least = problem.least({})
    with pytest.raises(
        UserError,
        match=f"infeasible budget LUT {least['LUT'] - 1} .* the least any configuration needs is LUT {least['LUT']}",
    ):
        problem.solve({"LUT": least["LUT"] - 1})


@pytest.mark.slow
def test_synthetic_20_layer_ilp_solves():
    from bitscale.cost_model.search import synthetic_problem

    p = synthetic_problem(n_layers=20, width=64)
    assert p.n_layers == 20 and max(len(c) for c in p.choices) == 12
    lo = p.least({})["BRAM18"]
    sol = p.solve({"BRAM18": lo + 5})
    assert len(sol.wbits) == 20 and sol.predicted["BRAM18"] <= lo + 5


# --- end to end on a trained digits fc -------------------------------------------------------------


@pytest.fixture(scope="module")
def src_run(tmp_path_factory):
    cfg = TrainConfig(
        model="fc", wbits=8, abits=8, scale=1 / 128, dataset="digits", epochs=2, seed=0, batch_size=64, lr=0.01
    )
    out = tmp_path_factory.mktemp("src") / "run"
    train(cfg, out, log=lambda s: None)
    return out


@pytest.mark.training
def test_sensitivity_cli(src_run, capsys):
    assert main(["sensitivity", str(src_run), "--samples", "40", "--calib", "200"]) == 0
    doc = json.loads((src_run / "sensitivity.json").read_text())
    assert [l["name"] for l in doc["layers"]] == ["fc0", "fc1", "fc2", "fc_out"]
    assert doc["hv_products"] == 40 and doc["layers"][0]["act"] == {}
    for l in doc["layers"]:
        assert l["trace"] > 0
        om = [l["weight"][str(b)]["omega"] for b in (1, 2, 4, 8, 16)]
        assert all(a >= b for a, b in zip(om, om[1:])), om
        if l["act"]:
            acts = [l["act"][str(b)] for b in (1, 2, 4, 8, 16)]
            assert all(a >= b for a, b in zip(acts, acts[1:])) and min(acts) >= 0
    again = sens.sensitivity(src_run, samples=40, calib=200, log=lambda s: None)
    assert [l["trace"] for l in again["layers"]] == [l["trace"] for l in doc["layers"]]  # deterministic


@pytest.mark.training
def test_search_cli_fine_tunes_a_normal_run(src_run, tmp_path, capsys):
    from bitscale.nn import ir

    out = tmp_path / "search"
    rc = main(
        [
            "search",
            str(src_run),
            "--board",
            "pynq-z1",
            "--fps",
            "100000",
            "--budgets",
            "2",
            "--wbits",
            "1,2,8",
            "--abits",
            "2,8",
            "--epochs",
            "1",
            "--out",
            str(out),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    doc = json.loads((out / "search.json").read_text())
    assert len(doc["points"]) >= 1 and doc["ilp"]["layers"] == 4
    for p in doc["points"]:
        assert p["predicted"]["BRAM18"] <= p["budget"]["BRAM18"]
        prec = json.loads((out / p["name"] / "precision.json").read_text())
        assert [l["wbits"] for l in prec["layers"]] == p["wbits"]
        if "run_dir" in p:
            net = ir.load(out / p["run_dir"])
            assert [l.wbits for l in net.compute_layers] == p["wbits"]
            assert [l.in_bits for l in net.compute_layers] == p["abits"]
            assert p["golden_agreement"] == 1.0
            # the trained network's full estimate at the point's folding fits the point's budget
            assert p["estimate"]["fits_budget"] and p["estimate"]["BRAM18"] <= p["budget"]["BRAM18"]
            assert p["checked"] is None and not p["excluded"]
    # the chosen bits train again from precision.json through `bitscale train --precision`
    p0 = doc["points"][0]
    rc = main(
        [
            "train",
            "--precision",
            str(out / "p0" / "precision.json"),
            "--scale",
            "1/128",
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "again"),
        ]
    )
    assert rc == 0
    assert [l.wbits for l in ir.load(tmp_path / "again").compute_layers] == p0["wbits"]


@pytest.mark.training
def test_search_and_sensitivity_json_stdout(src_run, tmp_path):
    """--json: stdout is exactly one JSON document (progress goes to stderr)."""
    import subprocess
    import sys

    cmd = [sys.executable, "-W", "ignore", "-m", "bitscale"]
    r = subprocess.run(
        cmd
        + [
            "sensitivity",
            str(src_run),
            "--samples",
            "10",
            "--calib",
            "64",
            "--out",
            str(tmp_path / "s.json"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["format"] == "bitscale.Sensitivity" and doc["hv_products"] == 10
    r = subprocess.run(
        cmd
        + [
            "search",
            str(src_run),
            "--board",
            "pynq-z1",
            "--fps",
            "100000",
            "--no-train",
            "--out",
            str(tmp_path / "search"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["format"] == "bitscale.Search" and len(doc["points"]) == 1


@pytest.mark.training
@pytest.mark.parametrize(
    "extra,needle",
    [
        (["--wbits", "1,17"], "--wbits must be widths 1..16, not 17"),
        (["--abits", "0,4"], "--abits must be widths 1..16, not 0"),
        (["--bram", "0", "--lut", "10"], "at 100000 FPS on pynq-z1: the least any configuration needs is LUT "),
        (["NOCKPT"], "no checkpoint.pt in run directory"),
        (["FOREIGN"], "is a non-empty directory that is not a bitscale search"),
    ],
)
def test_search_bad_input(src_run, tmp_path, capsys, extra, needle):
    (tmp_path / "empty").mkdir()
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "x.txt").write_text("mine")
    run = str(tmp_path / "empty") if "NOCKPT" in extra else str(src_run)
    out = tmp_path / ("foreign" if "FOREIGN" in extra else "search")
    extra = [e for e in extra if e not in ("NOCKPT", "FOREIGN")]
    before = sorted(p.name for p in src_run.iterdir())
    rc = main(["search", run, "--board", "pynq-z1", "--fps", "100000", "--no-train", "--out", str(out)] + extra)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and needle in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "foreign"]
    assert sorted(p.name for p in (tmp_path / "foreign").iterdir()) == ["x.txt"]
    assert sorted(p.name for p in src_run.iterdir()) == before
