# pyright: reportGeneralTypeIssues=false
# (Amaranth's m.If/m.Elif/m.Else: hw/amaranth_types.py)
"""Data-width converter: a stream of ``in_lanes``-element words to ``out_lanes``-element words.

Elements keep their order (lane 0 first) and their ``bits``. Guaranteed:
for every stream whose length in elements is a multiple of
lcm(in_lanes, out_lanes), the output is the same element sequence regrouped;
one word per cycle in steady state on the wider side's terms (an up-converter
takes one input word a cycle, a down-converter gives one output word a
cycle). Ratios that are not whole numbers go through lcm(in, out) lanes.
"""

from __future__ import annotations

import math

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from bitscale.hw.amaranth_types import stream_signature


class DWC(wiring.Component):
    inp: stream.Interface  # signature members, created by wiring.Component.__init__
    out: stream.Interface

    def __init__(self, in_lanes: int, out_lanes: int, bits: int):
        for what, v in (("in_lanes", in_lanes), ("out_lanes", out_lanes), ("bits", bits)):
            if v < 1:
                raise ValueError(f"{what} must be >= 1, not {v!r}")
        self.in_lanes, self.out_lanes, self.bits = in_lanes, out_lanes, bits
        super().__init__({"inp": In(stream_signature(in_lanes * bits)), "out": Out(stream_signature(out_lanes * bits))})

    def elaborate(self, platform):
        m = Module()
        i, o, b = self.in_lanes, self.out_lanes, self.bits
        if i == o:
            wiring.connect(m, wiring.flipped(self.inp), wiring.flipped(self.out))
        elif o % i == 0:
            self._up(m, o // i)
        elif i % o == 0:
            self._down(m, i // o)
        else:
            mid = i * o // math.gcd(i, o)
            m.submodules.up = up = DWC(i, mid, b)
            m.submodules.down = down = DWC(mid, o, b)
            wiring.connect(m, wiring.flipped(self.inp), up.inp)
            wiring.connect(m, up.out, down.inp)
            wiring.connect(m, down.out, wiring.flipped(self.out))
        return m

    def _up(self, m, k):
        """Collect k input words (the first lands lowest), then emit them as one word."""
        iw = self.in_lanes * self.bits
        parts = Signal((k - 1) * iw)  # the first k-1 words of the group, in order
        count = Signal(range(k))
        out_valid = Signal()
        out_data = Signal(k * iw)
        can_emit = ~out_valid | self.out.ready
        m.d.comb += [
            self.inp.ready.eq((count != k - 1) | can_emit),
            self.out.valid.eq(out_valid),
            self.out.payload.eq(out_data),
        ]
        with m.If(self.out.valid & self.out.ready):
            m.d.sync += out_valid.eq(0)
        with m.If(self.inp.valid & self.inp.ready):
            with m.If(count == k - 1):
                m.d.sync += [out_data.eq(Cat(parts, self.inp.payload)), out_valid.eq(1), count.eq(0)]
            with m.Else():
                m.d.sync += [
                    parts.eq(Cat(parts[iw:], self.inp.payload) if k > 2 else self.inp.payload),
                    count.eq(count + 1),
                ]

    def _down(self, m, k):
        """Hold one input word and emit its k parts, lowest first."""
        ow = self.out_lanes * self.bits
        hold = Signal(k * ow)
        full = Signal()
        idx = Signal(range(k))
        last = idx == k - 1
        m.d.comb += [
            self.out.valid.eq(full),
            self.out.payload.eq(hold.word_select(idx, ow)),
            self.inp.ready.eq(~full | (self.out.ready & last)),
        ]
        with m.If(self.out.valid & self.out.ready):
            m.d.sync += idx.eq(Mux(last, 0, idx + 1))
            with m.If(last):
                m.d.sync += full.eq(0)
        with m.If(self.inp.valid & self.inp.ready):
            m.d.sync += [hold.eq(self.inp.payload), full.eq(1), idx.eq(0)]
