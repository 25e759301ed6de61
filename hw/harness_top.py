# pyright: reportGeneralTypeIssues=false
# (Amaranth's m.If/m.Elif/m.Else: hw/amaranth_types.py)
"""The fast-simulation top: an accelerator and its :class:`StreamHarness`, for Verilator/Icarus.

:class:`HarnessTop` wires ``harness.src`` -> the accelerator's ``s_axis_*``
and its ``m_axis_*`` -> ``harness.sink``, and brings the harness's control
and status out as top-level ports (``ctrl__start``, ``status__done``, ...;
and ``clk``). There is no reset port: the harness is held in reset for the
first ``POR_CYCLES`` cycles; an accelerator given as Amaranth component is too,
a Verilog accelerator (``dut=None``) has its ``rst`` tied low and starts in its
reset state from the Verilog's register initialisers. The control inputs are
registered once (a command starts a cycle after ``ctrl__start`` is seen).
So no top-level input reaches the design combinationally: Verilator then has no
input-combinational logic to re-evaluate at every clock toggle (measured:
that was most of the model's time when the accelerator's inputs were ports). The accelerator is either an
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

from typing import Any

from amaranth import ClockDomain, ClockSignal, Const, Instance, Module, ResetInserter, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from bitscale.hw import axis
from bitscale.hw.frame import AXIS_OUTPUTS, AXIS_PORTS, FrameFormat
from bitscale.hw.stream_harness import CONTROL, STATUS, StreamHarness

TOP_NAME = "bitscale_harness"
POR_CYCLES = 8  # power-on reset of the harness and the accelerator


class HarnessTop(wiring.Component):
    """``dut`` (or the Verilog module ``dut_module``) fed and drained by a :class:`StreamHarness`."""

    # signature members, created by wiring.Component.__init__
    ctrl: Any  # In(CONTROL): Amaranth creates its members at run time
    status: Any  # Out(STATUS)
    clk: Signal  # only with dut=None (the Verilog top)

    def __init__(
        self,
        frame: FrameFormat,
        in_frames: int,
        out_frames: int,
        *,
        dut=None,
        dut_module: str = "bitscale_top",
        backend: str | None = None,
        in_words=(),
        gold_words=(),
    ):
        if backend is None:
            backend = "verilog" if dut is None else "amaranth"
        self.frame, self.dut, self.dut_module = frame, dut, dut_module
        self.harness = StreamHarness(
            frame, in_frames, out_frames, backend=backend, in_words=in_words, gold_words=gold_words
        )
        ports = {"ctrl": In(CONTROL), "status": Out(STATUS)}
        if dut is None:  # Verilog: the clock is a port (the Amaranth simulator drives the domain)
            ports["clk"] = In(1)
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        h = self.harness
        # No combinational path from a top-level input into the design, so Verilator's
        # input-combinational region (evaluated at every clock toggle) stays empty: the control
        # inputs are registered once, and there is no reset port (Amaranth's flops compute their
        # next state combinationally from rst) but a power-on reset of POR_CYCLES cycles.
        m.domains.sync = ClockDomain("sync", reset_less=True)
        if self.dut is None:
            m.d.comb += ClockSignal("sync").eq(self.clk)
        por = Signal(range(POR_CYCLES + 1), init=POR_CYCLES)
        rst = Signal()
        with m.If(por != 0):
            m.d.sync += por.eq(por - 1)
        m.d.comb += rst.eq(por != 0)
        m.submodules.harness = ResetInserter(rst)(h)
        for name in CONTROL.members:
            m.d.sync += getattr(h.ctrl, name).eq(getattr(self.ctrl, name))
        wiring.connect(m, h.status, wiring.flipped(self.status))
        fin, fout = self.frame.input, self.frame.output
        if self.dut is not None:
            m.submodules.dut = ResetInserter(rst)(self.dut)
            s_axis, m_axis = axis.flat(self.dut, "s_axis"), axis.flat(self.dut, "m_axis")
        else:  # the Verilog module's ports, as its instance connects them (hw/frame.AXIS_PORTS)
            widths = {"s_axis_tdata": fin.tdata_width, "m_axis_tdata": fout.tdata_width}
            port = {name: Signal(widths.get(name, 1), name=name) for name in AXIS_PORTS}
            s_axis, m_axis = axis.flat(port, "s_axis"), axis.flat(port, "m_axis")
            conns: dict[str, Any] = {f"{'o' if n in AXIS_OUTPUTS else 'i'}_{n}": sig for n, sig in port.items()}
            # The accelerator's reset is tied low: its registers start in their reset state from the
            # Verilog's declaration initialisers (Amaranth writes every register's reset value as its
            # `reg x = init;`, and the ones without one, memories and their read registers, have no
            # reset). A reset net driven by the power-on counter made every resettable register's next
            # value `rst ? init : d` at every cycle in the Verilated model; a constant folds it away
            # (docs/simulation.md, "Where the time goes"). The harness keeps its power-on reset.
            m.submodules.dut = Instance(self.dut_module, i_clk=ClockSignal(), i_rst=Const(0, 1), **conns)
        m.d.comb += [
            s_axis.payload.data.eq(h.src.payload.data),
            s_axis.valid.eq(h.src.valid),
            s_axis.payload.last.eq(h.src.payload.last),
            h.src.ready.eq(s_axis.ready),
            h.sink.payload.data.eq(m_axis.payload.data),
            h.sink.payload.last.eq(m_axis.payload.last),
            h.sink.valid.eq(m_axis.valid),
            m_axis.ready.eq(h.sink.ready),
        ]
        return m


def harness_verilog(
    frame: FrameFormat,
    in_frames: int,
    out_frames: int,
    dut_module: str = "bitscale_top",
    clock_half_period: int | None = None,
) -> str:
    """Verilog of ``bitscale_harness`` around the module ``dut_module`` (see module doc).

    ``clock_half_period`` (time units of the simulator's timescale): the clock is made inside the
    Verilog (``always #half clk = ~clk``, starting low; a simulator with timing support, Verilator
    ``--timing``) and ``clk`` is an *output* of ``bitscale_harness`` for the testbench to watch, so no
    testbench callback runs per clock edge. The harness itself is then the module
    ``bitscale_harness_core`` (the same Verilog as without), instanced by that wrapper.
    """
    from amaranth.back import verilog

    top = HarnessTop(frame, in_frames, out_frames, dut_module=dut_module)
    if clock_half_period is None:
        return verilog.convert(top, name=TOP_NAME, ports=None, emit_src=False)
    if clock_half_period < 1:
        raise ValueError(f"clock_half_period must be >= 1, not {clock_half_period!r}")
    core = TOP_NAME + "_core"
    text = verilog.convert(top, name=core, ports=None, emit_src=False)
    import re

    header = re.search(r"^module " + core + r"\((.*?)\);", text, re.M | re.S)
    assert header is not None
    ports = [p.strip() for p in header.group(1).split(",")]
    body = text[header.end() : text.index("\nendmodule", header.end())]
    decl = {}
    for d, hi, name in re.findall(r"^  (input|output) (?:\[(\d+):0\] )?(\S+);", body, re.M):
        decl[name] = (d, hi)
    lines = [f"module {TOP_NAME}({', '.join(ports)});", "  output clk;", "  reg clk = 1'b0;"]
    lines.append(f"  always #{clock_half_period} clk = ~clk;")
    for p in ports:
        if p != "clk":
            d, hi = decl[p]
            lines.append(f"  {d} {f'[{hi}:0] ' if hi else ''}{p};")
    lines.append(f"  {core} core ({', '.join(f'.{p}({p})' for p in ports)});")
    lines.append("endmodule")
    return text + "\n" + "\n".join(lines) + "\n"
