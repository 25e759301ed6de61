"""BRAM packing across layers: the read-only memories of a design (weights, block parameter tables)
co-located in shared block RAMs.

Model (docs/cost_model.md, "Packing"):

* an **item** is one block-styled ROM of a layer: ``width`` (live bit columns) x ``depth`` words,
  read in a fixed address order (0 .. depth-1, wrapping) and at most one new word every ``period``
  cycles at full throughput: a weight memory holds each word for the activation planes of bit-serial
  mode (``period`` = a, else 1); a parameter table for a whole row-fold (SF x iterations).
* a **bin** is ONE memory of ``width x depth`` = ``n`` primitives of one configuration side by side
  (``depth`` = the configuration's depth), read through one port (simple dual port, the widest
  configurations) or two (true dual port: half the port width; not on iCE40, whose EBR has one read
  port). Items are rectangles in it: an item deeper than the bin is cut into ``slices`` depth slices
  laid side by side (Yosys' own swizzle), so it is ``width*slices`` bits wide and ``min(depth, bin
  depth)`` rows high; rectangles sit in vertical strips (first-fit decreasing height) and never overlap.
* a **port** serves its K items round-robin, one slot per cycle (a static schedule: slot ``t mod K``);
  an item may store a word as ``k`` rows of ``ceil(width/k)`` bits (``rows_per_word``) read in k of
  its slots. K = k = 1 is a plain read port; otherwise every item on the port needs ``K*k <= period``:
  it then gets a word every K*k <= period cycles, which with a two-word prefetch buffer per item
  (hw/packed_memory.py) is never late, so cycles/frame are unchanged (the hardware tests check it
  under random stalls). A plan that breaks this is rejected (:meth:`PackingPlan.validate`).
* a bin's units are what Yosys maps for its ``width x depth`` memory with that many read ports
  (:func:`bin_units`: bram.py's rule over the configurations a port of that count allows; measured:
  xc7 36x1024 two read ports -> one RAMB36E1, 18x1024 -> one RAMB18E1, ECP5 18x1024 -> one DP16KD).

Solver: with at most :data:`EXACT_MAX_ITEMS` items, every subset's best bin (configuration, ports, k per
item) is laid out and the set
partition (each item in exactly one bin, fewest units) is solved exactly by ``scipy.optimize.milp``;
beyond that, first-fit decreasing then simulated annealing over item moves (seeded, deterministic)
within a time budget. A singleton bin is the item's own mapping today, so the plan never takes
more units than the memories unpacked.

Written memories (input buffers, line buffers, FIFOs) are not packed: they need a write port and
are read at data-dependent times; they keep their own block RAMs.

The plan's data classes (Item, Placement, Bin, PackingPlan's structure, is_plain, FORMAT) live in
hw/packing_plan.py, the structure hw/ builds (hw/ may not import cost_model/, issue #17); they are
re-exported here, and :class:`PackingPlan` here subclasses hw's with the cost facts above.

Guaranteed: :func:`pack` returns a plan that passes :meth:`PackingPlan.validate` (every item placed
exactly once, rectangles inside their bin and disjoint, at most the bin's ports, every shared port
conflict-free) with ``packed <= unpacked``; plans round-trip through JSON.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from bitscale.cost_model import bram
from bitscale.hw import packing_plan as _plan
from bitscale.hw.packing_plan import FORMAT as FORMAT  # re-exported: callers keep importing them here
from bitscale.hw.packing_plan import Bin, Item, Placement
from bitscale.hw.packing_plan import is_plain as is_plain

EXACT_MAX_ITEMS = 12
MAX_SLOTS = 8  # at most this many items time-share one port
MAX_ROWS_PER_WORD = 8  # at most this many reads assemble one word
DEFAULT_BUDGET_S = 2.0  # heuristic time budget per design


@dataclass(frozen=True)
class PackingPlan(_plan.PackingPlan):
    """hw/packing_plan.PackingPlan (the structure hw/ builds) plus the cost facts: what Yosys maps each bin
    to, the family's read ports, the capacity floor and the mapping efficiency."""

    @property
    def capacity_floor(self) -> int:
        return -(-self.bits // bram.UNIT_BITS[self.family]) if self.bits else 0

    @property
    def efficiency(self) -> float:
        """Bits stored / bits of the block RAMs used."""
        return self.bits / (self.packed * bram.UNIT_BITS[self.family]) if self.packed else 1.0

    def bin_fill(self, b: Bin) -> float:
        return sum(self.item(p.item).bits for p in b.placements) / (b.units * bram.UNIT_BITS[self.family])

    def validate(self) -> None:
        """Raise ValueError unless every item is placed once, inside its bin, without overlap, within the
        bin's ports, on a conflict-free port schedule (so cycles/frame are unchanged), and the bin's units
        are what Yosys maps."""
        for b in self.bins:
            if not 1 <= b.ports <= family_ports(self.family) or len(b.slots) != b.ports:
                raise ValueError(f"bin {b.primitive}: {b.ports} ports")
            if b.units != bin_units(b.width, b.depth, b.ports, self.family)[0]:
                raise ValueError(
                    f"bin {b.primitive}: {b.units} units, Yosys maps "
                    f"{bin_units(b.width, b.depth, b.ports, self.family)[0]}"
                )
        self.validate_layout()

    def summary(self) -> dict:
        return {**super().summary(), "capacity_floor": self.capacity_floor, "efficiency": round(self.efficiency, 4)}

    def table(self) -> str:
        """Per bin: what it holds and its fill (the estimate command prints this)."""
        lines = [
            f"BRAM packing ({self.solver}, {self.seconds:.2f} s): {self.packed} {self.bram_kind} packed, "
            f"{self.unpacked} unpacked, capacity floor {self.capacity_floor}, "
            f"mapping efficiency {self.efficiency:.1%}"
        ]
        for k, b in enumerate(self.bins):
            held = ", ".join(
                f"{p.item} {self.item(p.item).width}x{self.item(p.item).depth}@({p.x},{p.y})"
                + (f" port{p.port}" if b.ports > 1 else "")
                + (f" slot{p.slot}/{b.slots[p.port]}" if b.slots[p.port] > 1 else "")
                + (f" {p.rows_per_word} rows/word" if p.rows_per_word > 1 else "")
                for p in b.placements
            )
            lines.append(
                f"  bin {k}: {b.primitive} x{b.units} units {b.width}x{b.depth} fill {self.bin_fill(b):.0%}: {held}"
            )
        return "\n".join(lines)


# --- the family's bins -------------------------------------------------------------------------


def family_ports(family: str) -> int:
    """Read ports a block RAM offers: 2 (true dual port) except iCE40's EBR (one read, one write)."""
    return 1 if family == "ice40" else 2


@lru_cache(maxsize=None)
def _port_configs(family: str, ports: int) -> tuple[bram.Config, ...]:
    cfgs = [c for c in bram._configs(family) if c.units <= 2]  # no cascades in a bin
    if ports == 2:  # true dual port: each port at most half the unit's widest port
        cfgs = [c for c in cfgs if c.width <= bram.UNIT_MAX_WIDTH[family] // 2 * c.units]
    return tuple(cfgs)


@lru_cache(maxsize=65536)
def bin_units(width: int, depth: int, ports: int, family: str) -> tuple[int, str]:
    """(units, "PRIMITIVE DxW") Yosys maps for a ROM of ``width x depth`` with ``ports`` read ports
    (bram.py's cheapest-cost rule over the configurations that many ports allow)."""
    best = None
    for c in _port_configs(family, ports) if ports == 2 else bram._configs(family):
        n = bram._units(width, depth, c, False)
        if best is None or n * c.cost < best[0] * best[1].cost:
            best = (n, c)
    assert best is not None
    n, c = best
    return n * c.units, f"{c.primitive} {c.depth}x{c.width}"


def _groups(periods: list[int], ports: int) -> list[list[int]] | None:
    """Indices split into at most ``ports`` round-robin groups, every member's period >= group size
    (largest periods together first: optimal by exchange), or None."""
    order = sorted(range(len(periods)), key=lambda i: -periods[i])
    groups = []
    k = 0
    while k < len(order):
        if len(groups) == ports:
            return None
        g = 1
        while k + g < len(order) and g + 1 <= MAX_SLOTS and periods[order[k + g]] >= g + 1:
            g += 1
        groups.append(order[k : k + g])
        k += g
    return groups


def _layout(items: list[Item], family: str, ports_max: int, max_k: int = MAX_ROWS_PER_WORD):
    """The fewest-units single bin holding ``items`` (Bin) or None."""
    periods = [i.period for i in items]
    if sum(p == 1 for p in periods) > ports_max:  # each item read every cycle needs its own port
        return None
    best = None
    for ports in range(1, ports_max + 1):
        groups = _groups(periods, ports)
        if groups is None:
            continue
        used = len(groups)
        if used != ports and ports > 1:
            continue
        for c in _port_configs(family, ports):
            D = c.depth
            # rectangles, strips by first-fit decreasing height
            rects = []
            slots_of = {i: len(g) for g in groups for i in g}
            for idx, it in enumerate(items):
                # k rows per word where the period leaves k reads per word: narrower, deeper rectangles
                best_k = None
                k = 1
                while k * slots_of[idx] <= it.period and k <= max_k and k <= it.width:
                    s = -(-(it.depth * k) // D)
                    area = -(-it.width // k) * s
                    if best_k is None or area < best_k[0]:
                        best_k = (area, k, s)
                    k *= 2
                assert best_k is not None  # k = 1 always qualifies (period >= slots)
                area, k, s = best_k
                rects.append((min(it.depth * k, D), area, s, idx, k))
            rects.sort(key=lambda r: (-r[0], -r[1]))
            strips = []  # [x, width, used height]
            pos = {}
            x_end = 0
            for h, w, s, idx, k in rects:
                for st in strips:
                    if st[1] >= w and st[2] + h <= D and s == 1:
                        pos[idx] = (st[0], st[2], s, k)
                        st[2] += h
                        break
                else:
                    strips.append([x_end, w, h])
                    pos[idx] = (x_end, 0, s, k)
                    x_end += w
            width = -(-x_end // c.width) * c.width
            units, prim = bin_units(width, D, ports, family)
            if best is None or units < best[0]:
                best = (units, prim, width, D, ports, groups, pos)
    if best is None:
        return None
    units, prim, width, D, ports, groups, pos = best
    placements = []
    for port, g in enumerate(groups):
        for slot, idx in enumerate(g):
            x, y, s, k = pos[idx]
            placements.append(Placement(items[idx].name, x, y, s, port, slot, k))
    placements.sort(key=lambda p: p.item)
    return Bin(prim, width, D, ports, tuple(len(g) for g in groups), units, tuple(placements))


def _single(it: Item, family: str) -> Bin:
    """The item alone, mapped exactly as today (bram.best_config, one port)."""
    cfg, n = bram.best_config(it.width, it.depth, family)
    width = -(-it.width * -(-it.depth // cfg.depth) // cfg.width) * cfg.width
    units, prim = bin_units(width, cfg.depth, 1, family)
    assert units == it.units == n * cfg.units, (it, units, n * cfg.units)
    return Bin(prim, width, cfg.depth, 1, (1,), units, (Placement(it.name, 0, 0, -(-it.depth // cfg.depth), 0, 0),))


# --- solvers ------------------------------------------------------------------------------------


def pack(
    items,
    family: str,
    *,
    exact_max: int = EXACT_MAX_ITEMS,
    budget_s: float = DEFAULT_BUDGET_S,
    seed: int = 0,
    max_rows_per_word: int = MAX_ROWS_PER_WORD,
) -> PackingPlan:
    """The packing plan of ``items`` (Item) on ``family``: exact ILP for small, heuristic for large.
    ``max_rows_per_word``: 1 keeps every word in one row (no reshaping)."""
    t0 = time.perf_counter()
    items = tuple(sorted(items, key=lambda i: i.name))
    ports = family_ports(family)
    cache: dict[frozenset, Bin | None] = {}

    def layout(idx: frozenset):
        if idx not in cache:
            sel = [items[i] for i in sorted(idx)]
            if len(sel) == 1:  # today's mapping, or a reshaped one (k rows per word) where that is fewer
                own, alt = _single(sel[0], family), _layout(sel, family, ports, max_rows_per_word)
                cache[idx] = alt if alt is not None and alt.units < own.units else own
            else:
                cache[idx] = _layout(sel, family, ports, max_rows_per_word)
            b = cache[idx]
            if b is not None and len(sel) > 1 and b.units >= sum(i.units for i in sel):
                cache[idx] = None  # no saving: keep them apart
        return cache[idx]

    if not items:
        return PackingPlan(family, bram.UNIT_NAME[family], (), (), "none", 0.0)
    if len(items) <= exact_max:
        bins, solver = _exact(items, layout), "ilp"
    else:
        bins, solver = _anneal(items, layout, budget_s, seed), "heuristic"
    made = [layout(frozenset(g)) for g in bins]
    assert all(b is not None for b in made)  # every chosen group was laid out
    plan = PackingPlan(
        family,
        bram.UNIT_NAME[family],
        items,
        tuple(b for b in made if b is not None),
        solver,
        round(time.perf_counter() - t0, 4),
    )
    plan.validate()
    return plan


def _exact(items, layout) -> list[list[int]]:
    from scipy.optimize import Bounds, LinearConstraint, milp

    n = len(items)
    cols, costs = [], []
    for mask in range(1, 1 << n):
        idx = frozenset(i for i in range(n) if mask >> i & 1)
        b = layout(idx)
        if b is not None:
            cols.append(idx)
            costs.append(b.units)
    A = np.zeros((n, len(cols)))
    for j, idx in enumerate(cols):
        A[list(idx), j] = 1
    res = milp(
        np.asarray(costs, float),
        constraints=LinearConstraint(A, 1, 1),
        integrality=np.ones(len(cols)),
        bounds=Bounds(0, 1),
    )
    if res.x is None:  # cannot happen: the singletons are a solution
        return [[i] for i in range(n)]
    return [sorted(cols[j]) for j in range(len(cols)) if res.x[j] > 0.5]


def _anneal(items, layout, budget_s: float, seed: int) -> list[list[int]]:
    n = len(items)
    order = sorted(range(n), key=lambda i: -items[i].units)

    def cost(g):
        b = layout(frozenset(g)) if g else None
        return b.units if b is not None else 0

    # first-fit decreasing: into the first bin where the item saves units
    bins: list[list[int]] = []
    for i in order:
        for g in bins:
            nb = layout(frozenset(g + [i]))
            if nb is not None and nb.units < cost(g) + items[i].units:
                g.append(i)
                break
        else:
            bins.append([i])

    total = sum(cost(g) for g in bins)
    best = ([list(g) for g in bins], total)
    rng = random.Random(seed)
    t_end = time.perf_counter() + budget_s
    temp0 = 2.0
    step = 0
    while time.perf_counter() < t_end and step < 20000:
        step += 1
        temp = temp0 * (1 - (time.perf_counter() - (t_end - budget_s)) / budget_s) + 1e-3
        a = rng.randrange(len(bins))
        if not bins[a]:
            continue
        i = rng.choice(bins[a])
        b = rng.randrange(len(bins) + 1)
        if b == a:
            continue
        src = [x for x in bins[a] if x != i]
        dst = (bins[b] if b < len(bins) else []) + [i]
        ls, ld = (layout(frozenset(src)) if src else None), layout(frozenset(dst))
        if ld is None or (src and ls is None):
            continue
        old = cost(bins[a]) + (cost(bins[b]) if b < len(bins) else 0)
        new = (ls.units if ls is not None else 0) + ld.units
        d = new - old
        if d <= 0 or rng.random() < math.exp(-d / temp):
            bins[a] = src
            if b < len(bins):
                bins[b] = dst
            else:
                bins.append(dst)
            bins = [g for g in bins if g]
            total += d
            if total < best[1]:
                best = ([list(g) for g in bins], total)
    return best[0]


# --- the items of a design ----------------------------------------------------------------------


def design_items(net, folding, family: str) -> tuple[Item, ...]:
    """The block ROMs of ``net`` folded by ``folding`` (weights, block parameter tables) as items."""
    from bitscale.cost_model import model

    out = []
    for info in model.layer_infos(net):
        lf = folding[info.name]
        m_idx = model._mode_index([lf.mode])
        wp, ap = model.planes(info, m_idx)
        wp, ap = int(wp[0]), int(ap[0])
        sf = info.mw // lf.simd
        for role, name, w_, d_, lw in model.memories(info, np.array([lf.pe]), np.array([lf.simd]), m_idx):
            if role not in ("weights", "params"):
                continue
            w_, d_, lw = int(np.ravel(w_)[0]), int(np.ravel(d_)[0]), int(np.ravel(lw)[0])
            if not w_ * d_ or not bool(bram.block_mask(w_, d_, role, family)):
                continue
            units = int(bram.block_count(lw, d_, family))
            if units == 0:
                continue
            period = ap if role == "weights" else sf * wp * ap
            out.append(Item(f"{info.name}.{name}", info.name, role, lw, d_, period, units))
    return tuple(out)


def check_design(plan: PackingPlan, net, folding) -> None:
    """UserError unless ``plan`` is a valid plan of exactly this design's memories (names, shapes and read
    periods: a plan made for another folding could change cycles/frame)."""
    from bitscale.errors import UserError

    try:
        plan.validate()
    except ValueError as e:
        raise UserError(f"packing plan rejected: {e}") from None
    want = {(i.name, i.width, i.depth, i.period) for i in design_items(net, folding, plan.family)}
    got = {(i.name, i.width, i.depth, i.period) for i in plan.items}
    if want != got:
        diff = sorted(n for n, *_ in want ^ got)
        raise UserError(f"packing plan rejected: it is not this design's (memories differ: {', '.join(diff)})")


def plan_design(net, folding, family: str, **kw) -> PackingPlan:
    """:func:`pack` over :func:`design_items`."""
    return pack(design_items(net, folding, family), family, **kw)
