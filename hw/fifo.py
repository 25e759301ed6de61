# pyright: reportGeneralTypeIssues=false
# (Amaranth's m.If/m.Elif/m.Else: hw/amaranth_types.py)
"""A stream FIFO: a buffered synchronous FIFO (one memory, synchronous read) behind stream ports.

Guaranteed: words come out in the order they went in; ``inp.ready`` depends
only on the FIFO's fill level (it breaks combinational ready chains between
layers); ``out.valid`` and ``out.payload`` come from an output register behind
the FIFO (so a block RAM's slow data out only ever feeds that register; one
word more of capacity, one cycle more of latency). Deep FIFOs use a Memory, so
Yosys may map them to block RAM.

The FIFO is :class:`BufferedFIFO`, cycle for cycle amaranth.lib.fifo.SyncFIFOBuffered (depth - 1
words in the memory, one in the read register), but its memory carries ``no_rw_check``: the read
port never reads the word being written in the same cycle (the memory is full then, and a full
FIFO takes no write), so Yosys need not build its read-during-write bypass behind the block RAM
(a LUT between the DP16KD's 5.8 ns clock-to-out and the output register: the critical path of
TFC w2a2 on ECP5, bench/fmax.py).
"""

from __future__ import annotations

from amaranth.hdl import Elaboratable, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from bitscale.hw.amaranth_types import read_port, stream_signature, write_port


def _incr(s: Signal, modulo: int):
    """``s + 1`` modulo ``modulo`` (as amaranth.lib.fifo does it: a plain increment for a power of two)."""
    return s + 1 if modulo == 1 << len(s) else Mux(s == modulo - 1, 0, s + 1)


class BufferedFIFO(Elaboratable):
    """Synchronous FIFO with a registered read (SyncFIFOBuffered's interface and timing:
    ``w_data``/``w_en``/``w_rdy``, ``r_data``/``r_en``/``r_rdy``, ``level``)."""

    def __init__(self, *, width: int, depth: int, lutram: bool = False):
        if depth < 2:
            raise ValueError(f"BufferedFIFO depth must be >= 2, not {depth!r}")
        self.width, self.depth = width, depth
        self.lutram = lutram  # its memory in LUT RAM (a packing plan's hw/packing_plan.Written); else Yosys decides
        self.w_data = Signal(width)
        self.w_en = Signal()
        self.w_rdy = Signal()
        self.r_data = Signal(width)
        self.r_en = Signal()
        self.r_rdy = Signal()
        self.level = Signal(range(depth + 1))

    def elaborate(self, platform):
        m = Module()
        inner = self.depth - 1
        inner_level = Signal(range(inner + 1))
        # w_rdy = (inner_level != inner) and inner_rdy = (inner_level != 0), kept as registers loaded with
        # the values for the next level (the same bits every cycle): no level comparison sits in the
        # ready chains that run through a FIFO's neighbours (ECP5: the critical path of TFC w2a2 once the
        # block RAM reads were registered, bench/fmax.py)
        w_rdy_r = Signal(init=1)
        inner_rdy = Signal()
        do_write = w_rdy_r & self.w_en
        m.d.comb += self.w_rdy.eq(w_rdy_r)
        do_read = inner_rdy & (~self.r_rdy | self.r_en)
        with m.If(do_write & ~do_read):
            m.d.sync += [w_rdy_r.eq(inner_level != inner - 1), inner_rdy.eq(1)]
        with m.If(do_read & ~do_write):
            m.d.sync += [w_rdy_r.eq(1), inner_rdy.eq(inner_level != 1)]

        # no_rw_check: a read and a write at one address in one cycle needs produce == consume with
        # words stored, i.e. a full memory, which takes no write (w_rdy is low)
        attrs = {"no_rw_check": 1, **({"ram_style": "distributed"} if self.lutram else {})}
        storage = m.submodules.storage = Memory(shape=self.width, depth=inner, init=[], attrs=attrs)
        wp = write_port(storage)
        rp = read_port(storage)
        produce = Signal(range(inner))
        consume = Signal(range(inner))
        m.d.comb += [wp.addr.eq(produce), wp.data.eq(self.w_data), wp.en.eq(do_write)]
        m.d.comb += [rp.addr.eq(consume), self.r_data.eq(rp.data), rp.en.eq(do_read)]
        with m.If(do_write):
            m.d.sync += produce.eq(_incr(produce, inner))
        with m.If(do_read):
            m.d.sync += consume.eq(_incr(consume, inner))
        with m.If(do_write & ~do_read):
            m.d.sync += inner_level.eq(inner_level + 1)
        with m.If(do_read & ~do_write):
            m.d.sync += inner_level.eq(inner_level - 1)
        with m.If(do_read):
            m.d.sync += self.r_rdy.eq(1)
        with m.Elif(self.r_en):
            m.d.sync += self.r_rdy.eq(0)
        m.d.comb += self.level.eq(inner_level + self.r_rdy)
        return m


class StreamFIFO(wiring.Component):
    inp: stream.Interface  # signature members, created by wiring.Component.__init__
    out: stream.Interface

    def __init__(self, width: int, depth: int, *, lutram: bool = False):
        if width < 1:
            raise ValueError(f"FIFO width must be >= 1, not {width!r}")
        if depth < 2:
            raise ValueError(f"FIFO depth must be >= 2, not {depth!r}")
        self.width, self.depth = width, depth
        self.lutram = lutram  # generate --pack: the memory in LUT RAM (hw/packing_plan.Written)
        super().__init__({"inp": In(stream_signature(width)), "out": Out(stream_signature(width))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = fifo = BufferedFIFO(width=self.width, depth=self.depth, lutram=self.lutram)
        m.d.comb += [fifo.w_data.eq(self.inp.payload), fifo.w_en.eq(self.inp.valid), self.inp.ready.eq(fifo.w_rdy)]
        # output register: the FIFO memory's read data (a block RAM's data out, whose clock-to-out
        # takes most of a cycle on ECP5) goes straight into a register, never into the consumer's logic
        valid = Signal()
        # (with a reset: Yosys would otherwise merge this register into the block RAM's read port, since
        # no_rw_check lets it move the port's own register to the address, and the consumer's logic would
        # sit behind the block RAM again)
        data = Signal(self.width)
        take = ~valid | self.out.ready
        m.d.comb += fifo.r_en.eq(take)
        with m.If(take):
            m.d.sync += [valid.eq(fifo.r_rdy), data.eq(fifo.r_data)]
        m.d.comb += [self.out.valid.eq(valid), self.out.payload.eq(data)]
        return m
