"""The fast-simulation top: an accelerator and its :class:`StreamHarness`, for Verilator/Icarus.

:class:`HarnessTop` wires ``harness.src`` -> the accelerator's ``s_axis_*``
and its ``m_axis_*`` -> ``harness.sink``, and brings the harness's control
and status out as top-level ports (``ctrl__start``, ``status__done``, ...;
clk and rst as Amaranth's sync domain). With ``bypass`` high the DUT's
streams are instead wired to the top's own ``s_axis_*`` / ``m_axis_*``
ports (the accelerator's port names), so the per-beat cocotb testbench
(sim/tb_accelerator.py) runs on the same build. The accelerator is either an
Amaranth component with the ``bitscale_top`` ports (the Amaranth simulator,
tests) or, with ``dut=None``, an instance of the Verilog module ``dut_module``
(default ``bitscale_top``) compiled from the build directory's own Verilog.

:func:`harness_verilog` returns the Verilog of a top module named
``bitscale_harness`` (memories as ``bitscale_simmem`` instances: compile it
with sim/bitscale_simmem.v and the accelerator's Verilog).

Guaranteed: the accelerator's ports see exactly the harness's stream
signals (no register or FIFO in between), so cycle counts are the DUT's own.
"""
from __future__ import annotations

from amaranth import ClockSignal, Instance, Module, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from bitscale.hw.frame import FrameFormat
from bitscale.hw.stream_harness import CONTROL, STATUS, StreamHarness

TOP_NAME = "bitscale_harness"


class HarnessTop(wiring.Component):
    """``dut`` (or the Verilog module ``dut_module``) fed and drained by a :class:`StreamHarness`."""

    def __init__(self, frame: FrameFormat, in_frames: int, out_frames: int, *, dut=None,
                 dut_module: str = "bitscale_top", backend: str | None = None, in_words=(), gold_words=()):
        if backend is None:
            backend = "verilog" if dut is None else "amaranth"
        self.frame, self.dut, self.dut_module = frame, dut, dut_module
        self.harness = StreamHarness(frame, in_frames, out_frames, backend=backend,
                                     in_words=in_words, gold_words=gold_words)
        fin, fout = frame.input, frame.output
        super().__init__({
            "ctrl": In(CONTROL), "status": Out(STATUS), "bypass": In(1),
            "s_axis_tdata": In(fin.tdata_width), "s_axis_tvalid": In(1), "s_axis_tready": Out(1),
            "s_axis_tlast": In(1), "m_axis_tdata": Out(fout.tdata_width), "m_axis_tvalid": Out(1),
            "m_axis_tready": In(1), "m_axis_tlast": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.harness = h = self.harness
        wiring.connect(m, wiring.flipped(self.ctrl), h.ctrl)
        wiring.connect(m, h.status, wiring.flipped(self.status))
        fin, fout = self.frame.input, self.frame.output
        if self.dut is not None:
            m.submodules.dut = d = self.dut
            s_tdata, s_tvalid, s_tready, s_tlast = d.s_axis_tdata, d.s_axis_tvalid, d.s_axis_tready, d.s_axis_tlast
            m_tdata, m_tvalid, m_tready, m_tlast = d.m_axis_tdata, d.m_axis_tvalid, d.m_axis_tready, d.m_axis_tlast
        else:
            s_tdata, s_tvalid, s_tready, s_tlast = (Signal(fin.tdata_width, name="s_axis_tdata"),
                                                    Signal(name="s_axis_tvalid"), Signal(name="s_axis_tready"),
                                                    Signal(name="s_axis_tlast"))
            m_tdata, m_tvalid, m_tready, m_tlast = (Signal(fout.tdata_width, name="m_axis_tdata"),
                                                    Signal(name="m_axis_tvalid"), Signal(name="m_axis_tready"),
                                                    Signal(name="m_axis_tlast"))
            m.submodules.dut = Instance(
                self.dut_module, i_clk=ClockSignal(), i_rst=ResetSignal(),
                i_s_axis_tdata=s_tdata, i_s_axis_tvalid=s_tvalid, o_s_axis_tready=s_tready,
                i_s_axis_tlast=s_tlast, o_m_axis_tdata=m_tdata, o_m_axis_tvalid=m_tvalid,
                i_m_axis_tready=m_tready, o_m_axis_tlast=m_tlast)
        m.d.comb += [
            h.sink.payload.data.eq(m_tdata), h.sink.payload.last.eq(m_tlast),
            self.m_axis_tdata.eq(m_tdata), self.m_axis_tlast.eq(m_tlast),
        ]
        with m.If(self.bypass):         # the top's own AXI-Stream ports drive the DUT (per-beat cocotb)
            m.d.comb += [
                s_tdata.eq(self.s_axis_tdata), s_tvalid.eq(self.s_axis_tvalid), s_tlast.eq(self.s_axis_tlast),
                self.s_axis_tready.eq(s_tready),
                self.m_axis_tvalid.eq(m_tvalid), m_tready.eq(self.m_axis_tready),
            ]
        with m.Else():
            m.d.comb += [
                s_tdata.eq(h.src.payload.data), s_tvalid.eq(h.src.valid), s_tlast.eq(h.src.payload.last),
                h.src.ready.eq(s_tready),
                h.sink.valid.eq(m_tvalid), m_tready.eq(h.sink.ready),
            ]
        return m


def harness_verilog(frame: FrameFormat, in_frames: int, out_frames: int, dut_module: str = "bitscale_top") -> str:
    """Verilog of ``bitscale_harness`` around the module ``dut_module`` (see module doc)."""
    from amaranth.back import verilog
    top = HarnessTop(frame, in_frames, out_frames, dut_module=dut_module)
    return verilog.convert(top, name=TOP_NAME, ports=None, emit_src=False)
