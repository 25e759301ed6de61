# pyright: reportGeneralTypeIssues=false
# (Amaranth's m.If/m.Elif/m.Else: hw/amaranth_types.py)
"""One packing bin (cost_model/packing.py) in hardware: a shared block ROM with one or two read ports,
each port serving its items directly or through a static round-robin arbiter.

The bin is ONE Amaranth memory of ``bin.width x bin.depth`` bits (``ram_style = "block"``), so Yosys
maps exactly the primitives the plan counts (packing.bin_units). Item ``i`` lives at columns
``x .. x + width*slices`` and rows ``y .. y + min(depth, h)``; an item deeper than its slice height
``h`` (``slice_rows``, else the bin's depth: any height, e.g. the rows under another item) is cut into
depth slices side by side (word ``a`` is row ``y + a mod h``, slice ``a div h``; row and slice are
counters, since every item is read in order). Only the plan's ``width`` columns of an item are stored
(its non-constant columns first): the constant columns of its declared word are wired (Yosys drops
them from a private ROM the same way). A placement may hold a part of an item (its stored columns
``col0 .. col0+ncols-1``): ``data_<k>`` is then those stored columns, and hw/top.py joins the parts
of the item's bins (all stepped together; ready when every part is).

Every item is read in its fixed order 0, 1, .., depth-1, 0, ... (the MVTU's weight address and its
row-fold counter), so its consumer interface is address-free:

* ``en_<k>`` (in): load the output register ``data_<k>`` with the current word (the read enable the
  MVTU gives its own memory: ``adv``);
* ``step_<k>`` (in): after this cycle, the current word is the next one;
* ``data_<k>`` (out): the registered word, the item's full declared width;
* ``ready_<k>`` (out): the current word is available (the MVTU issues only then).

A port with one item stored one row per word is a plain read port addressed by a counter: ``ready``
is always 1. Otherwise the port runs a free-running slot counter (``t mod K``, K items); in its slot
an item whose two-word prefetch buffer (counting a word landing, and a word leaving this cycle) has
room reads the next row of its next word; a word stored as k rows (``rows_per_word``) is assembled
from k reads in k of its slots and enters the buffer with its last row. The plan allows this only
for items with ``period >= K*k`` (at least ``period`` cycles between two steps), and then ``ready``
never drops once the first word is in: after a step at cycle a, the following word is already
buffered, and the refill started in the item's next slot (<= a + K - 1) is in the buffer by
a + K*k <= a + period, i.e. before the next step. So the MVTU's cycles are those of a private memory
except the very first iteration after reset (which waits at most 2Kk + 2 cycles for the first word);
tests/test_hw_packed_memory.py checks both under random stalls against a numpy model.

A depth part (``row0``, ``nrows``: words row0 .. row0+nrows-1 of an item, its other words in other bins)
is to the bin an item of ``nrows`` words read in order: hw/top.py enables and steps it only while the
layer's word address is in its band, so it reads (and prefetches) its words in order and wraps to its
first word for the next pass; the proof above holds for it unchanged (it is stepped at most once every
``period`` cycles), and its buffer is full when the layer reaches its band, having been refilled since
the band's last pass.

Guaranteed: ``data_<k>`` after an ``en_<k>`` cycle equals the item's word at its current position,
for any en/step pattern that steps only when ready.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, Value, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from bitscale.hw.amaranth_types import read_port


def stored_columns(words: list[int], declared: int, width: int) -> list[int]:
    """The ``width`` declared columns an item stores: its non-constant ones first, then constant ones."""
    first = words[0] if words else 0
    live = [c for c in range(declared) if any(((w ^ first) >> c) & 1 for w in words)]
    if len(live) > width:
        raise ValueError(f"an item with {len(live)} non-constant columns cannot be stored {width} wide")
    rest = [c for c in range(declared) if c not in set(live)]
    return sorted(live + rest[: width - len(live)])


class PackedMemory(wiring.Component):
    """The bin ``bin_`` (packing.Bin) holding ``items`` (name -> (packing.Item, declared width, words))."""

    def __init__(self, bin_, items: dict):
        self.bin = bin_
        self.names = [p.item for p in bin_.placements]
        self.items = items
        self.cols = {}
        for p in bin_.placements:
            it, declared, words = items[p.item]
            if len(words) != it.depth:
                raise ValueError(f"{p.item}: {len(words)} words for depth {it.depth}")
            self.cols[p.item] = stored_columns(words, declared, it.width)
        members = {}
        for k, p in enumerate(bin_.placements):
            it = items[p.item][0]
            members[f"en_{k}"] = In(1)
            members[f"step_{k}"] = In(1)
            members[f"ready_{k}"] = Out(1)
            # a whole item: its declared word; a part: its stored columns col0 .. col0+ncols-1 (hw/top.py joins them)
            members[f"data_{k}"] = Out(p.part_width(it) if p.is_part(it) else items[p.item][1])
        super().__init__(members)

    def part_columns(self, p) -> list[int]:
        """The declared columns placement ``p`` stores, in order (all the item's stored ones when whole)."""
        it = self.items[p.item][0]
        return self.cols[p.item][p.col0 : p.col0 + p.part_width(it)]

    def index(self, name: str) -> int:
        return self.names.index(name)

    def rows(self) -> list[int]:
        """The bin's initial contents, one int per row."""
        b = self.bin
        rows = [0] * b.depth
        for p in b.placements:
            it, declared, words = self.items[p.item]
            cols = self.part_columns(p)
            kk = p.rows_per_word
            wk = -(-len(cols) // kk)
            h = p.slice_height(b.depth)
            for a, w in enumerate(words[p.row0 : p.row0 + p.part_rows(it)]):  # a depth part: its words
                stored = 0
                for j, c in enumerate(cols):
                    stored |= ((w >> c) & 1) << j
                for r in range(kk):  # a word is kk rows of wk bits (sub-row a*kk + r)
                    idx = a * kk + r
                    row, sl = p.y + idx % h, idx // h
                    rows[row] |= ((stored >> (r * wk)) & ((1 << wk) - 1)) << (p.x + sl * wk)
        return rows

    def _expand(self, p, stored):
        """The declared word from the stored columns (constant columns wired); a part's stored columns as they are."""
        it, declared, words = self.items[p.item]
        if p.is_part(it):
            return stored
        return self.expand(p.item, stored)

    def expand(self, name: str, stored):
        """Item ``name``'s declared word from all its stored columns (in order; constant columns wired)."""
        it, declared, words = self.items[name]
        cols = self.cols[name]
        if cols == list(range(declared)):
            return stored
        first = words[0] if words else 0
        pos = {c: j for j, c in enumerate(cols)}
        return Cat(*[stored[pos[c]] if c in pos else Const((first >> c) & 1, 1) for c in range(declared)])

    def _walker(self, m, p, name: str, advance, nrows: int):
        """(row, slice) of the next sub-row of placement ``p`` (0 .. nrows-1, wrapping), moved on by
        ``advance``: counters, as an item is read in order (slices of ``p.slice_height`` rows: any height)."""
        b = self.bin
        h = p.slice_height(b.depth)
        idx = Signal(range(max(nrows, 2)), name=f"{name}")
        last = idx == nrows - 1
        with m.If(advance):
            m.d.sync += idx.eq(Mux(last, 0, idx + 1))
        if p.slices == 1:
            return p.y + idx, Const(0, 1)
        r = Signal(range(max(h, 2)), name=f"{name}_row")
        sl = Signal(range(max(p.slices, 2)), name=f"{name}_slice")
        with m.If(advance):
            with m.If(last):
                m.d.sync += [r.eq(0), sl.eq(0)]
            with m.Elif(r == h - 1):
                m.d.sync += [r.eq(0), sl.eq(sl + 1)]
            with m.Else():
                m.d.sync += r.eq(r + 1)
        return p.y + r, sl

    def _column(self, p, data, sl):
        """The stored bits of placement ``p`` (one row: ceil(width/k) of them) in bin row ``data``, slice ``sl``."""
        it = self.items[p.item][0]
        wk = -(-p.part_width(it) // p.rows_per_word)
        field = Value.cast(data)[p.x : p.x + wk * p.slices]
        return field.word_select(sl, wk) if p.slices > 1 else field

    def elaborate(self, platform):
        m = Module()
        b = self.bin
        mem = Memory(shape=unsigned(b.width), depth=b.depth, init=self.rows(), attrs={"ram_style": "block"})
        m.submodules.mem = mem
        for port in range(b.ports):
            rd = read_port(mem)
            on_port = sorted((p for p in b.placements if p.port == port), key=lambda p: p.slot)
            K = b.slots[port]

            if K == 1 and on_port[0].rows_per_word == 1:
                p = on_port[0]
                k = self.index(p.item)
                it = self.items[p.item][0]
                row, sl = self._walker(m, p, f"cur_{k}", getattr(self, f"step_{k}"), p.part_rows(it))
                sl_r = Signal(max(len(sl), 1), name=f"slice_{k}")
                with m.If(getattr(self, f"en_{k}")):
                    m.d.sync += sl_r.eq(sl)
                m.d.comb += [
                    rd.addr.eq(row),
                    rd.en.eq(getattr(self, f"en_{k}")),
                    getattr(self, f"ready_{k}").eq(1),
                    getattr(self, f"data_{k}").eq(self._expand(p, self._column(p, rd.data, sl_r))),
                ]
                continue

            # K >= 2 (or one item reading k > 1 rows per word): the static round-robin, slot t mod K to the
            # item with that slot; an item's word is k rows, read in k of its slots and assembled
            slot = Signal(range(max(K, 2)), name=f"slot_p{port}")
            if K > 1:
                m.d.sync += slot.eq(Mux(slot == K - 1, 0, slot + 1))
            rows_, sls = [], []
            landing = Signal(range(K + 1), init=K, name=f"landing_p{port}")  # whose read lands next cycle (K: none)
            land_sl = Signal(max(p.slices for p in on_port).bit_length() or 1, name=f"landing_slice_p{port}")
            reqs = []
            for p in on_port:
                k = self.index(p.item)
                it = self.items[p.item][0]
                pw = p.part_width(it)
                kk = p.rows_per_word
                wk = -(-pw // kk)
                sub = Signal(range(max(kk, 2)), name=f"sub_{k}")  # its row within the word
                land_sub = Signal(range(max(kk, 2)), name=f"land_sub_{k}")
                cnt = Signal(range(3), name=f"count_{k}")
                inflight = Signal(name=f"inflight_{k}")
                b0 = Signal(pw, name=f"buf0_{k}")
                b1 = Signal(pw, name=f"buf1_{k}")
                step, en = getattr(self, f"step_{k}"), getattr(self, f"en_{k}")
                req = Signal(name=f"req_{k}")
                # a new word only where the buffer (with the word landing and the one leaving) has room;
                # the rest of a word's rows follow in the item's next slots
                m.d.comb += req.eq((slot == p.slot) & ((sub != 0) | (cnt + inflight < 2 + step)))
                reqs.append(req)
                row, sl = self._walker(m, p, f"fetch_{k}", req, p.part_rows(it) * kk)
                rows_.append(row)
                sls.append(sl)
                with m.If(req):
                    m.d.sync += [sub.eq(Mux(sub == kk - 1, 0, sub + 1)), land_sub.eq(sub)]
                m.d.sync += inflight.eq(req & (sub == kk - 1))
                push = Signal(name=f"push_{k}")
                word_in = Signal(pw, name=f"word_in_{k}")
                row_in = self._column(p, rd.data, land_sl)
                if kk == 1:
                    m.d.comb += [push.eq(landing == p.slot), word_in.eq(row_in)]
                else:
                    asm = Signal(wk * (kk - 1), name=f"assemble_{k}")  # rows 0 .. k-2 of the word
                    with m.If((landing == p.slot) & (land_sub != kk - 1)):
                        m.d.sync += Value.cast(asm).word_select(land_sub, wk).eq(row_in)
                    m.d.comb += [
                        push.eq((landing == p.slot) & (land_sub == kk - 1)),
                        word_in.eq(Cat(asm, row_in)[:pw]),
                    ]
                with m.If(push & step):
                    with m.If(cnt == 1):
                        m.d.sync += b0.eq(word_in)
                    with m.Else():
                        m.d.sync += [b0.eq(b1), b1.eq(word_in)]
                with m.Elif(step):
                    m.d.sync += [b0.eq(b1), cnt.eq(cnt - 1)]
                with m.Elif(push):
                    with m.If(cnt == 0):
                        m.d.sync += b0.eq(word_in)
                    with m.Else():
                        m.d.sync += b1.eq(word_in)
                    m.d.sync += cnt.eq(cnt + 1)
                dreg = Signal(len(getattr(self, f"data_{k}")), name=f"dreg_{k}")
                with m.If(en):
                    m.d.sync += dreg.eq(self._expand(p, b0))
                m.d.comb += [getattr(self, f"ready_{k}").eq(cnt != 0), getattr(self, f"data_{k}").eq(dreg)]
            any_req = Signal(name=f"any_req_p{port}")
            m.d.comb += any_req.eq(Value.cast(Cat(*reqs)).any())
            rsel = Array(rows_)[slot]
            ssel = Array(s if len(s) else Const(0, 1) for s in sls)[slot]
            m.d.comb += [rd.addr.eq(rsel), rd.en.eq(1)]
            m.d.sync += [landing.eq(Mux(any_req, slot, K)), land_sl.eq(ssel)]
        return m
