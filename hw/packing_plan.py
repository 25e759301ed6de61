"""The BRAM packing plan as a hardware structure: which read-only memories (items) share which block
RAM (bin), where each sits in it, and on which port and slot it is read.

A plan is data that hw/ builds from (hw/top.py wires each bin of two or more memories as one
hw/packed_memory.PackedMemory); cost_model/packing.py solves for it and adds the cost facts (what Yosys
maps a bin to, the capacity floor, the family's port count) in its subclass
:class:`bitscale.cost_model.packing.PackingPlan`. The classes live here because hw/ may import only nn/
and hw/ (issue #17's layering: nn -> hw -> boards | sim | cost_model); cost_model/packing.py re-exports
them, so ``from bitscale.cost_model.packing import Item, PackingPlan`` keeps working.

Guaranteed: the classes are frozen and round-trip through JSON (:meth:`PackingPlan.to_json` /
:meth:`PackingPlan.from_json`, format ``bitscale.PackingPlan``; plans without the later placement
fields read with their defaults); :meth:`PackingPlan.validate_layout` raises ValueError unless every
column of every word of every item is placed exactly once (whole, or parts in different bins: column
parts, and depth parts as row bands of column parts), inside its bin, without overlap, on a
conflict-free port schedule (so cycles/frame are unchanged); :func:`check_memories` raises UserError
unless every item names a memory of the design with the hardware's depth and read period.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from bitscale.errors import UserError

FORMAT = "bitscale.PackingPlan"


@dataclass(frozen=True)
class Item:
    """One read-only memory to place."""

    name: str  # "<layer>.weights" / "<layer>.params"
    layer: str
    role: str  # weights | params
    width: int  # bits read per word (live columns)
    depth: int
    period: int  # at least this many cycles between two distinct words at full throughput
    units: int  # its own block-RAM count (unpacked)

    @property
    def bits(self) -> int:
        return self.width * self.depth


@dataclass(frozen=True)
class Written:
    """A written memory (a layer's input buffer, or a dense layer's input FIFO) the plan builds in LUT RAM
    instead of block RAM: it frees ``units`` block RAMs for ``luts`` LUTs (the cost model's LUT-RAM / FIFO
    term). Same read/write ports and latency (a synchronous read: Yosys adds the output register), so
    cycles/frame are unchanged."""

    name: str  # "<layer>.inbuf" | "<layer>.fifo"
    width: int
    depth: int
    units: int  # its block RAMs unpacked
    luts: int  # the LUTs it takes in LUT RAM (cost model)


@dataclass(frozen=True)
class Placement:
    item: str
    x: int  # first bit column in the bin word
    y: int  # first row
    slices: int  # depth slices side by side (item rows = min(depth, slice rows))
    port: int
    slot: int  # its slot in the port's round-robin (0 .. slots-1)
    rows_per_word: int = 1  # k: a word stored as k rows of ceil(width/k) bits, read in k slots
    slice_rows: int = 0  # rows of one depth slice (0: the bin depth): a slice may fill the rows under another item
    col0: int = 0  # a part of the item: its stored columns col0 .. col0+ncols-1 (the rest in other bins)
    ncols: int = 0  # 0: all the item's columns
    row0: int = 0  # a depth part of the item: its words row0 .. row0+nrows-1 (the others in other bins)
    nrows: int = 0  # 0: all the item's words

    def part_width(self, it: "Item") -> int:
        return self.ncols or it.width

    def part_rows(self, it: "Item") -> int:
        """The item's words this placement holds (all of them unless it is a depth part)."""
        return self.nrows or it.depth

    def is_depth_part(self, it: "Item") -> bool:
        return self.part_rows(it) != it.depth

    def slice_height(self, bin_depth: int) -> int:
        return self.slice_rows or bin_depth

    def is_part(self, it: "Item") -> bool:
        return self.part_width(it) != it.width

    def shape(self, it: "Item", bin_depth: int) -> tuple[int, int, int]:
        """(rectangle width, rectangle rows, slices) of item ``it`` (or its part) in a bin ``bin_depth`` deep."""
        k = self.rows_per_word
        rows = self.part_rows(it) * k
        h = self.slice_height(bin_depth)
        slices = -(-rows // h)
        return -(-self.part_width(it) // k) * slices, min(rows, h), slices


@dataclass(frozen=True)
class Bin:
    primitive: str  # the configuration Yosys uses, e.g. "RAMB18E1 1024x18"
    width: int
    depth: int
    ports: int
    slots: tuple[int, ...]  # K per port
    units: int
    placements: tuple[Placement, ...]


def is_plain(b: Bin) -> bool:
    """One memory mapped as it is today (one port, one row per word, whole, slices of the bin's depth): the
    layer keeps its own memory."""
    if len(b.placements) != 1:
        return False
    p = b.placements[0]
    return (
        p.rows_per_word == 1
        and p.ncols == 0
        and p.col0 == 0
        and p.nrows == 0
        and p.row0 == 0
        and p.y == 0
        and p.slice_rows in (0, b.depth)
    )


@dataclass(frozen=True)
class PackingPlan:
    family: str
    bram_kind: str
    items: tuple[Item, ...]
    bins: tuple[Bin, ...]
    solver: str  # "ilp" | "heuristic" | "none"
    seconds: float = 0.0
    notes: tuple[str, ...] = field(default=())
    lutram: tuple[Written, ...] = field(default=())  # written memories built in LUT RAM (not block RAM)

    @property
    def packed(self) -> int:
        return sum(b.units for b in self.bins)

    @property
    def unpacked(self) -> int:
        return sum(i.units for i in self.items)

    @property
    def bits(self) -> int:
        return sum(i.bits for i in self.items)

    @property
    def lutram_units(self) -> int:
        """Block RAMs the written memories moved to LUT RAM took."""
        return sum(w.units for w in self.lutram)

    @property
    def lutram_luts(self) -> int:
        return sum(w.luts for w in self.lutram)

    @property
    def saving(self) -> int:
        """Block RAMs the plan saves on the whole design: the read-only memories packed, the written ones in
        LUT RAM."""
        return self.unpacked - self.packed + self.lutram_units

    def item(self, name: str) -> Item:
        return next(i for i in self.items if i.name == name)

    def bin_of(self, name: str) -> tuple[int, Placement]:
        for k, b in enumerate(self.bins):
            for p in b.placements:
                if p.item == name:
                    return k, p
        raise KeyError(name)

    def validate_layout(self) -> None:
        """Raise ValueError unless every item is placed once, inside its bin, without overlap, on a
        conflict-free port schedule (so cycles/frame are unchanged) and the plan saves units. What Yosys
        maps a bin to and the family's port count are cost_model/packing.py's checks (``validate``)."""
        names = [i.name for i in self.items]
        placed = sorted({p.item for b in self.bins for p in b.placements})
        if sorted(names) != placed or len(set(names)) != len(names):
            raise ValueError(f"items placed {placed} != items {sorted(names)}")
        for it in self.items:  # an item whole, or parts covering each of its bits exactly once
            check_parts(
                it,
                [
                    (p.col0, p.part_width(it), p.row0, p.part_rows(it))
                    for b in self.bins
                    for p in b.placements
                    if p.item == it.name
                ],
            )
        for b in self.bins:
            if b.ports < 1 or len(b.slots) != b.ports:
                raise ValueError(f"bin {b.primitive}: {b.ports} ports")
            rects = []
            if len({p.item for p in b.placements}) != len(b.placements):
                raise ValueError(f"bin {b.primitive}: two parts of one item")
            for p in b.placements:
                it = self.item(p.item)
                w, h, slices = p.shape(it, b.depth)
                if (
                    p.slices != slices
                    or p.rows_per_word < 1
                    or p.x < 0
                    or p.y < 0
                    or p.x + w > b.width
                    or p.y + h > b.depth
                ):
                    raise ValueError(f"{p.item} does not fit its bin {b.primitive} {b.width}x{b.depth}")
                if not 0 <= p.slice_rows <= b.depth:
                    raise ValueError(f"{p.item}: slices of {p.slice_rows} rows in a bin {b.depth} deep")
                if not 0 <= p.port < b.ports or not 0 <= p.slot < b.slots[p.port]:
                    raise ValueError(f"{p.item}: port {p.port} slot {p.slot} out of range")
                if it.period < b.slots[p.port] * p.rows_per_word:
                    raise ValueError(
                        f"{p.item} reads a word every {it.period} cycles but its port is shared "
                        f"{b.slots[p.port]} ways and a word takes {p.rows_per_word} reads: "
                        f"cycles/frame would change"
                    )
                rects.append((p.x, p.y, w, h, p.item))
            for k, (x, y, w, h, n) in enumerate(rects):
                for x2, y2, w2, h2, n2 in rects[k + 1 :]:
                    if x < x2 + w2 and x2 < x + w and y < y2 + h2 and y2 < y + h:
                        raise ValueError(f"{n} and {n2} overlap in bin {b.primitive}")
            for port in range(b.ports):
                slots = sorted(p.slot for p in b.placements if p.port == port)
                if slots != list(range(b.slots[port])):
                    raise ValueError(f"bin {b.primitive} port {port}: slots {slots}")
        if self.packed > self.unpacked:
            raise ValueError(f"packed {self.packed} > unpacked {self.unpacked}")
        moved = [w.name for w in self.lutram]
        if len(set(moved)) != len(moved) or any(not n.endswith((".inbuf", ".fifo")) for n in moved):
            raise ValueError(f"LUT-RAM memories {moved}: each a distinct <layer>.inbuf or <layer>.fifo")

    def summary(self) -> dict:
        """The "summary" of the JSON document (cost_model/packing.py's subclass adds its cost facts)."""
        return {
            "packed": self.packed,
            "unpacked": self.unpacked,
            "bits": self.bits,
            "lutram_units": self.lutram_units,
            "lutram_luts": self.lutram_luts,
            "saving": self.saving,
        }

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "family": self.family,
            "bram_kind": self.bram_kind,
            "solver": self.solver,
            "seconds": self.seconds,
            "notes": list(self.notes),
            "items": [asdict(i) for i in self.items],
            "bins": [
                {**asdict(b), "slots": list(b.slots), "placements": [asdict(p) for p in b.placements]}
                for b in self.bins
            ],
            "lutram": [asdict(w) for w in self.lutram],
            "summary": self.summary(),
        }

    @classmethod
    def from_json(cls, doc: dict):
        if doc.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} document (format {doc.get('format')!r})")
        bins = tuple(
            Bin(
                b["primitive"],
                b["width"],
                b["depth"],
                b["ports"],
                tuple(b["slots"]),
                b["units"],
                tuple(Placement(**p) for p in b["placements"]),
            )
            for b in doc["bins"]
        )
        return cls(
            doc["family"],
            doc["bram_kind"],
            tuple(Item(**i) for i in doc["items"]),
            bins,
            doc["solver"],
            doc.get("seconds", 0.0),
            tuple(doc.get("notes", ())),
            tuple(Written(**w) for w in doc.get("lutram", ())),
        )


def bands(parts: list[tuple[int, int, int, int]]) -> list[tuple[int, int]]:
    """The row bands (row0, nrows) of an item's parts (col0, ncols, row0, nrows), in order."""
    return sorted({(r0, n) for _, _, r0, n in parts})


def check_parts(it: Item, parts: list[tuple[int, int, int, int]]) -> None:
    """ValueError unless the parts (col0, ncols, row0, nrows) of item ``it`` cover each of its columns in each
    of its words exactly once, as row bands (depth parts: words row0 .. row0+nrows-1, read from their bin while
    the layer's address is in that band) each split into column parts (hw/top.py joins a band's columns)."""
    bs = bands(parts)
    end = 0
    for r0, n in bs:
        if r0 != end or n < 1:
            raise ValueError(f"{it.name}: depth parts {bs} do not cover its {it.depth} words once")
        end = r0 + n
    if end != it.depth:
        raise ValueError(f"{it.name}: depth parts {bs} do not cover its {it.depth} words once")
    for band in bs:
        cols = sorted((c0, nc) for c0, nc, r0, n in parts if (r0, n) == band)
        end = 0
        for c0, nc in cols:
            if c0 != end or nc < 1:
                raise ValueError(f"{it.name}: parts {cols} do not cover its {it.width} columns once")
            end = c0 + nc
        if end != it.width:
            raise ValueError(f"{it.name}: parts {cols} do not cover its {it.width} columns once")


def check_memories(
    plan: PackingPlan, memories: dict[str, tuple[int, int, int]], written: dict[str, tuple[int, int]] | None = None
) -> None:
    """UserError unless ``plan``'s layout is valid and every item names one of ``memories`` (name ->
    (width, depth, read period), as the hardware builds them) with that depth and period and at most that
    width, and every LUT-RAM memory one of ``written`` (name -> (width, depth)) with that shape: a plan made
    for another folding could change cycles/frame or read the wrong words."""
    try:
        plan.validate_layout()
    except ValueError as e:
        raise UserError(f"packing plan rejected: {e}") from None
    bad = sorted(
        i.name
        for i in plan.items
        if i.name not in memories or (i.depth, i.period) != memories[i.name][1:] or i.width > memories[i.name][0]
    )
    written = written or {}
    bad += sorted(w.name for w in plan.lutram if written.get(w.name) != (w.width, w.depth))
    if bad:
        raise UserError(f"packing plan rejected: it is not this design's (memories differ: {', '.join(bad)})")
