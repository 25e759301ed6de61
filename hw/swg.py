"""Sliding-window generator (im2col) for a valid KxK stride-1 convolution.

Input stream: an HWC feature map, each pixel as C/SIMD words of SIMD channels
(channels innermost). Output stream: for each output pixel (oy, ox) in
raster order, the K*K*C window in (ky, kx, c) order as K*K*C/SIMD words of
SIMD elements — exactly the columns of nn/golden.im2col.

Storage is a ring of ``2K`` input rows in one memory (W*C/SIMD words a row).
The writer may run up to K rows ahead of the rows the reader still needs, so
the next frame's first K rows are already stored when a frame ends: the
reader issues one word every cycle while its downstream is ready (no bubbles
at row or frame boundaries once the rows have arrived).
"""
from __future__ import annotations

from amaranth.hdl import Array, Const, Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from bitscale.hw.memstyle import memory_attrs, memory_style


class SlidingWindow(wiring.Component):
    def __init__(self, in_shape: tuple[int, int, int], kernel: int, simd: int, bits: int):
        h, w, c = in_shape
        if kernel < 1 or kernel > min(h, w):
            raise ValueError(f"kernel must be 1..{min(h, w)} for a {h}x{w} map, not {kernel!r}")
        if c % simd:
            raise ValueError(f"SIMD must divide the input channels C={c}, not {simd!r}")
        self.h, self.w, self.c, self.k, self.simd, self.bits = h, w, c, kernel, simd, bits
        self.cf = c // simd
        self.rows = 2 * kernel
        self.row_words = w * self.cf
        self.depth = self.rows * self.row_words
        self.style = memory_style(simd * bits, self.depth, "buffer")
        super().__init__({"inp": In(stream.Signature(simd * bits)), "out": Out(stream.Signature(simd * bits))})

    def elaborate(self, platform):
        m = Module()
        K, R, RW, CF = self.k, self.rows, self.row_words, self.cf
        OH, OW = self.h - K + 1, self.w - K + 1
        width = self.simd * self.bits

        mem = Memory(shape=unsigned(width), depth=self.depth, init=[], attrs=memory_attrs(width, self.depth, "buffer"))
        m.submodules.lines = mem
        wp = mem.write_port()
        rp = mem.read_port()

        # rows stored beyond the reader's first needed row (0..R)
        ahead = Signal(range(R + 1))
        row_done = Signal()
        release = Signal(range(K + 1))

        # start address of each ring slot: a constant table, so no multiplier is inferred
        row_base = Array(Const(k * RW, range(self.depth + 1)) for k in range(R))

        # --- writer: rows into the ring --------------------------------------------
        w_slot = Signal(range(R))
        w_word = Signal(range(RW))
        m.d.comb += [
            self.inp.ready.eq(ahead < R),
            wp.addr.eq(row_base[w_slot] + w_word),
            wp.data.eq(self.inp.payload),
            wp.en.eq(self.inp.valid & self.inp.ready),
        ]
        with m.If(wp.en):
            with m.If(w_word == RW - 1):
                m.d.comb += row_done.eq(1)
                m.d.sync += [w_word.eq(0), w_slot.eq(Mux(w_slot == R - 1, 0, w_slot + 1))]
            with m.Else():
                m.d.sync += w_word.eq(w_word + 1)

        # --- reader: windows out, one word per cycle ---------------------------------
        oy, ox = Signal(range(OH)), Signal(range(OW))
        ky, kx, cf = Signal(range(K)), Signal(range(K)), Signal(range(CF))
        base = Signal(range(R))          # ring slot of input row oy
        col_base = Signal(range(RW + 1))   # ox * CF
        kc = Signal(range(K * CF))         # kx * CF + cf: consecutive words of one window row
        out_valid = Signal()
        adv = Signal()
        issue = Signal()
        m.d.comb += [
            adv.eq(~out_valid | self.out.ready),
            issue.eq(adv & (ahead >= K)),
        ]
        slot = Signal(range(2 * R))
        row_slot = Signal(range(R))
        m.d.comb += [
            slot.eq(base + ky),
            row_slot.eq(Mux(slot >= R, slot - R, slot)),
            rp.addr.eq(row_base[row_slot] + col_base + kc),
            rp.en.eq(adv),
        ]
        with m.If(adv):
            m.d.sync += out_valid.eq(issue)
        last_cf, last_kx, last_ky, last_ox, last_oy = (cf == CF - 1), (kx == K - 1), (ky == K - 1), \
            (ox == OW - 1), (oy == OH - 1)
        with m.If(issue):
            m.d.sync += kc.eq(Mux(last_cf & last_kx, 0, kc + 1))
            with m.If(last_cf & last_kx & last_ky):
                m.d.sync += col_base.eq(Mux(last_ox, 0, col_base + CF))
            m.d.sync += cf.eq(Mux(last_cf, 0, cf + 1))
            with m.If(last_cf):
                m.d.sync += kx.eq(Mux(last_kx, 0, kx + 1))
                with m.If(last_kx):
                    m.d.sync += ky.eq(Mux(last_ky, 0, ky + 1))
                    with m.If(last_ky):
                        m.d.sync += ox.eq(Mux(last_ox, 0, ox + 1))
                        with m.If(last_ox):
                            # an output row is done: free its first input row, or the
                            # frame's last K rows after its last output row
                            step = Mux(last_oy, K, 1)
                            nb = Signal(range(2 * R))
                            m.d.comb += [nb.eq(base + step), release.eq(step)]
                            m.d.sync += [oy.eq(Mux(last_oy, 0, oy + 1)),
                                         base.eq(Mux(nb >= R, nb - R, nb))]
        m.d.sync += ahead.eq(ahead + row_done - release)
        m.d.comb += [self.out.valid.eq(out_valid), self.out.payload.eq(rp.data)]
        return m
