# pyright: reportGeneralTypeIssues=false
# (Amaranth's m.If/m.Elif/m.Else: hw/amaranth_types.py)
"""Accelerator: the whole network as one streaming dataflow with AXI-Stream ports.

Chain (docs/hardware.md): s_axis -> FIFO -> per layer { width converter to the
layer's SIMD -> FIFO -> [sliding window for conv] -> MVTU } or { max-pool },
-> FIFO -> m_axis. Flatten is free (HWC order). Every compute layer's
output is PE elements a word; the next consumer's width converter regroups.

Ports (the Verilog top, ``bitscale_top``): clk, rst (synchronous, active
high; Amaranth's sync domain), s_axis_tdata/tvalid/tready/tlast,
m_axis_tdata/tvalid/tready/tlast, packed as :attr:`Accelerator.frame` says
(hw/frame.py): input beats of the first layer's SIMD 8-bit pixels, output
beats of the last layer's PE signed accumulators; m_axis_tlast marks a
frame's last beat; s_axis_tlast is accepted and ignored (frames are counted
in beats).

Guaranteed: for any network that passes nn.ir.validate and any folding that
passes hw.folding.validate, the output frames equal nn.golden.run on the
input frames, in order, under any tvalid/tready pattern.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from amaranth.hdl import Array, Cat, Module, Mux, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from bitscale.hw import folding as fold
from bitscale.hw.dwc import DWC
from bitscale.hw.fifo import StreamFIFO
from bitscale.hw.inventory import CUT_LEVEL, SMALL_FIFO, fifo_depth
from bitscale.hw.frame import FrameFormat, StreamFormat
from bitscale.hw.maxpool import MaxPool, WindowMax
from bitscale.hw.mvtu import MVTU
from bitscale.hw.swg import SlidingWindow
from bitscale.nn import ir

if TYPE_CHECKING:
    from bitscale.hw.packing_plan import PackingPlan


def frame_format(net: ir.QuantizedNetwork, folding: fold.Folding) -> FrameFormat:
    """Input: first layer's SIMD pixels a beat; output: the last layer's PE accumulators a beat."""
    first = net.compute_layers[0]
    last = net.compute_layers[-1]
    if net.layers[0].name != first.name:
        raise ValueError("the first layer must be a compute layer")
    simd = folding[first.name].simd
    pe = folding[last.name].pe
    n_in = math.prod(net.input_shape)
    return FrameFormat(
        input=StreamFormat(elems=simd, bits=ir.INPUT_BITS, signed=False, beats=n_in // simd),
        output=StreamFormat(elems=pe, bits=ir.acc_bits(last), signed=True, beats=last.mh // pe),
    )


class Accelerator(wiring.Component):
    """The network ``net`` folded by ``folding`` (validated here; ValueError names a bad value).

    ``lut_ram``: whether the target family has LUT RAM (False for iCE40: the memories that would be
    distributed RAM are elaborated as logic, hw/memstyle.py); the Verilog is otherwise the same.
    ``cut_level``: adder levels between two registers in the dot products' trees (hw/dotproduct.py;
    the board flow elaborates iCE40 cores with hw/inventory.ICE40_CUT_LEVEL: more registers, more
    latency, the same cycles per frame)."""

    # signature members (the Verilog top's ports), created by wiring.Component.__init__
    s_axis_tdata: Signal
    s_axis_tvalid: Signal
    s_axis_tready: Signal
    s_axis_tlast: Signal
    m_axis_tdata: Signal
    m_axis_tvalid: Signal
    m_axis_tready: Signal
    m_axis_tlast: Signal

    def __init__(
        self,
        net: ir.QuantizedNetwork,
        folding: fold.Folding,
        packing: PackingPlan | None = None,
        *,
        lut_ram: bool = True,
        cut_level: int = CUT_LEVEL,
    ):
        # packing: a plan of this design (hw/packing_plan.py; cost_model/packing.py solves for it); its bins
        # of two or more memories become shared memories (hw/packed_memory.py), single-memory bins stay the
        # layers' own memories. Checked against the memories the layers build (below, after _plan).
        from bitscale.hw.packing_plan import is_plain

        fold.validate(net, folding)
        self.net, self.folding = net, folding
        self.packing = packing
        self.lut_ram = lut_ram
        self.cut_level = cut_level  # the dot products' adder levels per register (hw/dotproduct.py)
        self._shared = [] if packing is None else [b for b in packing.bins if not is_plain(b)]
        self.frame = frame_format(net, folding)
        self.in_width = self.frame.input.tdata_width
        self.out_width = self.frame.output.tdata_width
        super().__init__(
            {
                "s_axis_tdata": In(self.in_width),
                "s_axis_tvalid": In(1),
                "s_axis_tready": Out(1),
                "s_axis_tlast": In(1),
                "m_axis_tdata": Out(self.out_width),
                "m_axis_tvalid": Out(1),
                "m_axis_tready": In(1),
                "m_axis_tlast": Out(1),
            }
        )
        self.stages = self._plan()
        if packing is not None:
            from bitscale.errors import UserError
            from bitscale.hw.packing_plan import check_memories

            try:
                check_memories(packing, self._memories(), self._written())
                if packing.lutram and not lut_ram:
                    raise UserError("packing plan rejected: input buffers in LUT RAM on a family without LUT RAM")
            except Exception:
                for comp in (self, *(c for _, c in self.stages)):  # rejected: never elaborated, on purpose
                    comp._MustUse__silence = True  # pyright: ignore[reportAttributeAccessIssue]
                raise

    def _plan(self):
        """The chain of stream components, in order, as (name, component)."""
        net, folding, lut_ram = self.net, self.folding, self.lut_ram
        self._fifos: dict[str, tuple[int, int]] = {}  # a dense layer's input FIFO: name -> memory (width, depth)
        stages = []
        lanes, bits = self.frame.input.elems, ir.INPUT_BITS
        stages.append(("in_fifo", StreamFIFO(lanes * bits, SMALL_FIFO)))
        for layer in net.layers:
            if layer.kind == "flatten":
                continue
            if layer.kind == "maxpool":
                c = layer.in_shape[2]
                if c % lanes:
                    g = math.gcd(c, lanes)
                    stages.append((f"{layer.name}_dwc", DWC(lanes, g, bits)))
                    lanes = g
                stages.append((f"{layer.name}_fifo", StreamFIFO(lanes * bits, SMALL_FIFO)))
                if layer.kernel == layer.stride:
                    stages.append(
                        (layer.name, MaxPool(layer.in_shape, layer.kernel, layer.stride, lanes, bits, lut_ram=lut_ram))
                    )
                else:  # overlapping (or gapped) windows: sliding window + window max
                    stages.append(
                        (
                            f"{layer.name}_swg",
                            SlidingWindow(
                                layer.in_shape, layer.kernel, lanes, bits, stride=layer.stride, lut_ram=lut_ram
                            ),
                        )
                    )
                    stages.append((layer.name, WindowMax(layer.kernel, c, lanes, bits, lut_ram=lut_ram)))
                continue
            lf = folding[layer.name]
            if lanes != lf.simd:
                stages.append((f"{layer.name}_dwc", DWC(lanes, lf.simd, bits)))
                lanes = lf.simd
            if layer.kind == "conv":
                stages.append((f"{layer.name}_fifo", StreamFIFO(lanes * bits, int(fifo_depth(True, 0)))))
                stages.append(
                    (
                        f"{layer.name}_swg",
                        SlidingWindow(
                            layer.in_shape,
                            layer.kernel,
                            lf.simd,
                            bits,
                            stride=layer.stride,
                            pad=layer.pad,
                            lut_ram=lut_ram,
                        ),
                    )
                )
            else:
                # holds a whole input vector, so the producer runs ahead while this
                # layer works through its later row-folds
                depth = int(fifo_depth(False, layer.mw // lf.simd))
                lut_fifo = lut_ram and self._moved(f"{layer.name}.fifo")
                stages.append((f"{layer.name}_fifo", StreamFIFO(lanes * bits, depth, lutram=lut_fifo)))
                self._fifos[f"{layer.name}.fifo"] = (lanes * bits, depth - 1)  # its memory keeps depth - 1 words
            roles = tuple(
                p.item.split(".", 1)[1]
                for b in self._shared
                for p in b.placements
                if p.item.split(".", 1)[0] == layer.name
            )
            moved = self._moved(f"{layer.name}.inbuf")
            mvtu = MVTU(
                net, layer, lf, packed=roles, lut_ram=lut_ram, inbuf_lutram=moved and lut_ram, cut_level=self.cut_level
            )
            stages.append((layer.name, mvtu))
            lanes, bits = lf.pe, mvtu.out_bits
        stages.append(("out_fifo", StreamFIFO(lanes * bits, SMALL_FIFO)))
        return stages

    def _memories(self) -> dict[str, tuple[int, int, int]]:
        """The read-only memories a packing plan may hold, as name -> (width, depth, read period): a weight
        memory gives a new word every activation-plane count of cycles, a parameter table every row fold."""
        out = {}
        for mv in self.mvtus:
            name = mv.layer.name
            out[f"{name}.weights"] = (mv.mem_width, mv.mem_depth, mv.aplanes)
            if mv._params is not None:
                out[f"{name}.params"] = (mv._param_width(), len(mv._params), mv.sf_n * mv.wplanes * mv.aplanes)
        return out

    def _moved(self, name: str) -> bool:
        """The packing plan builds written memory ``name`` in LUT RAM (hw/packing_plan.Written)."""
        return self.packing is not None and any(w.name == name for w in self.packing.lutram)

    def _written(self) -> dict[str, tuple[int, int]]:
        """The written memories a packing plan may put in LUT RAM (input buffers, dense layers' input FIFOs),
        as name -> (width, depth)."""
        out = {f"{mv.layer.name}.inbuf": (mv.simd * mv.layer.in_bits, mv.sf_n) for mv in self.mvtus if mv.nf_n > 1}
        return {**out, **self._fifos}

    def _connect_packed(self, m):
        """The shared memories of the packing plan, wired to their layers' w_*/p_* ports."""
        plan = self.packing
        if plan is None:
            return
        from bitscale.hw.packed_memory import PackedMemory

        mvtus = {c.layer.name: c for c in self.mvtus}
        parts: dict[str, list] = {}
        for k, b in enumerate(self._shared):
            items = {}
            for p in b.placements:
                layer, role = p.item.split(".", 1)
                mv = mvtus[layer]
                words = mv._weights if role == "weights" else mv._params
                if words is None:
                    raise ValueError(f"{p.item}: an external weight ROM cannot be packed")
                width = mv.mem_width if role == "weights" else mv._param_width()
                items[p.item] = (plan.item(p.item), width, words)
            pm = PackedMemory(b, items)
            m.submodules[f"packed_bin{k}"] = pm
            for p in b.placements:
                parts.setdefault(p.item, []).append((p.col0, pm, pm.index(p.item), p))
        # an item split by columns over several bins: every part steps with the layer, the word is ready
        # when every part's is, and it is the parts' stored columns joined (constant columns wired). An item
        # split by depth (row bands, each of column parts): a band's parts are enabled and stepped only while
        # the layer's word address is in the band, and the word is the band's that the last read enabled
        for name, ps in parts.items():
            layer, role = name.split(".", 1)
            mv, pre = mvtus[layer], "w" if role == "weights" else "p"
            it = plan.item(name)
            en, step = getattr(mv, f"{pre}_en"), getattr(mv, f"{pre}_step")
            by_band: dict[tuple[int, int], list] = {}
            for t in sorted(ps, key=lambda t: t[0]):
                by_band.setdefault((t[3].row0, t[3].part_rows(it)), []).append(t)
            bands = sorted(by_band)
            if len(bands) > 1:
                pos = Signal(range(it.depth), name=f"{layer}_{role}_addr")  # the layer's word address
                with m.If(step):
                    m.d.sync += pos.eq(Mux(pos == it.depth - 1, 0, pos + 1))
                acts = [(pos >= r0) & (pos < r0 + n) for r0, n in bands]
                sel = Signal(range(len(bands)), name=f"{layer}_{role}_band")  # the band of the word last read
                for j, a in enumerate(acts):
                    with m.If(en & a):
                        m.d.sync += sel.eq(j)
            else:
                acts = [None]  # one band: every part enabled and stepped with the layer
            readies, datas = [], []
            for band, act in zip(bands, acts):
                bp = by_band[band]
                for _, pm, i, _ in bp:
                    m.d.comb += [
                        getattr(pm, f"en_{i}").eq(en if act is None else en & act),
                        getattr(pm, f"step_{i}").eq(step if act is None else step & act),
                    ]
                rs = [getattr(pm, f"ready_{i}") for _, pm, i, _ in bp]
                readies.append(rs[0] if len(rs) == 1 else Value.cast(Cat(*rs)).all())
                _, pm0, i0, p0 = bp[0]
                datas.append(
                    getattr(pm0, f"data_{i0}")
                    if len(bp) == 1 and not p0.is_part(it)
                    else pm0.expand(name, Cat(*[getattr(pm, f"data_{i}") for _, pm, i, _ in bp]))
                )
            if len(bands) == 1:
                ready, data = readies[0], datas[0]
            else:
                ready = Value.cast(Cat(*[r & a for r, a in zip(readies, acts) if a is not None])).any()
                data = Array(datas)[sel]
            m.d.comb += [getattr(mv, f"{pre}_ready").eq(ready), getattr(mv, f"{pre}_rdata").eq(data)]

    @property
    def mvtus(self) -> list[MVTU]:
        return [c for _, c in self.stages if isinstance(c, MVTU)]

    def elaborate(self, platform):
        m = Module()
        for name, comp in self.stages:
            m.submodules[name] = comp
        for (_, a), (_, b) in zip(self.stages, self.stages[1:]):
            wiring.connect(m, a.out, b.inp)
        self._connect_packed(m)
        first, last = self.stages[0][1], self.stages[-1][1]
        fin, fout = self.frame.input, self.frame.output

        m.d.comb += [
            first.inp.payload.eq(self.s_axis_tdata[: fin.elems * fin.bits]),
            first.inp.valid.eq(self.s_axis_tvalid),
            self.s_axis_tready.eq(first.inp.ready),
            self.m_axis_tdata.eq(last.out.payload),
            self.m_axis_tvalid.eq(last.out.valid),
            last.out.ready.eq(self.m_axis_tready),
        ]
        # tlast on the last beat of each output frame
        beat = Signal(range(max(fout.beats, 2)))
        m.d.comb += self.m_axis_tlast.eq(beat == fout.beats - 1)
        with m.If(self.m_axis_tvalid & self.m_axis_tready):
            m.d.sync += beat.eq(0)
            with m.If(beat != fout.beats - 1):
                m.d.sync += beat.eq(beat + 1)
        return m
