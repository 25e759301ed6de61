# pyright: reportGeneralTypeIssues=false
# (Amaranth's m.If/m.Elif/m.Else: hw/amaranth_types.py)
"""Board-level tops: the self-test wrapper around the accelerator core, on a board's clock, LEDs and UART.

The accelerator is the generated Verilog module ``bitscale_top`` (hw/generate.py),
instantiated as a black box, so the board top needs only the build
directory's ``design.json`` (frame format) and never re-elaborates the core.

* :class:`SelfTestTop` — :class:`~bitscale.boards.selftest.SelfTest` + the core, on the
  ``sync`` domain (ports ``clk``/``rst`` in Verilog). Converted to the Verilog
  module ``bitscale_selftest`` for cocotb and for the Xilinx self-test project.
* :class:`BoardTop` — SelfTestTop on an amaranth-boards platform: the accelerator
  clock from the family's PLL (boards/pll.py; EHXPLLL, SB_PLL40_PAD) with the reset
  released only after the PLL locks (synchronized) and a power-on delay, button 0
  restarts the test, the status on the LEDs (see ``LED_MAP``) and the UART line at
  115200 baud (divisor from the PLL's real output frequency). In simulation the PLL
  is a pass-through (:func:`pll_clock_domain` with a platform-less PLL).
"""

from __future__ import annotations

from amaranth import ClockDomain, ClockSignal, Elaboratable, Instance, Module, ResetSignal, Signal
from amaranth.hdl import DomainRenamer
from amaranth.lib import wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import Out

from bitscale.boards import BOARDS
from bitscale.hw.frame import FrameFormat
from bitscale.boards.selftest import LED_BITS, LED_COUNT, SelfTest, SelfTestData, status_members
from bitscale.boards.uart_tx import divisor_for

CORE_MODULE = "bitscale_top"
SELFTEST_MODULE = "bitscale_selftest"
BAUD = 115200

# What each board's LEDs show (boards.Board.leds): amaranth-boards ("led", index) -> SelfTest status.
LED_MAP = {b.name: dict(enumerate(b.leds)) for b in BOARDS.values() if b.leds}
_STATUS_BIT = {what: i for i, what in enumerate(LED_BITS)}


class SelfTestTop(wiring.Component):
    """The self-test wrapper driving the accelerator core ``bitscale_top`` (a Verilog black box)."""

    led: Signal  # signature members, created by wiring.Component.__init__ (and status_members())
    uart_tx: Signal

    def __init__(
        self,
        frame: FrameFormat,
        rom: SelfTestData,
        *,
        uart_divisor: int | None = None,
        repeat_cycles: int = 0,
        timeout_cycles: int = 1 << 24,
    ):
        self.frame, self.rom = frame, rom
        self.uart_divisor, self.repeat_cycles, self.timeout_cycles = uart_divisor, repeat_cycles, timeout_cycles
        super().__init__(
            {
                "led": Out(LED_COUNT),
                "uart_tx": Out(1, init=1),
                **status_members(),
            }
        )

    def elaborate(self, platform):
        m = Module()
        m.submodules.selftest = st = SelfTest(
            self.frame,
            self.rom,
            uart_divisor=self.uart_divisor,
            repeat_cycles=self.repeat_cycles,
            timeout_cycles=self.timeout_cycles,
        )
        m.submodules.core = Instance(
            CORE_MODULE,
            i_clk=ClockSignal(),
            i_rst=ResetSignal(),
            i_s_axis_tdata=st.src.payload.data,
            i_s_axis_tvalid=st.src.valid,
            o_s_axis_tready=st.src.ready,
            i_s_axis_tlast=st.src.payload.last,
            o_m_axis_tdata=st.sink.payload.data,
            o_m_axis_tvalid=st.sink.valid,
            i_m_axis_tready=st.sink.ready,
            o_m_axis_tlast=st.sink.payload.last,
        )
        for name in ("led", "uart_tx", "done", "passed", "failed", "timed_out", "frames", "fail_frame", "cycles"):
            m.d.comb += getattr(self, name).eq(getattr(st, name))
        return m


def selftest_verilog(frame: FrameFormat, rom: SelfTestData, **kw) -> str:
    """Verilog of :class:`SelfTestTop` as module ``bitscale_selftest`` (ports clk, rst, led, uart_tx, ...)."""
    from amaranth.back import verilog

    return verilog.convert(SelfTestTop(frame, rom, **kw), name=SELFTEST_MODULE, emit_src=False)


def pll_clock_domain(m: Module, pll, *, domain: str = "sync", por_cycles: int = 15):
    """Domain ``domain`` on the PLL's output, reset until the PLL is locked (the lock, asynchronous to
    the output clock, goes through a two-flop reset synchronizer: asserted at once, released on a
    clock edge) and then for ``por_cycles`` more cycles; returns the signal that is high while held.
    A lost lock resets the domain again. ``pll``: a :class:`bitscale.boards.pll.PLL` (its clk_in is
    the caller's to drive)."""
    from amaranth.lib.cdc import ResetSynchronizer

    m.submodules.pll = pll
    m.domains += ClockDomain(domain)
    m.d.comb += ClockSignal(domain).eq(pll.clk_out)
    m.submodules.lock_sync = ResetSynchronizer(~pll.locked, domain=domain)
    por = Signal(range(por_cycles + 1), name="por_count")
    held = Signal(name="por_held")
    m.d.comb += held.eq(por != por_cycles)
    with m.If(held):
        m.d[domain] += por.eq(por + 1)
    return held


class BoardTop(Elaboratable):
    """The self-test on an amaranth-boards platform (board name selects the LED mapping).

    ``pll``: the :class:`~bitscale.boards.pll.PllConfig` of the accelerator clock (the family's PLL
    from the board clock; the UART divisor and the self-test's repeat/timeout times come from its
    real output frequency); None runs everything on the board clock."""

    def __init__(
        self, board_name: str, frame: FrameFormat, rom: SelfTestData, *, repeat_seconds: float = 1.0, pll=None
    ):
        if board_name not in LED_MAP:
            raise ValueError(f"no board-level LED mapping for {board_name!r}; known: {', '.join(LED_MAP)}")
        self.board_name, self.frame, self.rom = board_name, frame, rom
        self.repeat_seconds = repeat_seconds
        self.pll = pll

    def elaborate(self, platform):
        m = Module()
        if self.pll is None:
            clk_hz = platform.default_clk_frequency
            # The platform's sync domain may be reset-less (ECP5 relies on the
            # configuration's initial values), so hold the test in reset for the
            # first 15 cycles after configuration with a counter of our own.
            por = Signal(4)
            with m.If(por != 15):
                m.d.sync += por.eq(por + 1)
            held = por != 15
        else:
            from bitscale.boards.pll import PLL

            clk_hz = self.pll.fout_hz
            if self.pll.family == "ice40":
                # SB_PLL40_PAD takes the reference straight from the clock pin (the board's clock
                # pin is the PLL's pad on the iCEBreaker), no input buffer in between
                pad = platform.request(platform.default_clk, 0, dir="-")
                pll = PLL(self.pll, pad=pad.io)
            else:
                clk_in = platform.request(platform.default_clk, 0)
                pll = PLL(self.pll)
                m.d.comb += pll.clk_in.eq(clk_in.i)
            # iCE40 block RAMs read zeroes for ~3 us after configuration: hold 15 us (as Amaranth does)
            # (nextpnr derives the PLL output's clock constraint from the board clock and the dividers)
            held = pll_clock_domain(m, pll, por_cycles=max(15, int(15e-6 * clk_hz)))
        # Button 0 restarts the test: the core and the self-test sit on a domain
        # reset by the power-on reset (after the PLL's lock) or the (synchronized) button.
        button = platform.request("button", 0)
        pressed = Signal(name="button_pressed")
        m.submodules.button_sync = FFSynchronizer(button.i, pressed)
        m.domains.test = ClockDomain("test")
        # the test domain's reset comes from a flip-flop (asserted from configuration on, one cycle
        # after held/pressed): the power-on counter's comparison no longer sits in front of the reset
        # net of every core register (iCEBreaker: that path limited the board clock to 37 MHz, #13)
        test_rst = Signal(init=1, name="test_rst")
        m.d.sync += test_rst.eq(held | pressed)
        m.d.comb += [ClockSignal("test").eq(ClockSignal("sync")), ResetSignal("test").eq(test_rst)]

        top = SelfTestTop(
            self.frame,
            self.rom,
            uart_divisor=divisor_for(clk_hz, BAUD),
            repeat_cycles=int(clk_hz * self.repeat_seconds),
            timeout_cycles=int(clk_hz),
        )
        m.submodules.selftest = DomainRenamer("test")(top)

        if self.board_name == "icebreaker":
            platform.add_resources(platform.break_off_pmod)
        for index, what in LED_MAP[self.board_name].items():
            led = platform.request("led", index)
            m.d.comb += led.o.eq(top.led[_STATUS_BIT[what]])
        uart = platform.request("uart", 0)
        m.d.comb += uart.tx.o.eq(top.uart_tx)
        return m
