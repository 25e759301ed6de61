"""A simulation memory for the stream harness: frames in, results out, without touching the build.

:class:`SimMemory` is one memory with a synchronous read port (``raddr`` ->
``rdata`` one cycle later), a write port (``waddr``/``wdata``/``we``) and two
control strobes. Two backends:

* ``"verilog"``: an instance of ``bitscale_simmem`` (sim/bitscale_simmem.v):
  ``load`` reads ``file`` with ``$readmemh`` and ``dump`` writes the whole
  memory to ``dump_file`` with ``$writememh``, at the clock edge, paths
  relative to the simulator's working directory. The contents are not in the
  Verilog, so one Verilator build serves any data.
* ``"amaranth"``: an ``amaranth.lib.memory.Memory`` initialised from ``init``
  (``load``/``dump`` are ignored); for the Amaranth simulator (tests), where
  :attr:`memory` gives the testbench access to the contents.

Guaranteed: both backends behave the same cycle by cycle on the ports
(read-before-write: ``rdata`` shows the old word when the same address is
written in the same cycle).
"""

from __future__ import annotations

from amaranth import ClockSignal, Instance, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from bitscale.hw.amaranth_types import read_port, write_port

BACKENDS = ("verilog", "amaranth")
VERILOG_MODULE = "bitscale_simmem"


class SimMemory(wiring.Component):
    """``depth`` words of ``width`` bits (see module doc)."""

    # signature members, created by wiring.Component.__init__
    raddr: Signal
    rdata: Signal
    waddr: Signal
    wdata: Signal
    we: Signal
    load: Signal
    dump: Signal

    def __init__(
        self,
        width: int,
        depth: int,
        *,
        backend: str = "amaranth",
        file: str = "mem.hex",
        dump_file: str | None = None,
        init=(),
    ):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        if width < 1 or depth < 1:
            raise ValueError(f"width and depth must be >= 1, not {width!r}/{depth!r}")
        self.width, self.depth, self.backend = int(width), int(depth), backend
        self.file = file
        self.dump_file = dump_file or file.rsplit(".", 1)[0] + ".dump.hex"
        self.init = tuple(int(w) for w in init)
        if len(self.init) > self.depth:
            raise ValueError(f"{len(self.init)} initial words for a memory {self.depth} deep")
        self.abits = max(1, (self.depth - 1).bit_length())
        self.memory: Memory | None = None
        super().__init__(
            {
                "raddr": In(self.abits),
                "rdata": Out(self.width),
                "waddr": In(self.abits),
                "wdata": In(self.width),
                "we": In(1),
                "load": In(1),
                "dump": In(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        if self.backend == "verilog":
            m.submodules.mem = Instance(
                VERILOG_MODULE,
                p_WIDTH=self.width,
                p_DEPTH=self.depth,
                p_ABITS=self.abits,
                p_FILE=self.file,
                p_DUMP=self.dump_file,
                i_clk=ClockSignal(),
                i_raddr=self.raddr,
                o_rdata=self.rdata,
                i_waddr=self.waddr,
                i_wdata=self.wdata,
                i_we=self.we,
                i_load=self.load,
                i_dump=self.dump,
            )
            return m
        m.submodules.mem = self.memory = Memory(shape=self.width, depth=self.depth, init=self.init)
        rd = read_port(self.memory)
        wr = write_port(self.memory)
        m.d.comb += [
            rd.addr.eq(self.raddr),
            self.rdata.eq(rd.data),
            wr.addr.eq(self.waddr),
            wr.data.eq(self.wdata),
            wr.en.eq(self.we),
        ]
        return m
