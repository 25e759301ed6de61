"""Auto-folding: choose PE, SIMD and mode per layer for a board and a target FPS.

Search (docs/cost_model.md): every legal (PE, SIMD, mode) of every compute
layer is costed at once with the vectorized model (PE | MH, SIMD | MW, and
SIMD | IC for conv, so every candidate passes hw/folding.validate). Layers are
independent given a cycle budget T = f_clk / FPS, so for a budget each layer
takes its cheapest candidate with cycles <= T, where "cheapest" is the
weighted board utilization ``LUT/LUTs + BRAM/BRAMs + DSP/DSPs`` (+ a tiny
cycles term, so ties go to the slower, simpler folding). If the sum does not
fit the board under ``max_util``, the weight of the overflowing resource is
raised and the choice repeated a few times. With no target, the smallest
budget that fits is found by bisection over the candidates' cycle counts.

The MAC resource (``mac``: LUT or DSP products) is a candidate dimension too:
LUT first, so a product goes into a DSP block only where that is cheaper in
weighted utilization, which for small products means only once LUTs run short
(the LUT weight rises). :func:`choose_mac` does the same at a given PE/SIMD/mode.

Candidates with a signal too wide to generate (hw/folding.MAX_SIGNAL_BITS: the
weight, input, output or parameter word) are left out.

Guaranteed: the returned Folding passes hw/folding.validate, its estimate
meets ``target_fps`` and fits the board (each of LUT, BRAM, DSP at most
``max_util`` of the board; on iCE40 the LUT budget counts logic cells, ``model.ice40_cells``: a LUT4 and
a flip-flop share one only where nextpnr can pack them); otherwise UserError with the numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bitscale.boards import Board
from bitscale.boards import get as get_board
from bitscale.cost_model import model
from bitscale.errors import UserError
from bitscale.hw import folding as fold
from bitscale.hw import inventory
from bitscale.nn import ir

MAX_UTIL = 0.8
RESOURCES = ("LUT", "BRAM18", "DSP")
LUT_MAC = inventory.MACS.index("lut")


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


class _Table:
    """All legal candidates of one layer with their costs (numpy arrays)."""

    def __init__(self, info: model.LayerInfo, family: str, coef: model.CostModel, modes):
        simd_cap = info.conv_in[2] if info.conv_in is not None else info.mw
        pes = _divisors(info.mh)
        simds = [s for s in _divisors(info.mw) if simd_cap % s == 0]
        mode_idx = [model.MODES.index(m) for m in modes]
        # MAC resource: LUT products first, so a tie goes to LUTs; DSP products only where there are
        # products (parallel mode, integer x integer), elsewhere "mac" changes nothing
        p, s, m, k = np.meshgrid(pes, simds, mode_idx, [LUT_MAC, model.DSP_MAC], indexing="ij")
        p, s, m, k = p.ravel(), s.ravel(), m.ravel(), k.ravel()
        products = (m == model.MODES.index("parallel")) & (info.wbits > 1) & (info.abits > 1)
        keep = (k == LUT_MAC) | products
        p, s, m, k = p[keep], s[keep], m[keep], k[keep]
        # only what generate can build: no signal at or above hw/folding.MAX_SIGNAL_BITS
        serial = np.isin(m, [model.MODES.index(x) for x in ("weight-serial", "bit-serial")])
        wlane = np.where(serial & (info.wbits > 1), 1, info.wbits)
        widths = fold.signal_widths(p, s, wlane, info.abits, info.out_bits, info.n_params * info.param_bits)
        ok = np.logical_and.reduce([np.asarray(w) < fold.MAX_SIGNAL_BITS for w in widths.values()])
        p, s, m, k = p[ok], s[ok], m[ok], k[ok]
        c = model.layer_costs(info, p, s, m, family, coef, k)
        # the same (cycles, resources) under a different mode is a duplicate; keep them (cheap)
        self.pe, self.simd, self.mode, self.mac = p, s, m, k
        self.cycles = c["cycles"].astype(np.int64)
        self.res = {k: np.asarray(c[k], float) for k in RESOURCES}
        if family == "ice40":  # the part's capacity counts logic cells, which LUTs and flip-flops share
            self.res["LUT"] = np.asarray(model.ice40_cells(c["LUT"], c["FF"]), float)

    def pick(self, budget: int, weights: dict) -> int | None:
        ok = self.cycles <= budget
        if not ok.any():
            return None
        score = sum(weights[k] * self.res[k] for k in RESOURCES) + 1e-9 * self.cycles
        score = np.where(ok, score, np.inf)
        return int(np.argmin(score))


def _capacity(board: Board) -> dict:
    return {"LUT": board.lut, "BRAM18": board.bram, "DSP": board.dsp}


def _choose(tables, budget, board, max_util, fixed=None):
    """Per-layer picks for a cycle budget that fit the board (beside ``fixed``, the per-design
    resources), or None."""
    fixed = fixed or {}
    cap = _capacity(board)
    weights = {k: (1.0 / cap[k] if cap[k] else 1e6) for k in RESOURCES}
    for _ in range(12):
        picks = [t.pick(budget, weights) for t in tables]
        if any(p is None for p in picks):
            return None
        used = {k: fixed.get(k, 0) + sum(t.res[k][i] for t, i in zip(tables, picks)) for k in RESOURCES}
        if "pack" in fixed:  # block RAM as packed across layers (and input buffers moved to LUT RAM)
            saved, luts = fixed["pack"](picks)
            used["BRAM18"] -= saved
            used["LUT"] += luts
        over = [k for k in RESOURCES if used[k] > max_util * cap[k]]
        if not over:
            return picks
        for k in over:
            weights[k] *= 4.0
    return None


def _packing_saving(net, tables, infos, board):
    """picks -> (block RAM units packing saves on them, LUTs it adds: input buffers in LUT RAM)
    (cost_model/packing.py, a short heuristic budget, no split MILP)."""
    from bitscale.cost_model import packing

    memo: dict = {}

    def saving(picks):
        key = tuple(picks)
        if key not in memo:
            plan = packing.plan_design(
                net, _folding(tables, infos, picks), board.family, exact_max=8, budget_s=0.05, split_milp=False
            )
            memo[key] = (plan.saving, plan.lutram_luts)
        return memo[key]

    return saving


def _folding(tables, infos, picks) -> fold.Folding:
    return fold.Folding(
        tuple(
            fold.LayerFolding(
                info.name, int(t.pe[i]), int(t.simd[i]), model.MODES[int(t.mode[i])], inventory.MACS[int(t.mac[i])]
            )
            for t, info, i in zip(tables, infos, picks)
        )
    )


def auto_fold(
    net: ir.QuantizedNetwork,
    board: Board | str,
    target_fps: float | None = None,
    modes=fold.MODES,
    max_util: float = MAX_UTIL,
    pack: bool = False,
) -> fold.Folding:
    """The cheapest legal folding of ``net`` reaching ``target_fps`` on ``board`` (None: the fastest that fits).

    ``modes`` limits the MAC modes considered (e.g. ("parallel",)). ``pack``: the fit check counts
    block RAM as packed across layers (cost_model/packing.py; for ``generate --pack``).
    """
    if isinstance(board, str):
        board = get_board(board)
    modes = tuple(modes)
    bad = [m for m in modes if m not in fold.MODES]
    if bad or not modes:
        raise UserError(f"modes must be a non-empty subset of {', '.join(fold.MODES)}, not {list(modes)!r}")
    if target_fps is not None and not (isinstance(target_fps, (int, float)) and target_fps > 0):
        raise UserError(f"target FPS must be a positive number, not {target_fps!r}")
    if not 0 < max_util <= 1:
        raise UserError(f"max_util must be in (0, 1], not {max_util!r}")
    infos = model.layer_infos(net)
    coef = model.coefficients(board.family)
    tables = [_Table(info, board.family, coef, modes) for info in infos]
    # per-design LUTs (iCE40: logic cells) + "pack": picks -> units packing saves
    design_lut = coef.design("LUT")
    if board.family == "ice40":
        design_lut = float(model.ice40_cells(design_lut, coef.design("FF")))
    fixed: dict[str, Any] = {"LUT": design_lut}
    if pack:
        fixed["pack"] = _packing_saving(net, tables, infos, board)
    clock = board.clock_mhz * 1e6
    # every distinct achievable bottleneck, fastest first
    budgets = np.unique(np.concatenate([t.cycles for t in tables]))
    budgets = budgets[budgets >= max(int(t.cycles.min()) for t in tables)]

    fastest = _fastest(tables, budgets, board, max_util, fixed)
    if fastest is None:
        raise UserError(
            f"nothing fits {board.name}: no folding stays within {max_util:.0%} of its LUT, "
            f"BRAM and DSP (the leanest needs {_smallest_usage(tables, board, fixed)})"
        )
    best_budget, best_picks = fastest
    if target_fps is None:
        return _folding(tables, infos, best_picks)
    budget = int(clock // target_fps)
    if budget < best_budget:
        raise UserError(
            f"target {target_fps:.3g} FPS is out of reach: the fastest folding that fits "
            f"{board.name} gives {clock / best_budget:.3g} FPS"
        )
    picks = _choose(tables, budget, board, max_util, fixed)
    if picks is None:  # a larger budget can only widen the choice; fall back to the fastest fit
        picks = best_picks
    return _folding(tables, infos, picks)


def _fastest(tables, budgets, board, max_util, fixed=None):
    """(smallest cycle budget that fits, its picks) by bisection, or None."""
    lo, hi = 0, len(budgets) - 1
    top = _choose(tables, int(budgets[hi]), board, max_util, fixed)
    if top is None:
        return None
    best = (int(budgets[hi]), top)
    while lo < hi:
        mid = (lo + hi) // 2
        picks = _choose(tables, int(budgets[mid]), board, max_util, fixed)
        if picks is not None:
            best, hi = (int(budgets[mid]), picks), mid
        else:
            lo = mid + 1
    budget, picks = best
    return max(int(t.cycles[i]) for t, i in zip(tables, picks)), picks


def _smallest_usage(tables, board, fixed=None) -> str:
    """What the leanest folding (least summed utilization, any speed) needs, per resource."""
    fixed = fixed or {}
    cap = _capacity(board)
    weights = {k: (1.0 / cap[k] if cap[k] else 1e6) for k in RESOURCES}
    budget = max(int(t.cycles.max()) for t in tables)
    picks = [t.pick(budget, weights) for t in tables]
    name = {"LUT": "logic cells"} if board.family == "ice40" else {}
    return ", ".join(
        f"{name.get(k, k)} {fixed.get(k, 0) + sum(t.res[k][i] for t, i in zip(tables, picks)):.0f}/{cap[k]}"
        for k in RESOURCES
    )


def choose_mac(
    net: ir.QuantizedNetwork, folding: fold.Folding, board: Board | str, max_util: float = MAX_UTIL
) -> fold.Folding:
    """``folding`` with each layer's ``mac`` chosen for ``board`` (PE, SIMD and mode kept): LUT
    products everywhere, then, while the LUTs exceed ``max_util`` of the board, DSP products for the
    layer that saves the most LUTs per DSP block, as long as the DSPs stay within ``max_util``."""
    if isinstance(board, str):
        board = get_board(board)
    fold.validate(net, folding)
    coef = model.coefficients(board.family)
    infos = model.layer_infos(net)
    cost = {}
    for info in infos:
        lf = folding[info.name]
        c = model.layer_costs(info, lf.pe, lf.simd, [lf.mode], board.family, coef, [LUT_MAC, model.DSP_MAC])
        cost[info.name] = {k: (float(c[k][0]), float(c[k][1])) for k in ("LUT", "DSP")}
    macs = {info.name: LUT_MAC for info in infos}
    lut = coef.design("LUT") + sum(c["LUT"][0] for c in cost.values())
    dsp = sum(c["DSP"][0] for c in cost.values())
    while lut > max_util * board.lut:
        best = None
        for name, c in cost.items():
            extra_dsp, saved = c["DSP"][1] - c["DSP"][0], c["LUT"][0] - c["LUT"][1]
            if macs[name] != LUT_MAC or extra_dsp <= 0 or saved <= 0 or dsp + extra_dsp > max_util * board.dsp:
                continue
            if best is None or saved / extra_dsp > best[0]:
                best = (saved / extra_dsp, name, saved, extra_dsp)
        if best is None:
            break
        _, name, saved, extra_dsp = best
        macs[name] = model.DSP_MAC
        lut, dsp = lut - saved, dsp + extra_dsp
    return fold.Folding(
        tuple(
            fold.LayerFolding(lf.name, lf.pe, lf.simd, lf.mode, inventory.MACS[macs[lf.name]]) for lf in folding.layers
        )
    )
