# pyright: reportGeneralTypeIssues=false
# (Amaranth's m.If/m.Elif/m.Else: hw/amaranth_types.py)
"""Streaming max-pool over an HWC map: :class:`MaxPool` for kernel == stride (FINN CNV's 2x2/2),
:class:`WindowMax` behind a sliding-window generator for kernel != stride (2x2/1, 3x3/2).

MaxPool, KxK stride K:

Input and output: pixels in raster order, each as C/LANES words of LANES
elements (channels innermost). Rows/columns beyond the last whole window are
consumed and dropped (floor, like nn/golden.maxpool). The maximum is taken on
the stored codes: for unsigned activations that is the maximum value, for
bipolar bits (value 2b-1) it is the OR of the bits, which is the maximum of
the values. A row of partial maxima is kept in one memory (OW*C/LANES words);
one input word is accepted per cycle while the output can move.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from bitscale.hw.amaranth_types import lanes, read_port, stream_signature, write_port
from bitscale.hw.memstyle import memory_attrs


class MaxPool(wiring.Component):
    inp: stream.Interface  # signature members, created by wiring.Component.__init__
    out: stream.Interface

    def __init__(
        self, in_shape: tuple[int, ...], kernel: int, stride: int, lanes: int, bits: int, *, lut_ram: bool = True
    ):
        h, w, c = in_shape
        if kernel != stride or kernel < 1:
            raise ValueError(
                f"MaxPool: kernel must equal stride (top.py uses WindowMax otherwise), "
                f"not kernel={kernel!r} stride={stride!r}"
            )
        if c % lanes:
            raise ValueError(f"lanes must divide the channels C={c}, not {lanes!r}")
        self.h, self.w, self.c, self.k, self.lanes, self.bits = h, w, c, kernel, lanes, bits
        self.cf = c // lanes
        self.oh, self.ow = h // kernel, w // kernel
        self.lut_ram = lut_ram  # the family has LUT RAM (hw/memstyle.py memory_attrs)
        super().__init__({"inp": In(stream_signature(lanes * bits)), "out": Out(stream_signature(lanes * bits))})

    def elaborate(self, platform):
        m = Module()
        K, CF, L, B = self.k, self.cf, self.lanes, self.bits
        width = L * B
        depth = self.ow * CF

        # position of the incoming word
        y, x, cf = Signal(range(self.h)), Signal(range(self.w)), Signal(range(CF))
        ky, kx = Signal(range(K)), Signal(range(K))  # y % K, x % K
        ox = Signal(range(self.ow + 1))  # x // K
        oy = Signal(range(self.oh + 1))  # y // K

        mem = Memory(
            shape=unsigned(width), depth=depth, init=[], attrs=memory_attrs(width, depth, "pool", lut_ram=self.lut_ram)
        )  # async read: LUT RAM
        m.submodules.partial = mem
        wp = write_port(mem)
        rp = read_port(mem, domain="comb")

        out_valid = Signal()
        out_data = Signal(width)
        adv = Signal()
        accepted = Signal()
        m.d.comb += [
            adv.eq(~out_valid | self.out.ready),
            self.inp.ready.eq(adv),
            accepted.eq(self.inp.valid & adv),
        ]

        inside = (oy < self.oh) & (ox < self.ow)
        first = (ky == 0) & (kx == 0)
        final = (ky == K - 1) & (kx == K - 1)
        addr = Signal(range(max(depth, 2)))
        m.d.comb += [rp.addr.eq(addr), wp.addr.eq(addr)]

        lanes_max = []
        for a, b in zip(lanes(self.inp.payload, B, L), lanes(rp.data, B, L)):
            lanes_max.append(Mux(first, a, Mux(a > b, a, b)))
        merged = Signal(width)
        m.d.comb += merged.eq(Cat(*lanes_max))

        m.d.comb += [wp.data.eq(merged), wp.en.eq(accepted & inside & ~final)]
        with m.If(adv):
            m.d.sync += out_valid.eq(accepted & inside & final)
            m.d.sync += out_data.eq(merged)
        m.d.comb += [self.out.valid.eq(out_valid), self.out.payload.eq(out_data)]

        # advance the position
        with m.If(accepted):
            m.d.sync += cf.eq(Mux(cf == CF - 1, 0, cf + 1))
            # addr = ox*CF + cf as a counter (no multiplier): +1 a word, back to the row's
            # start after a partial window column, 0 at the end of a row
            with m.If((cf == CF - 1) & (x == self.w - 1)):
                m.d.sync += addr.eq(0)
            with m.Elif((cf == CF - 1) & (kx != K - 1)):
                m.d.sync += addr.eq(addr - (CF - 1))
            with m.Else():
                m.d.sync += addr.eq(addr + 1)
            with m.If(cf == CF - 1):
                with m.If(x == self.w - 1):
                    m.d.sync += [x.eq(0), kx.eq(0), ox.eq(0)]
                    with m.If(y == self.h - 1):
                        m.d.sync += [y.eq(0), ky.eq(0), oy.eq(0)]
                    with m.Else():
                        m.d.sync += [
                            y.eq(y + 1),
                            ky.eq(Mux(ky == K - 1, 0, ky + 1)),
                            oy.eq(Mux(ky == K - 1, oy + 1, oy)),
                        ]
                with m.Else():
                    m.d.sync += [x.eq(x + 1), kx.eq(Mux(kx == K - 1, 0, kx + 1)), ox.eq(Mux(kx == K - 1, ox + 1, ox))]
        return m


class WindowMax(wiring.Component):
    """Max over each window of a sliding-window stream: the max-pool with kernel != stride.

    Input: the (ky, kx, c) window words of hw/swg.SlidingWindow (K*K*CF words per output pixel,
    LANES elements a word). Output: per output pixel CF words, the lane-wise maximum over the
    K*K taps (stored codes, as :class:`MaxPool`: unsigned max, bipolar OR). One input word is
    accepted per cycle while the output can move; CF partial maxima live in a small LUT memory.
    """

    inp: stream.Interface  # signature members, created by wiring.Component.__init__
    out: stream.Interface

    def __init__(self, kernel: int, channels: int, lanes: int, bits: int, *, lut_ram: bool = True):
        if channels % lanes:
            raise ValueError(f"lanes must divide the channels C={channels}, not {lanes!r}")
        self.k, self.c, self.lanes, self.bits = kernel, channels, lanes, bits
        self.cf = channels // lanes
        self.lut_ram = lut_ram  # the family has LUT RAM (hw/memstyle.py memory_attrs)
        super().__init__({"inp": In(stream_signature(lanes * bits)), "out": Out(stream_signature(lanes * bits))})

    def elaborate(self, platform):
        m = Module()
        T, CF, L, B = self.k * self.k, self.cf, self.lanes, self.bits
        width = L * B
        depth = max(CF, 2)
        mem = Memory(
            shape=unsigned(width), depth=depth, init=[], attrs=memory_attrs(width, depth, "pool", lut_ram=self.lut_ram)
        )
        m.submodules.partial = mem
        wp = write_port(mem)
        rp = read_port(mem, domain="comb")
        tap, cf = Signal(range(T)), Signal(range(CF))
        out_valid, out_data = Signal(), Signal(width)
        adv, accepted = Signal(), Signal()
        m.d.comb += [
            adv.eq(~out_valid | self.out.ready),
            self.inp.ready.eq(adv),
            accepted.eq(self.inp.valid & adv),
            rp.addr.eq(cf),
            wp.addr.eq(cf),
        ]
        first, final = tap == 0, tap == T - 1
        merged = Signal(width)
        m.d.comb += merged.eq(
            Cat(*[Mux(first, a, Mux(a > b, a, b)) for a, b in zip(lanes(self.inp.payload, B, L), lanes(rp.data, B, L))])
        )
        m.d.comb += [wp.data.eq(merged), wp.en.eq(accepted & ~final)]
        with m.If(adv):
            m.d.sync += [out_valid.eq(accepted & final), out_data.eq(merged)]
        with m.If(accepted):
            m.d.sync += cf.eq(Mux(cf == CF - 1, 0, cf + 1))
            with m.If(cf == CF - 1):
                m.d.sync += tap.eq(Mux(final, 0, tap + 1))
        m.d.comb += [self.out.valid.eq(out_valid), self.out.payload.eq(out_data)]
        return m
