"""Hardware-aware mixed-precision search: one (wbits, abits) per compute layer by an exact ILP.

Inputs: the network's layer shapes (an IR; its bits do not matter), a sensitivity
table (nn/sensitivity.py: per layer, ``Omega_w(b)`` and the measured activation
loss increase ``dL_a(a)``), a board, a target FPS and a budget (LUT, BRAM18, DSP;
default 80% of the board, auto-folding's cap).

Costs. Compute layer ``l`` multiplies ``w_l``-bit weights by ``a_l``-bit inputs and
writes ``a_{l+1}``-bit outputs (its threshold / requantizer table depends on the next
layer's input width), so its cost is a function of ``(w_l, a_l, a_{l+1})``. For every
such triple the cost model (cost_model/model.py) costs every legal (PE, SIMD, mode)
of the layer and takes the one auto-folding would (the cheapest by weighted board
utilization among those reaching ``T = f_clk / FPS`` cycles): that gives the layer's
LUT, BRAM18 and DSP at the folding it needs for the target FPS. Parameter tables
are costed at their declared width (every threshold bit live, the accumulator's
full range, an upper bound on a trained network's threshold tables; requantizer
multipliers at a typical narrowed width, out_bits + 16), so a chosen configuration's
real estimate is usually at most the prediction (bench/mixed_fashion.py measures both).

ILP. One binary ``z[l, w, a, a']`` per layer and (weights, input, output) widths whose
folding can reach the FPS (layer 0 reads the 8-bit pixels, so its ``a`` is 8; the last
layer has no ``a'``): ``sum z[l, ...] = 1`` per layer, and the output width of layer
``l`` is the input width of layer ``l+1``: ``sum_{w,a} z[l,w,a,a'] = sum_{w,a''} z[l+1,w,a',a'']``
for every ``a'``. The resources are then exact linear sums, ``sum z * cost``.
Objective: ``sum z * (Omega_w(l, w) / 2 + dL_a(l, a))`` (both loss increases; see
nn/sensitivity.py). Solved by ``scipy.optimize.milp`` (HiGHS): exact, not greedy. (A
formulation with one-hot ``(w, a)`` choices plus continuous pair variables is the same
polytope on paper but took HiGHS 4-100 s on the 20-layer instance; this one 0.1-0.3 s.)

Guaranteed: :func:`solve` returns the optimum of the ILP (HiGHS' optimality), or
raises UserError naming the infeasible budget and the least any configuration
needs; every chosen per-layer cost is one the cost model computes for a legal
folding reaching the target FPS.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from bitscale.boards import Board
from bitscale.boards import get as get_board
from bitscale.cost_model import model
from bitscale.cost_model.autofold import MAX_UTIL, RESOURCES, _Table
from bitscale.errors import UserError
from bitscale.hw import folding as fold
from bitscale.hw import inventory
from bitscale.nn import ir

INPUT_BITS = ir.INPUT_BITS


@dataclass(frozen=True)
class Solution:
    """One solved search: per-layer bits, predicted cost, objective and solve time."""

    wbits: tuple[int, ...]
    abits: tuple[int, ...]
    perturbation: float
    predicted: dict  # {"LUT", "BRAM18", "DSP"} totals at the chosen foldings
    layers: tuple[dict, ...]  # per layer: name, wbits, abits, out_bits, pe, simd, mode, LUT, BRAM18, DSP, cycles
    budget: dict
    solve_seconds: float  # all ILP solves together (the lazy check's re-solves included)
    checked: dict | None = None  # the full check's totals (e.g. estimate() of the network), when one was given
    rounds: int = 1  # ILP solves: 1 + the solutions the check rejected (each cut off, then re-solved)

    def to_json(self) -> dict:
        return {
            "wbits": list(self.wbits),
            "abits": list(self.abits),
            "perturbation": self.perturbation,
            "predicted": dict(self.predicted),
            "layers": [dict(l) for l in self.layers],
            "budget": dict(self.budget),
            "solve_seconds": self.solve_seconds,
            "checked": None if self.checked is None else dict(self.checked),
            "rounds": self.rounds,
        }


def _signed_bits(v: int) -> int:
    return ir._signed_bits(int(v))


def layer_info_at(base: model.LayerInfo, layer: ir.Layer, wbits: int, abits: int, out_bits: int) -> model.LayerInfo:
    """``base`` (the cost model's LayerInfo of ``layer`` in the template network) at (wbits, abits in,
    out_bits), with the parameter table at its declared width (no live-column data: every bit counts)."""
    last = layer.act == "none"
    probe = replace(
        layer,
        wbits=wbits,
        in_bits=abits,
        out_bits=0 if last else out_bits,
        act="none" if last else ("thresholds" if out_bits <= ir.THRESHOLD_MAX_BITS else "requant"),
    )
    acc = ir.acc_bits(probe)
    n_params = param_bits = mul_bits = 0
    if probe.act == "thresholds":
        lo, hi = ir.acc_range(probe)
        n_params = 1 if out_bits == 1 else (1 << out_bits) - 1
        param_bits = max(_signed_bits(lo), _signed_bits(hi + 1))
    elif probe.act == "requant":
        # nn/requant.py narrows the multiplier to what the levels need: measured 22-24 bits for 8-bit
        # outputs of trained fc layers (bench/mixed_fashion.py), so out_bits + 16; the offset as wide as the
        # accumulator product; the multiplier's accumulator operand unsaturated (acc_bits, q_bits = 0)
        mul_bits = min(max(ir.REQUANT_PRODUCT_BITS - acc - 1, 1), out_bits + 16)
        n_params, param_bits = 1, mul_bits + acc + mul_bits + 1
    pool = None if base.pool is None else (*base.pool[:-1], out_bits)
    extra = {"q_bits": 0} if "q_bits" in model.LayerInfo.__dataclass_fields__ else {}
    return replace(
        base,
        wbits=wbits,
        abits=abits,
        acc_bits=acc,
        out_bits=out_bits if not last else acc,
        act=probe.act,
        n_params=n_params,
        param_bits=param_bits,
        mul_bits=mul_bits,
        pool=pool,
        param_live=(),
        param_distinct=(),
        **extra,
    )


class CostTable:
    """Per layer and (w, a_in, a_out): the Pareto-optimal foldings reaching a cycle budget, with their resources.

    ``exact``: only the network's own bits, costed from its own tables (what estimate() sums), not the
    declared-width bound of other widths."""

    def __init__(
        self,
        net: ir.QuantizedNetwork,
        board: Board,
        fps: float,
        wbits,
        abits,
        modes=fold.MODES,
        max_options: int = 8,
        exact: bool = False,
    ):
        self.board, self.fps = board, fps
        self.layers = net.compute_layers
        self.wbits, self.abits = tuple(wbits), tuple(abits)
        self.budget_cycles = int(board.clock_mhz * 1e6 // fps)
        coef = model.coefficients(board.family)
        # what every design costs beyond its layers (estimate() adds the fitted per-design intercept)
        self.fixed = {"LUT": int(coef.design("LUT")), "BRAM18": 0, "DSP": 0}
        cap = {"LUT": board.lut, "BRAM18": board.bram, "DSP": board.dsp}
        weights = {k: (1.0 / cap[k] if cap[k] else 1e6) for k in RESOURCES}
        bases = model.layer_infos(net)
        n = len(self.layers)
        # (l, w, a, a_out) -> the layer's Pareto-optimal foldings (LUT, BRAM18, DSP) reaching the FPS,
        # auto-folding's own pick first; [] when no folding reaches it
        self.cost = {}
        for li, layer in enumerate(self.layers):
            if exact:
                ao = self.layers[li + 1].in_bits if li < n - 1 else 0
                t = _Table(bases[li], board.family, coef, modes)
                self.cost[(li, layer.wbits, layer.in_bits, ao)] = _options(t, self.budget_cycles, weights, max_options)
                continue
            a_ins = (INPUT_BITS,) if li == 0 else self.abits
            a_outs = self.abits if li < n - 1 else (0,)
            for w in self.wbits:
                for a in a_ins:
                    for ao in a_outs:
                        info = layer_info_at(bases[li], layer, w, a, ao)
                        t = _Table(info, board.family, coef, modes)
                        self.cost[(li, w, a, ao)] = _options(t, self.budget_cycles, weights, max_options)


def _options(t: _Table, budget: int, weights: dict, k: int) -> list[dict]:
    """Up to ``k`` Pareto-optimal foldings of one layer table within ``budget`` cycles."""
    first = t.pick(budget, weights)
    if first is None:
        return []
    ok = np.flatnonzero(t.cycles <= budget)
    res = np.stack([np.round(t.res[r][ok]) for r in RESOURCES], axis=1)  # (m, 3)
    # Pareto filter (with the cycles as a last tie-break: fewer cycles is not better here, only cost is)
    order = np.lexsort((res[:, 2], res[:, 0], res[:, 1]))  # by BRAM, then LUT, then DSP
    keep = []
    for i in order:
        if any((res[j] <= res[i]).all() for j in keep):
            continue
        keep.append(i)
    first_local = int(np.flatnonzero(ok == first)[0])
    if first_local not in keep and not any((res[j] <= res[first_local]).all() for j in keep):
        keep.append(first_local)
    if len(keep) > k:  # thin: the extremes, auto-folding's pick, and evenly spaced by BRAM between
        ext = {
            keep[0],
            min(keep, key=lambda i: tuple(res[i][[0, 1, 2]])),
            min(keep, key=lambda i: tuple(res[i][[2, 1, 0]])),
        }
        rest = [i for i in keep if i not in ext]
        step = max(1, len(rest) // max(1, k - len(ext)))
        keep = sorted(ext | set(rest[::step][: max(0, k - len(ext))]), key=lambda i: tuple(res[i][[1, 0, 2]]))
    # auto-folding's pick (or what dominates it) first
    pick = min(keep, key=lambda i: sum(weights[r] * res[i][j] for j, r in enumerate(RESOURCES)))
    keep = [pick] + [i for i in keep if i != pick]
    out = []
    for i in keep:
        g = int(ok[i])
        out.append(
            {
                "pe": int(t.pe[g]),
                "simd": int(t.simd[g]),
                "mode": model.MODES[int(t.mode[g])],
                "mac": inventory.MACS[int(t.mac[g])],  # the costs are this MAC resource's: the folding must say so
                "cycles": int(t.cycles[g]),
                **{r: int(res[i][j]) for j, r in enumerate(RESOURCES)},
            }
        )
    return out


def _perturbation(sens: dict, li: int, w: int, a: int) -> float:
    lay = sens["layers"][li]
    try:
        pw = lay["weight"][str(w)]["omega"] / 2
    except KeyError:
        raise UserError(
            f"sensitivity.json has no {w}-bit weight entry for layer {lay['name']}; "
            f"re-run `bitscale sensitivity` with that width"
        ) from None
    if li == 0:
        return pw
    try:
        return pw + lay["act"][str(a)]
    except KeyError:
        raise UserError(f"sensitivity.json has no {a}-bit activation entry for layer {lay['name']}") from None


def _check_bits(bits, flag):
    if not bits:
        raise UserError(f"{flag} needs at least one width")
    for b in bits:
        if not isinstance(b, int) or isinstance(b, bool) or not 1 <= b <= ir.MAX_BITS:
            raise UserError(f"{flag} must be 1..{ir.MAX_BITS}, not {b!r}")


class Problem:
    """The ILP of one network, sensitivity table, board, FPS and candidate bits (budget given per solve)."""

    def __init__(
        self,
        net: ir.QuantizedNetwork,
        sens: dict | None,
        board: Board | str,
        fps: float,
        wbits=(1, 2, 4, 8),
        abits=(2, 4, 8),
        modes=fold.MODES,
        perturbation=None,
        exact: bool = False,
        max_options: int = 8,
    ):
        """``exact``: the network's own bits only, costed from its own tables (per layer what estimate()
        sums; ``wbits``/``abits``/``sens`` are then ignored and every folding costs zero perturbation):
        the ILP over foldings alone, which :func:`fit_folding` solves."""
        self.board = get_board(board) if isinstance(board, str) else board
        if exact:
            cl = net.compute_layers
            wbits, abits = sorted({l.wbits for l in cl}), sorted({l.in_bits for l in cl})
            perturbation = lambda li, w, a: 0.0  # noqa: E731
        _check_bits(wbits, "--wbits")
        _check_bits(abits, "--abits")
        if not (isinstance(fps, (int, float)) and fps > 0):
            raise UserError(f"--fps must be a positive number, not {fps!r}")
        self.fps = float(fps)
        self.net = net
        import scipy.optimize  # noqa: F401  (imported here so solve_seconds times the solver, not the import)

        self.costs = CostTable(net, self.board, fps, sorted(set(wbits)), sorted(set(abits)), modes, max_options, exact)
        layers = self.costs.layers
        n = len(layers)
        W, A = self.costs.wbits, self.costs.abits
        self.choices = [[(w, a) for w in W for a in ((INPUT_BITS,) if li == 0 else A)] for li in range(n)]
        # one binary z per (layer, w, a in, a out, folding option) reaching the FPS (a out = 0 for the last)
        self.keys = [(*key, f) for key, opts in self.costs.cost.items() for f in range(len(opts))]
        k = self.nvar = len(self.keys)
        self.res = {r: np.array([self.costs.cost[key[:4]][key[4]][r] for key in self.keys], float) for r in RESOURCES}
        if perturbation is not None:
            self.set_perturbation(perturbation)
        elif sens is not None:
            self.set_sensitivity(sens)
        else:
            raise ValueError("the ILP needs a sensitivity table or a perturbation function")
        rows = []
        for li in range(n):  # one choice per layer
            rows.append((np.array([key[0] == li for key in self.keys], float), 1.0))
        for li in range(n - 1):  # layer l's a out is layer l+1's a in
            for a2 in A:
                rows.append(
                    (
                        np.array(
                            [
                                (key[0] == li and key[3] == a2) - (key[0] == li + 1 and key[2] == a2)
                                for key in self.keys
                            ],
                            float,
                        ),
                        0.0,
                    )
                )
        self.A_eq = np.array([r for r, _ in rows]).reshape(len(rows), k)
        self.b_eq = np.array([b for _, b in rows])
        self.integrality = np.ones(k)
        self.ub = np.ones(k)

    def set_sensitivity(self, sens: dict) -> None:
        """The objective from a sensitivity table (nn/sensitivity.py)."""
        n = len(self.costs.layers)
        if len(sens["layers"]) != n:
            raise UserError(f"sensitivity.json has {len(sens['layers'])} layers, the network {n} compute layers")
        self.set_perturbation(lambda li, w, a: _perturbation(sens, li, w, a))

    def set_perturbation(self, pert) -> None:
        """The objective: ``pert(layer, wbits, abits in)`` per chosen layer, summed."""
        self.pert = np.array([pert(li, w, a) for li, w, a, _, _ in self.keys], float)
        # among equal perturbations prefer the cheaper hardware (a tie-break far below any real difference)
        cap = {"LUT": self.board.lut, "BRAM18": self.board.bram, "DSP": self.board.dsp or 1}
        tie = sum(self.res[r] / cap[r] for r in RESOURCES)
        self.obj = self.pert + (1e-9 if self.pert.any() else 1.0) * tie

    def check_feasible(self, budget: dict) -> None:
        """UserError (the infeasible-budget line) when no configuration fits ``budget``."""
        if self._milp(np.zeros(self.nvar), budget).x is None:
            self._infeasible(budget)

    @property
    def n_layers(self) -> int:
        return len(self.choices)

    def default_budget(self, max_util: float = MAX_UTIL) -> dict:
        b = self.board
        return {"LUT": int(max_util * b.lut), "BRAM18": int(max_util * b.bram), "DSP": int(max_util * b.dsp)}

    def _milp(self, c, budget, cuts=()):
        from scipy.optimize import Bounds, LinearConstraint, milp

        # scipy leaves lb/ub unannotated; pyright infers `float` from their -np.inf/np.inf defaults
        cons = [LinearConstraint(self.A_eq, self.b_eq, self.b_eq)]  # pyright: ignore[reportArgumentType]
        for r, v in budget.items():
            if v is not None:
                cons.append(LinearConstraint(self.res[r][None, :], -np.inf, float(v) - self.costs.fixed[r] + 1e-6))
        for idx in cuts:  # no-good cuts: not all of these variables at once (one per layer is chosen)
            row = np.zeros(self.nvar)
            row[idx] = 1.0
            cons.append(LinearConstraint(row[None, :], -np.inf, self.n_layers - 0.5))
        bounds = Bounds(np.zeros(self.nvar), self.ub)  # pyright: ignore[reportArgumentType]  (as above)
        return milp(c, constraints=cons, integrality=self.integrality, bounds=bounds, options={"presolve": True})

    def least(self, budget: dict | None = None) -> dict:
        """The least of each resource any configuration needs (each minimized alone, the others' budgets kept)."""
        out = {}
        for r in RESOURCES:
            others = {k: v for k, v in (budget or {}).items() if k != r}
            res = self._milp(self.res[r], others)
            out[r] = None if res.x is None else round(float(self.res[r] @ res.x)) + self.costs.fixed[r]
        return out

    def config_cost(self, wbits, abits, option: int | str = 0) -> dict | None:
        """Predicted totals of one configuration at auto-folding's pick per layer (``option`` 0), or at the
        folding with the least ``option`` resource ("BRAM18", "LUT", "DSP") per layer; None where a layer
        cannot reach the FPS."""
        tot = {r: float(self.costs.fixed[r]) for r in RESOURCES}
        n = self.n_layers
        for li in range(n):
            ao = abits[li + 1] if li < n - 1 else 0
            opts = self.costs.cost.get((li, wbits[li], abits[li], ao))
            if not opts:
                return None
            cost = opts[0] if option == 0 else min(opts, key=lambda o: (o[option], o["LUT"], o["BRAM18"]))
            for r in RESOURCES:
                tot[r] += cost[r]
        return {r: round(v) for r, v in tot.items()}

    def config_cut(self, wbits, abits) -> np.ndarray:
        """The variables of one configuration (every folding option of its per-layer bits): a no-good cut
        on them excludes that configuration."""
        n = self.n_layers
        want = {(li, wbits[li], abits[li], abits[li + 1] if li < n - 1 else 0) for li in range(n)}
        return np.array([i for i, key in enumerate(self.keys) if key[:4] in want], int)

    def solve(self, budget: dict, check=None, exclude=(), max_rounds: int = 50) -> Solution:
        """The least-perturbation configuration within ``budget`` ({"LUT", "BRAM18", "DSP"}: int or None).

        ``check``: the full estimate of a solution (``check(sol) -> {"LUT", "BRAM18", "DSP"}``, e.g. the
        cost model's estimate() of the network at the chosen folding, with every design-level term). The
        ILP's linear per-layer costs are its prediction; a solution whose check exceeds a budget is cut
        off (a no-good cut on exactly its variables) and the ILP re-solved, up to ``max_rounds`` solves:
        the result is the least-perturbation solution whose *check* fits (among those the ILP ranks
        first), and its ``checked`` holds the check's totals. ``exclude``: (wbits, abits) configurations
        cut off from the start (e.g. ones whose trained network fitted no folding)."""
        for r, v in budget.items():
            if r not in RESOURCES:
                raise UserError(f"unknown resource {r!r} in the budget; expected {', '.join(RESOURCES)}")
            if v is not None and not (isinstance(v, (int, float)) and v >= 0):
                raise UserError(f"--{r.lower().replace('18', '')} budget must be a non-negative number, not {v!r}")
        cuts = [self.config_cut(w, a) for w, a in exclude]
        seconds = 0.0
        for rounds in range(1, max_rounds + 1):
            t0 = time.perf_counter()
            res = self._milp(self.obj, budget, cuts)
            seconds += time.perf_counter() - t0
            if res.status != 0 or res.x is None:
                if not cuts:
                    self._infeasible(budget)
                what = ", ".join(f"{r} {v:g}" for r, v in budget.items() if v is not None)
                raise UserError(
                    f"infeasible budget {what} at {self.fps:g} FPS on {self.board.name}: every configuration "
                    f"the ILP fits was rejected by the full estimate or excluded ({len(cuts)} cut off)"
                )
            sol = self._solution(res.x, budget, seconds, rounds)
            if check is None:
                return sol
            full = {r: int(v) for r, v in check(sol).items()}
            if all(budget.get(r) is None or full[r] <= budget[r] for r in RESOURCES):
                return replace(sol, checked=full)
            cuts.append(np.flatnonzero(res.x > 0.5))
        what = ", ".join(f"{r} {v:g}" for r, v in budget.items() if v is not None)
        raise UserError(
            f"no solution within budget {what} at {self.fps:g} FPS on {self.board.name} passed the full "
            f"estimate in {max_rounds} ILP solves"
        )

    def _solution(self, x, budget: dict, seconds: float, rounds: int) -> Solution:
        n = self.n_layers
        chosen = sorted(key for key, v in zip(self.keys, x) if v > 0.5)
        assert [key[0] for key in chosen] == list(range(n)), chosen
        wb = tuple(int(key[1]) for key in chosen)
        ab = tuple(int(key[2]) for key in chosen)
        layers, tot = [], {r: float(self.costs.fixed[r]) for r in RESOURCES}
        for (li, w, a, ao, f), l in zip(chosen, self.costs.layers):
            cost = self.costs.cost[(li, w, a, ao)][f]
            layers.append({"name": l.name, "wbits": w, "abits": a, "out_bits": ao, **cost})
            for r in RESOURCES:
                tot[r] += cost[r]
        return Solution(
            wb,
            ab,
            float(self.pert @ np.round(x)),
            {r: round(v) for r, v in tot.items()},
            tuple(layers),
            dict(budget),
            seconds,
            rounds=rounds,
        )

    def folding(self, sol: Solution) -> fold.Folding:
        """The per-layer folding the ILP chose (generate the fine-tuned network with it)."""
        return fold.Folding(
            tuple(fold.LayerFolding(l["name"], l["pe"], l["simd"], l["mode"], l["mac"]) for l in sol.layers)
        )

    def _infeasible(self, budget: dict):
        structural = self._milp(np.zeros(self.nvar), {}) if self.nvar else None
        if structural is None or structural.x is None:
            raise UserError(
                f"target {self.fps:g} FPS is out of reach on {self.board.name}: no folding of some "
                f"layer reaches it at any candidate precision"
            )
        least = self.least({})
        bad = [r for r in RESOURCES if budget.get(r) is not None and least[r] is not None and budget[r] < least[r]]
        what = ", ".join(f"{r} {budget[r]:g}" for r in (bad or [r for r in RESOURCES if budget.get(r) is not None]))
        need = ", ".join(f"{r} {least[r]}" for r in RESOURCES)
        raise UserError(
            f"infeasible budget {what} at {self.fps:g} FPS on {self.board.name}: "
            f"the least any configuration needs is {need} (each alone)"
        )


def fit_folding(
    net: ir.QuantizedNetwork, board: Board | str, fps: float, budget: dict, folding: fold.Folding | None = None
):
    """A folding of ``net`` (its own bits and tables) reaching ``fps`` whose full ``estimate()`` fits
    ``budget``, and that estimate: ``folding`` itself when it does (the ILP's choice, costed before
    training at the declared table widths), else the cheapest by the exact ILP over the network's own
    per-layer costs (``Problem(exact=True)``), every solution checked by estimate() and, if over, cut off
    and re-solved. UserError naming the budget when no folding fits."""
    from bitscale.cost_model import estimate

    board = get_board(board) if isinstance(board, str) else board
    cycles = int(board.clock_mhz * 1e6 // fps)

    def fits(e) -> bool:
        return e.cycles <= cycles and all(v is None or getattr(e, r) <= v for r, v in budget.items())

    if folding is not None:
        e = estimate(net, folding, board)
        if fits(e):
            return folding, e
    p = Problem(net, None, board, fps, exact=True, max_options=64)

    def check(sol):
        e = estimate(net, p.folding(sol), board)
        return {r: getattr(e, r) for r in RESOURCES}

    sol = p.solve(budget, check=check)
    f = p.folding(sol)
    e = estimate(net, f, board)
    assert fits(e), (budget, e.BRAM18, e.LUT, e.DSP, e.cycles)
    return f, e


def frontier_budgets(problem: Problem, k: int, budget: dict, resource: str = "BRAM18") -> list[int]:
    """K budgets of ``resource`` from the least any configuration needs to what the widest one needs."""
    if not isinstance(k, int) or k < 1:
        raise UserError(f"--budgets must be a positive integer, not {k!r}")
    others = {r: v for r, v in budget.items() if r != resource}
    lo = problem.least(others)[resource]
    if lo is None:
        problem._infeasible(budget)
    W, A = problem.costs.wbits, problem.costs.abits
    n = problem.n_layers
    full = problem.config_cost((max(W),) * n, (INPUT_BITS,) + (max(A),) * (n - 1))
    hi = full[resource] if full is not None else budget.get(resource)
    if budget.get(resource) is not None:
        hi = min(hi, budget[resource]) if hi is not None else budget[resource]
    hi = max(hi if hi is not None else lo, lo)
    return sorted({round(float(v)) for v in np.linspace(lo, hi, k)})


def synthetic_problem(
    n_layers: int = 20,
    width: int = 256,
    board: str = "zcu104",
    fps: float = 20_000,
    wbits=(1, 2, 3, 4),
    abits=(2, 4, 8),
    seed: int = 0,
) -> Problem:
    """A random-sensitivity ILP on an ``n_layers``-deep fc (for timing the solver; 12 choices per layer)."""
    from bitscale.nn.random_net import random_fc

    net = random_fc([width] * (n_layers - 1), 2, 2, num_classes=10, in_features=width, seed=seed)
    rng = np.random.default_rng(seed)
    tw = rng.uniform(0.5, 20, n_layers)
    ta = rng.uniform(0.0, 0.05, n_layers)

    def pert(li, w, a):
        return tw[li] * 4.0 ** (-w) + (0.0 if li == 0 else ta[li] * 4.0 ** (-(a - 1)))

    return Problem(net, None, board, fps, wbits, abits, perturbation=pert)
