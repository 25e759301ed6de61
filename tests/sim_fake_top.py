"""A tiny stand-in accelerator for testing sim/ itself: one dense layer on AXI-Stream.

``FrameDot`` computes a one-layer network (``random_fc([], ...)``: dense
F -> C, raw accumulators out) with SIMD inputs per beat and all C channels
in parallel, then serializes the C accumulators ``out_elems`` per beat. It
has bitscale_top's ports and frame format, so the whole sim/ flow
(simulate(), tb_accelerator) runs on it. ``bug`` injects a known fault so the
tests can show the checker catches it.
"""

from __future__ import annotations

import json
from pathlib import Path

from amaranth import Array, Cat, Const, Module, Signal, signed
from amaranth.back import verilog
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from bitscale.hw.frame import CORE_PORTS, FrameFormat, StreamFormat
from bitscale.nn import ir
from bitscale.nn.ir import acc_bits


class FrameDot(wiring.Component):
    def __init__(self, net, simd: int, out_elems: int, bug: str | None = None):
        layer = net.layers[0]
        assert len(net.layers) == 1 and layer.kind == "dense"
        self.net, self.layer, self.simd, self.out_elems, self.bug = net, layer, simd, out_elems, bug
        self.f, self.c = layer.mw, layer.mh
        if self.f % simd or self.c % out_elems:
            raise ValueError(f"SIMD must divide F={self.f} and out_elems C={self.c}")
        self.ib, self.ob = self.f // simd, self.c // out_elems
        self.accw = acc_bits(layer)
        self.fmt = FrameFormat(StreamFormat(simd, 8, False, self.ib), StreamFormat(out_elems, self.accw, True, self.ob))
        super().__init__(
            {
                "s_axis_tdata": In(self.fmt.input.tdata_width),
                "s_axis_tvalid": In(1),
                "s_axis_tready": Out(1),
                "s_axis_tlast": In(1),
                "m_axis_tdata": Out(self.fmt.output.tdata_width),
                "m_axis_tvalid": Out(1),
                "m_axis_tready": In(1),
                "m_axis_tlast": Out(1),
            }
        )

    @property
    def model_cycles(self) -> int:
        return max(self.ib, self.ob)

    def elaborate(self, platform):
        m = Module()
        w = self.net.weight(self.layer)
        wb = max(2, self.layer.wbits)
        beat = Signal(range(self.ib))
        x = [self.s_axis_tdata[8 * k : 8 * k + 8] for k in range(self.simd)]
        acc = [Signal(signed(self.accw), name=f"acc{c}") for c in range(self.c)]
        obuf = [Signal(signed(self.accw), name=f"obuf{c}") for c in range(self.c)]
        obeat = Signal(range(self.ob))
        obusy = Signal()

        # this beat's partial dot product per channel
        prod = []
        for c in range(self.c):
            terms = []
            for k in range(self.simd):
                wk = Array([Const(int(w[c, b * self.simd + k]), signed(wb)) for b in range(self.ib)])[beat]
                terms.append(wk * x[k])
            prod.append(sum(terms[1:], terms[0]))

        last_in = beat == self.ib - 1
        out_done = self.m_axis_tvalid & self.m_axis_tready & (obeat == self.ob - 1)
        take = self.s_axis_tvalid & self.s_axis_tready
        ready = ~last_in | ~obusy | out_done
        if self.bug == "stall":  # a bubble: never accepts the beat after a frame's last one
            gap = Signal()
            m.d.sync += gap.eq(take & last_in)
            ready = ready & ~gap
        m.d.comb += self.s_axis_tready.eq(ready)

        out_sel = Array([Cat(*obuf[b * self.out_elems : (b + 1) * self.out_elems]) for b in range(self.ob)])[obeat]
        m.d.comb += [
            self.m_axis_tvalid.eq(obusy),
            self.m_axis_tdata.eq(out_sel),
            self.m_axis_tlast.eq(obeat == self.ob - 1),
        ]
        with m.If(self.m_axis_tvalid & self.m_axis_tready):
            with m.If(obeat == self.ob - 1):
                m.d.sync += [obusy.eq(0), obeat.eq(0)]
            with m.Else():
                m.d.sync += obeat.eq(obeat + 1)
        with m.If(take):
            with m.If(last_in):
                m.d.sync += beat.eq(0)
                for c in range(self.c):
                    res = acc[c] + prod[c]
                    if self.bug == "wrong" and c == 0:
                        res = res + 1
                    m.d.sync += [obuf[c].eq(res), acc[c].eq(0)]
                m.d.sync += [obusy.eq(1), obeat.eq(0)]
            with m.Else():
                m.d.sync += beat.eq(beat + 1)
                for c in range(self.c):
                    m.d.sync += acc[c].eq(acc[c] + prod[c])
        return m


def write_fake_build(out_dir, net, simd: int, out_elems: int, bug: str | None = None) -> dict:
    """A self-contained build dir like ``bitscale generate`` writes, for FrameDot."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    top = FrameDot(net, simd, out_elems, bug)
    (out / "bitscale_top.v").write_text(verilog.convert(top, name="bitscale_top"))
    ir.save(net, out)
    layer = net.layers[0]
    design = {
        "format": "bitscale.Design",
        "version": 1,
        "top": "bitscale_top",
        "verilog": "bitscale_top.v",
        "ports": list(CORE_PORTS),
        "frame": top.fmt.to_json(),
        "folding": {
            "format": "bitscale.Folding",
            "layers": [{"name": layer.name, "pe": layer.mh, "simd": simd, "mode": "parallel"}],
        },
        "layers": [
            {
                "name": layer.name,
                "kind": "dense",
                "pe": layer.mh,
                "simd": simd,
                "mode": "parallel",
                "cycles_per_frame": top.model_cycles,
                "acc_bits": top.accw,
            }
        ],
        "model_cycles_per_frame": top.model_cycles,
        "run_dir": None,
    }
    (out / "design.json").write_text(json.dumps(design, indent=1))
    return design
