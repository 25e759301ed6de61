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
  port). Items are rectangles in it: an item deeper than its slice height is cut into ``slices`` depth
  slices laid side by side, so it is ``width*slices`` bits wide and ``min(depth, slice rows)`` rows
  high; rectangles never overlap. Two layouts per configuration: vertical strips of the bin's depth
  (first-fit decreasing height: shallow items stacked in depth, deeper ones sliced at the full depth),
  or two bands: items at most H rows deep stacked in strips in rows 0 .. H-1 and the others sliced at
  D - H rows side by side under them (a wide, shallow memory with deep, narrow ones on the other port).
* an item may be **split by columns**: a part (``col0``, ``ncols`` of its stored columns) in one bin,
  the rest in others; every part is read in step with the layer (hw/top.py joins the parts' columns;
  the word is ready when every part's is). A wide, shallow memory read every cycle holds few bits in
  the ports it needs; a part of its columns on one port of a two-port bin leaves the rows under it to
  deep memories on the other port (:func:`_split_pass`).
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
item, layout) is laid out and the set partition (each item in exactly one bin, fewest units) is solved
exactly by ``scipy.optimize.milp``; beyond that, first-fit decreasing then simulated annealing over item
moves (seeded, deterministic) within a time budget. A singleton bin is the item's own mapping today, so
the plan never takes more units than the memories unpacked. Then the column splits, two ways, the better
kept: the greedy pass (best saving first, while it saves units), and (up to EXACT_MAX_ITEMS items) the
split MILP (:func:`_split_milp`: the set partition above plus, per wide shallow memory, bins of a part of
its columns beside at most two whole others with the part's width a variable, and its leftover columns
alone; exact over those candidate bins, then the greedy pass on its result). :func:`port_floor` is the
bound at this throughput (bench/packing.py reports the gap to it).

Written memories (input buffers, line buffers, FIFOs) are not packed: they need a write port and
are read at data-dependent times. :func:`plan_design` may instead build a layer's input buffer or a dense
layer's input FIFO in LUT RAM (:class:`Written`, ``PackingPlan.lutram``): where the cost model's LUTs for it
are at most :data:`LUTRAM_MAX_LUTS_PER_UNIT` per block RAM freed and within a LUT budget (the board's cap
less the design's LUTs). Same ports and latency, so cycles/frame are unchanged; ``saving`` counts both.

The plan's data classes (Item, Placement, Bin, PackingPlan's structure, is_plain, FORMAT) live in
hw/packing_plan.py, the structure hw/ builds (hw/ may not import cost_model/, issue #17); they are
re-exported here, and :class:`PackingPlan` here subclasses hw's with the cost facts above.

Guaranteed: :func:`pack` returns a plan that passes :meth:`PackingPlan.validate` (every column of every
item placed exactly once, rectangles inside their bin and disjoint, at most the bin's ports, every shared
port conflict-free) with ``port_floor <= packed <= unpacked``, never more units with the split MILP than
without; :func:`plan_design` moves a written memory to LUT RAM only on a family with LUT RAM and within
``lut_budget``; plans round-trip through JSON.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from bitscale.cost_model import bram
from bitscale.hw import packing_plan as _plan
from bitscale.hw.packing_plan import FORMAT as FORMAT  # re-exported: callers keep importing them here
from bitscale.hw.packing_plan import Bin, Item, Placement, Written
from bitscale.hw.packing_plan import is_plain as is_plain

EXACT_MAX_ITEMS = 12
MAX_SLOTS = 8  # at most this many items time-share one port
MAX_ROWS_PER_WORD = 8  # at most this many reads assemble one word
DEFAULT_BUDGET_S = 2.0  # heuristic time budget per design
# a written memory goes to LUT RAM (generate --pack) where its LUTs (the cost model's term) are at most this many per
# block RAM it frees (and within the board's LUT cap): the boards hold 190 (PYNQ-Z1) to 400 (ECP5-85F) LUTs per block
# RAM unit, so this trades about as much of one as it frees of the other
LUTRAM_MAX_LUTS_PER_UNIT = 320
# a safety cap on the split MILP (candidates + HiGHS; 0.3-8 s on the bench's designs at load 6-8): past it the greedy splits stand
SPLIT_MILP_BUDGET_S = 30.0
DEPTH_BUDGET_S = 2.0  # a safety cap on the depth-split pass
SPLIT_MILP_MAX_SET = 2  # whole memories beside one part of a wide, shallow memory in a split-MILP bin


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

    def placed_bits(self, p: Placement) -> int:
        it = self.item(p.item)
        return p.part_width(it) * p.part_rows(it)

    def bin_fill(self, b: Bin) -> float:
        return sum(self.placed_bits(p) for p in b.placements) / (b.units * bram.UNIT_BITS[self.family])

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
            + (
                f"; {len(self.lutram)} written memories in LUT RAM: -{self.lutram_units} {self.bram_kind}, "
                f"+{self.lutram_luts} LUTs"
                if self.lutram
                else ""
            )
        ]
        for w in self.lutram:
            lines.append(
                f"  LUT RAM: {w.name} {w.width}x{w.depth} (written; {w.units} {self.bram_kind} unpacked) "
                f"-> about {w.luts} LUTs"
            )
        for k, b in enumerate(self.bins):
            held = ", ".join(
                f"{p.item}"
                + (f"[{p.col0}:{p.col0 + p.ncols}]" if p.is_part(self.item(p.item)) else "")
                + (f"[words {p.row0}:{p.row0 + p.nrows}]" if p.is_depth_part(self.item(p.item)) else "")
                + f" {p.part_width(self.item(p.item))}x{p.part_rows(self.item(p.item))}@({p.x},{p.y})"
                + (f" in {p.slices} slices of {p.slice_height(b.depth)} rows" if p.slices > 1 else "")
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


def port_floor(items, family: str) -> tuple[int, dict[str, float]]:
    """A lower bound of the units ANY plan of ``items`` takes at full throughput, counting read ports:
    (units, {item: read ports it needs}). Ports are counted in port-equivalents of ``P`` = widest width /
    ports bits (xc7/ECP5 18 of a two-port RAMB18/DP16KD, iCE40 16), ``ports`` per unit. An item read every
    cycle (period 1) owns whole ports on the static schedule: at least ceil(width / P), and, per bit
    column, the cheapest set of port columns of the family's configurations whose depths add up to its
    words (:func:`column_ports`: a configuration ``w`` bits wide and ``D`` deep serves one column on 1 / w
    of a port for D words; 2304 words take three 1024-deep 18-bit columns, 1/6 of a port, not the 1/8
    its bits fill), which is at least its bits in units. Items read every ``period`` >= 2 cycles share
    the other ports: at least the sum of width / (P*period) (their time) and of their bits in units (a
    port reaches at most one unit's bits). Units >= max(ceil(bits / unit bits), ceil(ports needed /
    ports per unit)). The gap to the capacity floor is what the throughput costs: a wide, shallow memory
    read every cycle holds few bits in the ports it needs."""
    ports = family_ports(family)
    pw = bram.UNIT_MAX_WIDTH[family] // ports
    unit = bram.UNIT_BITS[family]
    need = {}
    shared_time = shared_bits = 0.0
    for i in items:
        if i.period == 1:
            need[i.name] = float(max(-(-i.width // pw), math.ceil(i.width * column_ports(i.depth, family) - 1e-9)))
        else:
            need[i.name] = i.width / (pw * i.period)
            shared_time += need[i.name]
            shared_bits += i.bits / unit
    owned = sum(n for i in items if i.period == 1 for n in [need[i.name]])
    cap = sum(i.bits for i in items) / unit
    return math.ceil(max(cap, (owned + max(shared_time, shared_bits)) / ports) - 1e-9), need


@lru_cache(maxsize=4096)
def column_ports(depth: int, family: str) -> float:
    """The fewest port-equivalents (:func:`port_floor`) that hold ``depth`` words of one bit column read every
    cycle: a configuration ``w`` bits wide, ``D`` deep, of ``u`` units holds a column for D words on u x
    ports / (its read ports x w) port-equivalents (a one-port configuration wider than a port-equivalent
    takes both ports of its units); the cheapest multiset whose depths add up to at least ``depth``
    (an exact covering knapsack over the family's configurations)."""
    from fractions import Fraction

    ports = family_ports(family)
    half = bram.UNIT_MAX_WIDTH[family] // ports
    opts = []
    for c in bram._configs(family):
        phys = ports if c.width <= half * c.units else 1
        opts.append((c.depth, Fraction(c.units * ports, phys * c.width)))
    q = math.gcd(*(d for d, _ in opts))
    n = -(-depth // q)
    best = [Fraction(0)] + [Fraction(10**9)] * n
    for r in range(1, n + 1):
        best[r] = min(best[max(0, r - d // q)] + cost for d, cost in opts)
    return float(best[n])


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


@dataclass(frozen=True)
class _Piece:
    """What the layout places: an item whole (col0 0, ncols = its width, all its words) or a part: some of its
    columns (col0, ncols) of some of its words (row0, nrows; nrows 0: all)."""

    item: Item
    col0: int
    ncols: int
    row0: int = 0
    nrows: int = 0

    @property
    def name(self) -> str:
        return self.item.name

    @property
    def width(self) -> int:
        return self.ncols

    @property
    def depth(self) -> int:
        return self.nrows or self.item.depth

    @property
    def period(self) -> int:
        return self.item.period

    @property
    def whole(self) -> bool:
        return self.ncols == self.item.width and self.depth == self.item.depth

    def placement_part(self) -> tuple[int, int, int, int]:
        """Placement's (col0, ncols, row0, nrows): zeros where the piece has all the item's columns / words."""
        c0, nc = (0, 0) if self.ncols == self.item.width else (self.col0, self.ncols)
        r0, nr = (0, 0) if self.depth == self.item.depth else (self.row0, self.nrows)
        return c0, nc, r0, nr


def _whole(it: Item) -> _Piece:
    return _Piece(it, 0, it.width)


def _ks(pc: _Piece, slots: int, max_k: int) -> list[int]:
    """The rows-per-word choices of a piece on a port shared ``slots`` ways: k * slots <= period."""
    out, k = [], 1
    while k * slots <= pc.period and k <= max_k and k <= pc.width:
        out.append(k)
        k *= 2
    return out


def _layout(pieces, family: str, ports_max: int, max_k: int = MAX_ROWS_PER_WORD):
    """The fewest-units single bin holding ``pieces`` (_Piece) or None. Two layouts per configuration:
    full-height strips (shallow pieces stacked in depth in a strip, deeper ones cut into depth slices of
    the bin's depth side by side), and two bands: shallow pieces stacked in strips in rows 0 .. H-1, the
    rest cut into slices of D - H rows side by side under them (a wide shallow memory and a deep narrow
    one in one bin)."""
    periods = [p.period for p in pieces]
    if sum(p == 1 for p in periods) > ports_max:  # each piece read every cycle needs its own port
        return None
    best = None
    n = len(pieces)
    for ports in range(1, ports_max + 1):
        groups = _groups(periods, ports)
        if groups is None:
            continue
        used = len(groups)
        if used != ports and ports > 1:
            continue
        slots_of = {i: len(g) for g in groups for i in g}
        ks = [_ks(pieces[i], slots_of[i], max_k) for i in range(n)]
        for c in _port_configs(family, ports):
            D = c.depth
            cands = []
            # (a) full-height strips, k per piece: the least area
            rects = []
            for idx, pc in enumerate(pieces):
                best_k = None
                for k in ks[idx]:
                    s = -(-(pc.depth * k) // D)
                    area = -(-pc.width // k) * s
                    if best_k is None or area < best_k[0]:
                        best_k = (area, k, s)
                assert best_k is not None  # k = 1 always qualifies (period >= slots)
                area, k, s = best_k
                rects.append((min(pc.depth * k, D), area, s, idx, k))
            pos, top_w = _strips(rects, D)
            cands.append((top_w, pos))
            # (b) two bands: rows 0..H-1 hold the pieces at most H rows deep (the most rows per word that fit),
            # rows H..D-1 the others in slices of D - H rows
            heights = sorted({pc.depth * k for idx, pc in enumerate(pieces) for k in ks[idx] if pc.depth * k < D})
            for H in heights:
                top, bottom = [], []
                for idx, pc in enumerate(pieces):
                    fit = [k for k in ks[idx] if pc.depth * k <= H]
                    if fit:
                        k = fit[-1]
                        top.append((pc.depth * k, -(-pc.width // k), 1, idx, k))
                    else:
                        bottom.append(idx)
                if not top or not bottom:
                    continue
                pos, w_top = _strips(top, H)
                h = D - H
                x = 0
                for idx in bottom:
                    pc = pieces[idx]
                    area, k, s = min(
                        (-(-pc.width // k) * -(-(pc.depth * k) // h), k, -(-(pc.depth * k) // h)) for k in ks[idx]
                    )
                    pos[idx] = (x, H, s, k, h if s > 1 else 0)
                    x += area
                cands.append((max(w_top, x), pos))
            for w, pos in cands:
                width = -(-w // c.width) * c.width
                units, prim = bin_units(width, D, ports, family)
                if best is None or units < best[0]:
                    best = (units, prim, width, D, ports, groups, pos)
    if best is None:
        return None
    units, prim, width, D, ports, groups, pos = best
    placements = []
    for port, g in enumerate(groups):
        for slot, idx in enumerate(g):
            x, y, s, k, h = pos[idx]
            pc = pieces[idx]
            placements.append(Placement(pc.name, x, y, s, port, slot, k, h, *pc.placement_part()))
    placements.sort(key=lambda p: p.item)
    return Bin(prim, width, D, ports, tuple(len(g) for g in groups), units, tuple(placements))


def _strips(rects, D: int):
    """Rectangles (height, width, slices, idx, k) in vertical strips of height ``D`` by first-fit decreasing
    height (sliced ones open their own strip): ({idx: (x, y, slices, k, 0)}, total width)."""
    strips = []  # [x, width, used height]
    pos = {}
    x_end = 0
    for h, w, s, idx, k in sorted(rects, key=lambda r: (-r[0], -r[1])):
        for st in strips:
            if st[1] >= w and st[2] + h <= D and s == 1:
                pos[idx] = (st[0], st[2], s, k, 0)
                st[2] += h
                break
        else:
            strips.append([x_end, w, h])
            pos[idx] = (x_end, 0, s, k, 0)
            x_end += w
    return pos, x_end


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
    split: bool = True,
    split_milp: bool = True,
    depth_split: bool = True,
) -> PackingPlan:
    """The packing plan of ``items`` (Item) on ``family``: exact ILP for small, heuristic for large, then
    (``split``) the column-split pass. ``max_rows_per_word``: 1 keeps every word in one row (no reshaping)."""
    t0 = time.perf_counter()
    items = tuple(sorted(items, key=lambda i: i.name))
    ports = family_ports(family)
    cache: dict[frozenset, Bin | None] = {}

    def layout_pieces(sel: frozenset) -> Bin | None:
        if sel not in cache:
            pcs = sorted(sel, key=lambda p: (p.name, p.col0))
            if len(pcs) == 1 and pcs[0].whole:  # today's mapping, or a reshaped one (k rows per word) if fewer
                own, alt = _single(pcs[0].item, family), _layout(pcs, family, ports, max_rows_per_word)
                cache[sel] = alt if alt is not None and alt.units < own.units else own
            elif len({p.name for p in pcs}) != len(pcs):
                cache[sel] = None  # two parts of one item never share a bin
            else:
                cache[sel] = _layout(pcs, family, ports, max_rows_per_word)
        return cache[sel]

    whole = [_whole(i) for i in items]

    unit_bits = bram.UNIT_BITS[family]

    def layout(idx: frozenset):
        if len(idx) > 1 and -(-sum(items[i].bits for i in idx) // unit_bits) >= sum(items[i].units for i in idx):
            return None  # no saving possible: a bin holds at most its units' bits (exact, and no layout to try)
        b = layout_pieces(frozenset(whole[i] for i in idx))
        if b is not None and len(idx) > 1 and b.units >= sum(items[i].units for i in idx):
            return None  # no saving: keep them apart
        return b

    if not items:
        return PackingPlan(family, bram.UNIT_NAME[family], (), (), "none", 0.0)
    if len(items) <= exact_max:
        bins, solver = _exact(items, layout), "ilp"
    else:
        bins, solver = _anneal(items, layout, budget_s, seed), "heuristic"
    groups = [[whole[i] for i in g] for g in bins]
    if split:
        # a time cap only (not reached on the bench's designs, so plans do not depend on the machine's load)
        # (from the splits' start: a slow partition under load must not cut the splits short)
        t1 = time.perf_counter()
        deadline = t1 + 1.5 * budget_s + 0.5 + (SPLIT_MILP_BUDGET_S if split_milp else 0.0)
        greedy = _split_pass(groups, layout_pieces, family, deadline)
        groups = greedy
        if split_milp and len(items) <= exact_max:
            # the split and assignment as one set-partitioning MILP (exact over its candidate bins), then the
            # greedy pass on its result; the better of the two
            exact = _split_milp(items, whole, layout_pieces, family, time.perf_counter() + SPLIT_MILP_BUDGET_S)
            if exact is not None:
                exact = _split_pass(exact, layout_pieces, family, deadline + SPLIT_MILP_BUDGET_S)
                if _units_of(exact, layout_pieces) < _units_of(greedy, layout_pieces):
                    groups, solver = exact, solver + "+milp"
        if any(p.ncols != p.item.width for g in groups for p in g):
            solver += "+split"
    if depth_split:
        groups = _depth_pass(groups, layout_pieces, time.perf_counter() + DEPTH_BUDGET_S)
        if any(p.depth != p.item.depth for g in groups for p in g):
            solver += "+depth"
    made = [layout_pieces(frozenset(g)) for g in groups]
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


def _split_pass(groups: list[list[_Piece]], layout, family: str, deadline: float) -> list[list[_Piece]]:
    """Column splits: a memory alone in its bin (a wide, shallow one read every cycle fills few of its rows)
    gives a part of its columns to another bin, whose memories then fill the rows under that part (two
    bands, the part on its own port or slot); the rest of its columns stay alone (and may split again).
    Greedy, best saving first, while it saves units (and before ``deadline``)."""

    def units(g):
        b = layout(frozenset(g))
        return None if b is None else b.units

    configs = {c for p in (1, 2) for c in _port_configs(family, p)}
    widths = sorted({c.width for c in configs})
    while time.perf_counter() < deadline:
        best = None
        for ai, ga in enumerate(groups):
            if len(ga) != 1:
                continue
            a = ga[0]
            ua = units(ga)
            assert ua is not None
            b_a = layout(frozenset(ga))
            if b_a.units * bram.UNIT_BITS[family] < 2 * a.width * a.depth:  # at least half full: no gain
                continue
            for gi, g in enumerate(groups):
                if gi == ai or any(p.name == a.name for p in g):
                    continue
                ug = units(g)
                assert ug is not None
                # the whole other bin joins the part, or one memory of it (the others stay together)
                for sub, left in [(g, [])] + ([([q], [r for r in g if r is not q]) for q in g] if len(g) > 1 else []):
                    ul = units(left) if left else 0
                    if ul is None:
                        continue
                    # part widths: what the joining memories take in the rows under the part, per configuration
                    cands = {a.width}
                    for c in configs:
                        if a.depth >= c.depth:
                            continue
                        h = c.depth - a.depth
                        need = sum(p.width * -(-p.depth // h) for p in sub)
                        for w in widths:
                            cands.add(min(a.width, -(-need // w) * w))
                    for nc in sorted(cands):
                        if time.perf_counter() > deadline:
                            break
                        part = dataclasses.replace(a, ncols=nc)
                        un = units([*sub, part])
                        if un is None:
                            continue
                        rest = [dataclasses.replace(a, col0=a.col0 + nc, ncols=a.width - nc)] if nc < a.width else []
                        ur = units(rest) if rest else 0
                        if ur is None:
                            continue
                        save = ua + ug - un - ur - ul
                        if save > 0 and (best is None or save > best[0]):
                            best = (save, ai, gi, part, rest, sub, left)
        if best is None:
            break
        _, ai, gi, part, rest, sub, left = best
        new = [[*sub, part]] + ([rest] if rest else []) + ([left] if left else [])
        groups = [g for k, g in enumerate(groups) if k not in (ai, gi)] + new
    return groups


def _depth_pass(groups: list[list[_Piece]], layout, deadline: float) -> list[list[_Piece]]:
    """Depth splits: a memory cut into depth slices whose last slice is part empty keeps its full slices
    (its words 0 .. (slices-1) x slice rows - 1: the head) in its bin and gives the other words (the tail) to
    another bin, or to a bin of their own, where that saves units (the bin may then narrow, and the tail fill
    rows another bin leaves empty). Greedy, best saving first, while it saves (and before ``deadline``)."""

    def units(g):
        b = layout(frozenset(g))
        return None if b is None else b.units

    while time.perf_counter() < deadline:
        best = None
        for gi, g in enumerate(groups):
            b = layout(frozenset(g))
            for pl in b.placements:
                pc = next(p for p in g if p.name == pl.item and p.placement_part() == _part(pl))
                head_rows = (pl.slices - 1) * pl.slice_height(b.depth) // pl.rows_per_word
                if pl.slices < 2 or not 0 < head_rows < pc.depth:
                    continue
                head = dataclasses.replace(pc, nrows=head_rows)
                tail = dataclasses.replace(pc, row0=pc.row0 + head_rows, nrows=pc.depth - head_rows)
                uh = units([p for p in g if p is not pc] + [head])
                if uh is None:
                    continue
                for hi in [None, *range(len(groups))]:
                    if time.perf_counter() > deadline:
                        break
                    if hi == gi:
                        continue
                    other = [] if hi is None else groups[hi]
                    ut = units([*other, tail])
                    if ut is None:
                        continue
                    save = b.units + (units(other) if other else 0) - uh - ut
                    if save > 0 and (best is None or save > best[0]):
                        best = (save, gi, hi, pc, head, tail)
        if best is None:
            break
        _, gi, hi, pc, head, tail = best
        new = [[p for p in groups[gi] if p is not pc] + [head], [*(groups[hi] if hi is not None else []), tail]]
        groups = [g for k, g in enumerate(groups) if k not in (gi, hi)] + new
    return groups


def _part(p: Placement) -> tuple[int, int, int, int]:
    return (p.col0, p.ncols, p.row0, p.nrows)


def _units_of(groups, layout) -> int:
    return sum(layout(frozenset(g)).units for g in groups)


def _split_milp(items, whole, layout, family: str, deadline: float) -> list[list[_Piece]] | None:
    """The column splits and the assignment as one set-partitioning MILP (scipy.optimize.milp, HiGHS).

    Candidate bins: (1) every set of whole memories that packs (what :func:`_exact` lays out), (2) for each
    memory ``s`` alone less than half full (a wide, shallow one) and each set ``T`` of at most
    :data:`SPLIT_MILP_MAX_SET` other whole memories, ``T`` beside a part of ``s``: the widest part that keeps the
    bin at the units ``T`` with a one-column part takes (binary search over the exact layout). Variables: one
    binary per candidate, per type-2 bin its part width (integer, 1 .. that widest), per ``s`` a binary "split"
    and its leftover columns and units (the rest alone, at the best columns per unit of ``s`` alone). Every
    memory is whole in one bin or split, its parts and leftover covering its columns exactly. Exact over these
    candidates (the set partition of whole memories is one of its solutions, so it is never worse than
    :func:`_exact`); a part narrower than its widest is laid out again after the solve. None past ``deadline``."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    n = len(items)
    unit = bram.UNIT_BITS[family]
    type1: list[tuple[frozenset, int]] = []
    for mask in range(1, 1 << n):
        if time.perf_counter() > deadline:
            return None
        idx = [i for i in range(n) if mask >> i & 1]
        if len(idx) > 1 and -(-sum(items[i].bits for i in idx) // unit) >= sum(items[i].units for i in idx):
            continue  # no bin of them saves a unit (it holds at most its units' bits): no layout to try
        b = layout(frozenset(whole[i] for i in idx))
        if b is not None and (len(idx) == 1 or b.units < sum(items[i].units for i in idx)):
            type1.append((frozenset(idx), b.units))
    shallow = []
    for s in range(n):
        own = layout(frozenset([whole[s]]))
        if items[s].width >= 2 and own.units * unit >= 2 * items[s].bits:
            cap = max(
                c.width / -(-items[s].depth // c.depth) / c.units
                for c in bram._configs(family)
                if c.units <= 2 and -(-items[s].depth // c.depth) <= c.width
            )
            shallow.append((s, cap))
    type2 = []  # (s, T, units, widest part)
    configs = {c for p in (1, 2) for c in _port_configs(family, p)}
    widths = sorted({c.width for c in configs})
    for s, cap in shallow:
        it = items[s]
        others = [i for i in range(n) if i != s]
        sets = [(i,) for i in others]
        if SPLIT_MILP_MAX_SET >= 2:  # a part of s is read every cycle: at most one more memory that is
            sets += [
                (i, j) for a, i in enumerate(others) for j in others[a + 1 :] if items[i].period + items[j].period > 2
            ]
        for T in sets:
            if time.perf_counter() > deadline:
                return None
            base = [whole[i] for i in T]
            alone = layout(frozenset(base))
            if alone is None:
                continue

            def units(nc, base=base, it=it):
                b = layout(frozenset([*base, _Piece(it, 0, nc)]))
                return None if b is None else b.units

            # probe widths: where T fills the rows under the part, per configuration (as _split_pass), then per
            # distinct unit count the widest part that keeps it (binary search: the units grow with the width)
            probes = {1, it.width}
            for cf in configs:
                if it.depth < cf.depth:
                    need = sum(items[i].width * -(-items[i].depth // (cf.depth - it.depth)) for i in T)
                    probes |= {min(it.width, -(-need // w) * w) for w in widths}
            levels: dict[int, int] = {}
            for nc in sorted(probes):
                u = units(nc)
                if u is not None and nc > levels.get(u, 0):
                    levels[u] = nc
            for u, lo in sorted(levels.items()):
                hi = it.width
                while lo < hi:
                    mid = (lo + hi + 1) // 2
                    um = units(mid)
                    if um is not None and um <= u:
                        lo = mid
                    else:
                        hi = mid - 1
                # worth a candidate: fewer units than T and the part apart, and not all of s (a type-1 bin)
                if lo < it.width and u < alone.units + -(-lo // cap):
                    type2.append((s, T, u, lo))
    if not type2:
        return None
    # variables: z (type1) | q (type2) | p (type2 part widths) | m, r, y per shallow memory
    n1, n2, ns = len(type1), len(type2), len(shallow)
    nv = n1 + 2 * n2 + 3 * ns
    qi, pi, mi = n1, n1 + n2, n1 + 2 * n2
    c = np.zeros(nv)
    c[:n1] = [u for _, u in type1]
    c[qi : qi + n2] = [u for _, _, u, _ in type2]
    c[mi + 2 * ns :] = 1.0  # leftover units
    rows, lo_b, hi_b = [], [], []

    def row():
        r = np.zeros(nv)
        rows.append(r)
        return r

    spos = {s: k for k, (s, _) in enumerate(shallow)}
    for i in range(n):  # every memory whole in one bin, or (a wide shallow one) split
        r = row()
        for j, (idx, _) in enumerate(type1):
            if i in idx:
                r[j] = 1
        for k, (_, T, _, _) in enumerate(type2):
            if i in T:
                r[qi + k] = 1
        if i in spos:
            r[mi + spos[i]] = 1
        lo_b.append(1)
        hi_b.append(1)
    for s, cap in shallow:  # parts + leftover = its columns when split; leftover units >= leftover / cap
        k_s = spos[s]
        r = row()
        for k, (s2, _, _, _) in enumerate(type2):
            if s2 == s:
                r[pi + k] = 1
        r[mi + ns + k_s] = 1
        r[mi + k_s] = -items[s].width
        lo_b.append(0)
        hi_b.append(0)
        r = row()
        r[mi + 2 * ns + k_s] = cap
        r[mi + ns + k_s] = -1
        lo_b.append(0)
        hi_b.append(np.inf)
    for k, (_, _, _, wide) in enumerate(type2):  # q_k <= p_k <= wide * q_k
        r = row()
        r[pi + k] = 1
        r[qi + k] = -wide
        lo_b.append(-np.inf)
        hi_b.append(0)
        r = row()
        r[pi + k] = 1
        r[qi + k] = -1
        lo_b.append(0)
        hi_b.append(np.inf)
    upper = np.ones(nv)
    upper[pi : pi + n2] = [w for *_, w in type2]
    upper[mi + ns : mi + 2 * ns] = [items[s].width for s, _ in shallow]
    upper[mi + 2 * ns :] = [items[s].units for s, _ in shallow]
    left = deadline - time.perf_counter()
    if left <= 0.05:
        return None
    res = milp(
        c,
        constraints=LinearConstraint(np.array(rows), lo_b, hi_b),  # pyright: ignore[reportArgumentType]
        integrality=np.ones(nv),
        bounds=Bounds(0, upper),  # pyright: ignore[reportArgumentType]
        options={"time_limit": left},
    )
    if res.x is None:
        return None
    x = np.round(res.x).astype(int)
    groups: list[list[_Piece]] = [[whole[i] for i in sorted(idx)] for j, (idx, _) in enumerate(type1) if x[j]]
    col = {s: 0 for s, _ in shallow}
    for k, (s, T, _, _) in enumerate(type2):
        if x[qi + k]:
            nc = int(x[pi + k])
            groups.append([*(whole[i] for i in T), _Piece(items[s], col[s], nc)])
            col[s] += nc
    for s, _ in shallow:
        if x[mi + spos[s]] and col[s] < items[s].width:
            groups.append([_Piece(items[s], col[s], items[s].width - col[s])])
    if any(layout(frozenset(g)) is None for g in groups):
        return None
    return groups


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


def written_candidates(net, folding, family: str) -> tuple[Written, ...]:
    """The written memories in block RAM that LUT RAM may hold instead (the layers' input buffers, a dense
    layer's input FIFO), cheapest LUTs per block RAM first: ``luts`` is the cost model's own term for that
    memory distributed (coefficient "lutram" x width x ceil(depth / the depth one LUT serves) for a buffer,
    "fifo" x width x ceil(depth / half that) for a FIFO). None on a family without LUT RAM (iCE40)."""
    from bitscale.boards import FAMILY
    from bitscale.cost_model import model

    if not FAMILY[family].lutram_cells:
        return ()
    coef = model.coefficients(family).coef["LUT"]
    ram_depth = model.RAM_DEPTH[family]
    out = []
    for info in model.layer_infos(net):
        lf = folding[info.name]
        m_idx = model._mode_index([lf.mode])
        for role, name, w_, d_, _ in model.memories(info, np.array([lf.pe]), np.array([lf.simd]), m_idx):
            if name not in ("inbuf", "fifo") or (name == "fifo" and info.conv_in is not None):
                continue
            w_, d_ = int(np.ravel(w_)[0]), int(np.ravel(d_)[0])
            if not w_ * d_:
                continue
            units = bram.map_memory(w_, d_, family, role).count  # as the estimate counts it (0: not block)
            if units:
                if name == "inbuf":
                    luts = coef["lutram"] * w_ * -(-d_ // ram_depth)
                else:
                    luts = coef["fifo"] * w_ * -(-d_ // max(2 * ram_depth // 4, 1))
                out.append(Written(f"{info.name}.{name}", w_, d_, units, int(round(luts))))
    return tuple(sorted(out, key=lambda w: (w.luts / w.units, w.name)))


def choose_lutram(cands, lut_budget: float | None = None) -> tuple[Written, ...]:
    """The candidates (:func:`written_candidates`) worth LUT RAM: at most LUTRAM_MAX_LUTS_PER_UNIT LUTs per
    block RAM freed, cheapest first while the LUTs stay within ``lut_budget`` (None: no limit)."""
    out, used = [], 0
    for w in cands:
        if w.luts <= LUTRAM_MAX_LUTS_PER_UNIT * w.units and (lut_budget is None or used + w.luts <= lut_budget):
            out.append(w)
            used += w.luts
    return tuple(sorted(out, key=lambda w: w.name))


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


def packed_estimate(est, plan: PackingPlan):
    """``est`` (cost_model.Estimate, unpacked) with ``plan`` applied: block RAMs less :attr:`PackingPlan.saving`,
    LUTs plus the LUT-RAM input buffers' (their utilization too; iCE40 moves none)."""
    import dataclasses

    from bitscale.boards import get as get_board

    b = get_board(est.board)
    bram_, lut = est.BRAM18 - plan.saving, est.LUT + plan.lutram_luts
    util = dict(est.utilization)
    if "BRAM18" in util and b.bram:
        util["BRAM18"] = bram_ / b.bram
    if "LUT" in util and b.lut:
        util["LUT"] = lut / b.lut
    return dataclasses.replace(est, BRAM18=bram_, LUT=lut, utilization=util)


def plan_on_board(net, folding, board, max_util: float, est=None) -> PackingPlan:
    """:func:`plan_design` for ``board`` (a boards.Board): the input buffers go to LUT RAM within the LUTs that
    ``max_util`` of the board leaves beside the unpacked design's own (``est``: its cost_model.Estimate on
    ``board``, when already computed)."""
    if est is None:
        from bitscale.cost_model import estimate

        est = estimate(net, folding, board)
    return plan_design(net, folding, board.family, lut_budget=max_util * board.lut - est.LUT)


def plan_design(
    net, folding, family: str, *, lutram: bool = True, lut_budget: float | None = None, **kw
) -> PackingPlan:
    """:func:`pack` over :func:`design_items`; with ``lutram`` the input buffers :func:`choose_lutram` picks
    (within ``lut_budget`` LUTs) go to LUT RAM."""
    import dataclasses

    plan = pack(design_items(net, folding, family), family, **kw)
    if lutram:
        plan = dataclasses.replace(plan, lutram=choose_lutram(written_candidates(net, folding, family), lut_budget))
        plan.validate()
    return plan
