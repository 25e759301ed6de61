# pyright: reportGeneralTypeIssues=false
# (Amaranth's m.If/m.Elif/m.Else: hw/amaranth_types.py)
"""A stream FIFO: amaranth.lib.fifo.SyncFIFOBuffered behind stream ports.

Guaranteed: words come out in the order they went in; ``inp.ready`` depends
only on the FIFO's fill level (it breaks combinational ready chains between
layers); ``out.valid`` comes from a register. Deep FIFOs use a Memory, so
Yosys may map them to block RAM.
"""
from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from bitscale.hw.amaranth_types import stream_signature


class StreamFIFO(wiring.Component):
    inp: stream.Interface         # signature members, created by wiring.Component.__init__
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
        wiring.connect(m, fifo.r_stream, wiring.flipped(self.out))
        return m
