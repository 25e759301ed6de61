# pyright: reportGeneralTypeIssues=false
# (Amaranth's m.If/m.Elif/m.Else: hw/amaranth_types.py)
"""A stream FIFO: amaranth.lib.fifo.SyncFIFOBuffered behind stream ports.

Guaranteed: words come out in the order they went in; ``inp.ready`` depends
only on the FIFO's fill level (it breaks combinational ready chains between
layers); ``out.valid`` and ``out.payload`` come from an output register behind
the FIFO (so a block RAM's slow data out only ever feeds that register; one
word more of capacity, one cycle more of latency). Deep FIFOs use a Memory, so
Yosys may map them to block RAM.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from bitscale.hw.amaranth_types import stream_signature


class StreamFIFO(wiring.Component):
    inp: stream.Interface  # signature members, created by wiring.Component.__init__
    out: stream.Interface

    def __init__(self, width: int, depth: int):
        if width < 1:
            raise ValueError(f"FIFO width must be >= 1, not {width!r}")
        if depth < 2:
            raise ValueError(f"FIFO depth must be >= 2, not {depth!r}")
        self.width, self.depth = width, depth
        super().__init__({"inp": In(stream_signature(width)), "out": Out(stream_signature(width))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=self.width, depth=self.depth)
        wiring.connect(m, wiring.flipped(self.inp), fifo.w_stream)
        # output register: the FIFO memory's read data (a block RAM's data out, whose clock-to-out
        # takes most of a cycle on ECP5) goes straight into a register, never into the consumer's logic
        valid = Signal()
        data = Signal(self.width)
        take = ~valid | self.out.ready
        m.d.comb += fifo.r_en.eq(take)
        with m.If(take):
            m.d.sync += [valid.eq(fifo.r_rdy), data.eq(fifo.r_data)]
        m.d.comb += [self.out.valid.eq(valid), self.out.payload.eq(data)]
        return m
