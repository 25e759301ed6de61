# pyright: reportGeneralTypeIssues=false
# (Amaranth's m.If/m.Elif/m.Else: hw/amaranth_types.py)
"""Sliding-window generator (im2col) for a KxK convolution with stride and padding.

Input stream: an HWC feature map, each pixel as C/SIMD words of SIMD channels
(channels innermost). Output stream: for each output pixel (oy, ox) in
raster order, the K*K*C window in (ky, kx, c) order as K*K*C/SIMD words of
SIMD elements — exactly the columns of ``nn/golden.im2col(x, K, stride, pad,
golden.pad_value(bits))``: a tap outside the map (padding) is an all-zero
word, the code 0 (value 0 unsigned, -1 bipolar; docs/arithmetic.md).

Storage is a ring of ``R = max need + max release`` input rows in one memory
(W*C/SIMD words a row; ``R = 2K`` for stride 1 without padding): while the
reader works on output row oy it needs input rows first(oy) .. last(oy), and
the writer stores the next rows meanwhile, so the reader issues one word
every cycle while its downstream is ready (no bubbles at row or frame
boundaries once the rows have arrived). Per-row and per-column constants
(first row, padded taps, column offsets) are small constant tables: no
multipliers. Rows and columns past the last whole window are stored and
never read.

Guaranteed: the output words are ``golden.im2col`` of the input frames, in
order, under any valid/ready pattern; per frame the reader issues
``OH*OW*K*K*C/SIMD`` words and the writer accepts ``H*W*C/SIMD``, so a frame
takes ``max`` of the two cycles when neither side stalls.
"""

from __future__ import annotations

from amaranth.hdl import Array, Const, Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from bitscale.hw.amaranth_types import read_port, stream_signature, write_port
from bitscale.hw.folding import _row_plan, ring_rows
from bitscale.hw.memstyle import memory_attrs, memory_style


class SlidingWindow(wiring.Component):
    inp: stream.Interface  # signature members, created by wiring.Component.__init__
    out: stream.Interface

    def __init__(
        self,
        in_shape: tuple[int, ...],
        kernel: int,
        simd: int,
        bits: int,
        stride: int = 1,
        pad: int = 0,
        *,
        lut_ram: bool = True,
    ):
        h, w, c = in_shape
        if kernel < 1 or stride < 1 or not (0 <= pad < kernel) or kernel > min(h, w) + 2 * pad:
            raise ValueError(f"bad window: kernel {kernel!r}, stride {stride!r}, pad {pad!r} on a {h}x{w} map")
        if c % simd:
            raise ValueError(f"SIMD must divide the input channels C={c}, not {simd!r}")
        self.h, self.w, self.c, self.k, self.simd, self.bits = h, w, c, kernel, simd, bits
        self.stride, self.pad = stride, pad
        self.lut_ram = lut_ram  # the family has LUT RAM (hw/memstyle.py memory_attrs)
        self.oh, self.ow = (h + 2 * pad - kernel) // stride + 1, (w + 2 * pad - kernel) // stride + 1
        self.cf = c // simd
        self.rows = ring_rows(h, kernel, stride, pad)
        self.row_words = w * self.cf
        self.depth = self.rows * self.row_words
        self.style = memory_style(simd * bits, self.depth, "buffer")
        super().__init__({"inp": In(stream_signature(simd * bits)), "out": Out(stream_signature(simd * bits))})

    @property
    def in_words(self) -> int:
        return self.h * self.w * self.cf

    @property
    def out_words(self) -> int:
        return self.oh * self.ow * self.k * self.k * self.cf

    def elaborate(self, platform):
        m = Module()
        K, R, RW, CF, S, P = self.k, self.rows, self.row_words, self.cf, self.stride, self.pad
        OH, OW, W = self.oh, self.ow, self.w
        width = self.simd * self.bits
        _, lo_y, hi_y, need_y, rel_y = _row_plan(self.h, K, S, P)
        _, lo_x, hi_x, _, _ = _row_plan(W, K, S, P)

        attrs = memory_attrs(width, self.depth, "buffer", lut_ram=self.lut_ram)
        mem = Memory(shape=unsigned(width), depth=self.depth, init=[], attrs=attrs)
        m.submodules.lines = mem
        wp = write_port(mem)
        rp = read_port(mem)

        def table(values, rng):
            return Array(Const(v, rng) for v in values)

        # rows stored beyond the reader's first needed row (0..R)
        ahead = Signal(range(R + 1))
        row_done = Signal()
        release = Signal(range(R + 1))

        # start address of each ring slot: a constant table, so no multiplier is inferred
        row_base = table([k * RW for k in range(R)], range(self.depth + 1))

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
        base = Signal(range(R))  # ring slot of input row first(oy)
        kc = Signal(range(K * CF))  # kx * CF + cf: consecutive words of one window row
        out_valid = Signal()  # the output register holds a word
        rd_valid = Signal()  # the memory's data out holds a word (read last cycle)
        out_pad = Signal()
        out_data = Signal(width)
        adv = Signal()
        issue = Signal()
        t_need = table(need_y, range(R + 1))
        t_rel = table(rel_y, range(R + 1))
        t_loy, t_hiy = table(lo_y, range(K + 1)), table(hi_y, range(K + 1))
        t_lox, t_hix = table(lo_x, range(K + 1)), table(hi_x, range(K + 1))
        # word offset of the window's first column inside a row, + P*CF so it is never negative
        t_xw = table([ox_ * S * CF for ox_ in range(OW)], range(OW * S * CF + 1))
        m.d.comb += [
            adv.eq(~out_valid | self.out.ready),
            issue.eq(adv & (ahead >= t_need[oy])),
        ]
        pad_tap = Signal()
        m.d.comb += pad_tap.eq((ky < t_loy[oy]) | (ky >= t_hiy[oy]) | (kx < t_lox[ox]) | (kx >= t_hix[ox]))
        slot = Signal(range(2 * R + K))
        row_slot = Signal(range(R))
        m.d.comb += [
            slot.eq(base + ky - t_loy[oy]),
            row_slot.eq(Mux(pad_tap, 0, Mux(slot >= R, slot - R, slot))),
            rp.addr.eq(row_base[row_slot] + t_xw[ox] + kc - P * CF),
            rp.en.eq(adv),
        ]
        with m.If(adv):
            # the memory's data out goes straight into the output register (a block RAM's clock-to-out
            # is most of a cycle on ECP5); a padded tap resets it to 0 (a synchronous reset, no LUT)
            m.d.sync += [
                rd_valid.eq(issue),
                out_pad.eq(pad_tap),
                out_valid.eq(rd_valid),
                out_data.eq(Mux(out_pad, 0, rp.data)),
            ]
        last_cf, last_kx, last_ky, last_ox, last_oy = (
            (cf == CF - 1),
            (kx == K - 1),
            (ky == K - 1),
            (ox == OW - 1),
            (oy == OH - 1),
        )
        with m.If(issue):
            m.d.sync += kc.eq(Mux(last_cf & last_kx, 0, kc + 1))
            m.d.sync += cf.eq(Mux(last_cf, 0, cf + 1))
            with m.If(last_cf):
                m.d.sync += kx.eq(Mux(last_kx, 0, kx + 1))
                with m.If(last_kx):
                    m.d.sync += ky.eq(Mux(last_ky, 0, ky + 1))
                    with m.If(last_ky):
                        m.d.sync += ox.eq(Mux(last_ox, 0, ox + 1))
                        with m.If(last_ox):
                            # an output row is done: free the rows the next one no longer needs
                            # (after the frame's last output row: all its remaining rows)
                            step = t_rel[oy]
                            nb = Signal(range(2 * R + 1))
                            m.d.comb += [nb.eq(base + step), release.eq(step)]
                            m.d.sync += [oy.eq(Mux(last_oy, 0, oy + 1)), base.eq(Mux(nb >= R, nb - R, nb))]
        m.d.sync += ahead.eq(ahead + row_done - release)
        m.d.comb += [self.out.valid.eq(out_valid), self.out.payload.eq(out_data)]
        return m
