# pyright: reportGeneralTypeIssues=false
# (Amaranth's m.If/m.Elif/m.Else: hw/amaranth_types.py)
"""Board self-test: stream ROM images through an AXI-Stream accelerator and check every output word.

The :class:`SelfTest` component holds two ROMs: N test frames packed as the
accelerator's input words, and their golden outputs packed as its output words
(both with :mod:`bitscale.hw.frame`). After reset it streams the N frames back
to back into the accelerator (``src`` -> ``s_axis``), accepts every output beat
(``m_axis`` -> ``sink``, always ready) and compares it with the golden ROM,
``tlast`` included. When all N frames are back (or no output beat arrived for
``timeout_cycles``) it raises ``done`` and reports.

Guaranteed outputs (all hold their value until reset):

* ``done``: all N frames received, or timed out.
* ``passed`` = done and every word and every ``tlast`` matched; ``failed``:
  a mismatch (or the timeout) was seen — ``failed`` rises at the first bad word,
  before ``done``.
* ``frames``: frames received completely so far; ``fail_frame``: the 0-based
  index of the first bad frame.
* ``cycles``: clock cycles from the first input beat accepted to the last
  output beat (the latency of N back-to-back frames).
* ``led`` (8 bits): led[0]=done, led[1]=pass, led[2]=fail, led[3:8] = frames
  (low 5 bits). Board tops map these onto the LEDs they have (docs/board.md).
* ``uart_tx`` (when a UART divisor is given): after done, one line
  ``PASS 16/16\\r\\n``, ``FAIL at frame 3\\r\\n`` or
  ``FAIL timeout at frame 3\\r\\n`` at 8N1, repeated every ``repeat_cycles``
  (0: once).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from bitscale.hw import axis
from bitscale.hw.amaranth_types import read_port
from bitscale.hw.frame import FrameFormat
from bitscale.boards.uart_tx import UARTTx

LED_COUNT = 8
# what bit i of SelfTest.led shows (the order elaborate() packs them in); frames[k]: bit k of the frame count.
# The board tops (boards/board_top.py, the Vivado top in boards/vivado.py) name their LEDs by these.
LED_BITS = ("done", "pass", "fail", *(f"frames[{k}]" for k in range(LED_COUNT - 3)))


def status_members() -> dict:
    """The self-test's status outputs, which the board top passes through: one declaration."""
    return {
        "done": Out(1),
        "passed": Out(1),
        "failed": Out(1),
        "timed_out": Out(1),
        "frames": Out(16),
        "fail_frame": Out(16),
        "cycles": Out(32),
    }


@dataclass(frozen=True)
class SelfTestData:
    """ROM contents of a self-test: input words and golden output words, N frames of each."""

    frames: int
    in_words: tuple[int, ...]
    gold_words: tuple[int, ...]

    def to_json(self) -> dict:
        return {
            "frames": self.frames,
            "in_words": [str(w) for w in self.in_words],
            "gold_words": [str(w) for w in self.gold_words],
        }

    @staticmethod
    def from_json(doc: dict) -> "SelfTestData":
        return SelfTestData(
            int(doc["frames"]), tuple(int(w) for w in doc["in_words"]), tuple(int(w) for w in doc["gold_words"])
        )

    def corrupted(self, index: int, bit: int = 0) -> "SelfTestData":
        """The same data with one bit of golden word ``index`` flipped (to prove the test can fail)."""
        gold = list(self.gold_words)
        gold[index] ^= 1 << bit
        return SelfTestData(self.frames, self.in_words, tuple(gold))


def selftest_data(net, frame: FrameFormat, images) -> SelfTestData:
    """Pack ``images`` (uint8, shaped like the network input) and their golden outputs."""
    from bitscale.nn import golden

    images = np.asarray(images)
    outs = golden.run(net, images)
    in_words, gold_words = [], []
    for x, y in zip(images, outs):
        in_words += frame.input.pack(x.reshape(-1))
        gold_words += frame.output.pack(y)
    return SelfTestData(len(images), tuple(in_words), tuple(gold_words))


def message_lengths(frames: int) -> dict[str, int]:
    """Longest line (bytes, with CR LF) of each kind, for sizing the UART time in tests."""
    d = len(str(frames))
    return {
        "pass": len(f"PASS {frames}/{frames}\r\n"),
        "fail": len("FAIL at frame \r\n") + d,
        "timeout": len("FAIL timeout at frame \r\n") + d,
    }


class _BCDCounter:
    """A decimal counter (one 4-bit digit per decade, most significant first) for the UART line."""

    def __init__(self, m: Module, digits: int, name: str):
        self.digits = [Signal(4, name=f"{name}_d{i}") for i in range(digits)]
        self.m = m

    def increment(self):
        carry = Const(1, 1)
        for i, d in reversed(list(enumerate(self.digits))):
            wrap = d == 9
            with self.m.If(carry):
                self.m.d.sync += d.eq(Mux(wrap, 0, d + 1))
            nxt = Signal(name=f"{d.name}_carry")
            self.m.d.comb += nxt.eq(carry & wrap)
            carry = nxt


class SelfTest(wiring.Component):
    """Self-test of an AXI-Stream accelerator with the frame format ``frame`` (see module doc)."""

    # signature members (status_members() and below), created by wiring.Component.__init__
    src: axis.Interface
    sink: axis.Interface
    done: Signal
    passed: Signal
    failed: Signal
    timed_out: Signal
    frames: Signal
    fail_frame: Signal
    cycles: Signal
    led: Signal
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
        try:
            self._check(frame, rom, repeat_cycles, timeout_cycles)
        except ValueError:
            self._MustUse__silence = True  # never elaborated: no "created but never used" warning
            raise
        self.frame, self.rom = frame, rom
        self.uart_divisor, self.repeat_cycles, self.timeout_cycles = uart_divisor, repeat_cycles, timeout_cycles
        super().__init__(
            {
                "src": Out(axis.signature(frame.input.tdata_width)),
                "sink": In(axis.signature(frame.output.tdata_width)),
                **status_members(),
                "led": Out(LED_COUNT),
                "uart_tx": Out(1, init=1),
            }
        )

    @staticmethod
    def _check(frame: FrameFormat, rom: SelfTestData, repeat_cycles: int, timeout_cycles: int) -> None:
        n = rom.frames
        if n < 1:
            raise ValueError(f"a self-test needs at least one frame, not {n!r}")
        if len(rom.in_words) != n * frame.input.beats:
            raise ValueError(
                f"{n} frames of {frame.input.beats} input beats need {n * frame.input.beats} "
                f"words, not {len(rom.in_words)}"
            )
        if len(rom.gold_words) != n * frame.output.beats:
            raise ValueError(
                f"{n} frames of {frame.output.beats} output beats need {n * frame.output.beats} "
                f"words, not {len(rom.gold_words)}"
            )
        for what, words, width in (
            ("input", rom.in_words, frame.input.tdata_width),
            ("golden", rom.gold_words, frame.output.tdata_width),
        ):
            bad = [w for w in words if not 0 <= w < (1 << width)]
            if bad:
                raise ValueError(f"{what} word {bad[0]} does not fit {width} bits")
        if timeout_cycles < 1 or repeat_cycles < 0:
            raise ValueError(
                f"timeout_cycles must be >= 1 and repeat_cycles >= 0, not {timeout_cycles!r}/{repeat_cycles!r}"
            )

    def elaborate(self, platform):
        m = Module()
        n = self.rom.frames
        fin, fout = self.frame.input, self.frame.output

        # Both ROMs are read synchronously (so they map to block RAM); the read
        # address runs one word ahead on every handshake, so the word on the
        # read port is always the one at the current index.
        primed = Signal()
        m.d.sync += primed.eq(1)

        # --- source: N frames back to back -----------------------------------
        n_in = n * fin.beats
        m.submodules.in_rom = in_rom = Memory(shape=fin.tdata_width, depth=n_in, init=self.rom.in_words)
        in_rd = read_port(in_rom)
        in_idx = Signal(range(n_in + 1))
        in_beat = Signal(range(fin.beats))
        src_fire = Signal()
        m.d.comb += [
            self.src.valid.eq(primed & (in_idx < n_in)),
            self.src.payload.data.eq(in_rd.data),
            self.src.payload.last.eq(in_beat == fin.beats - 1),
            src_fire.eq(self.src.valid & self.src.ready),
            in_rd.addr.eq(Mux(src_fire, in_idx + 1, in_idx)),
        ]
        with m.If(src_fire):
            m.d.sync += [in_idx.eq(in_idx + 1), in_beat.eq(Mux(in_beat == fin.beats - 1, 0, in_beat + 1))]

        # --- sink: compare every output beat with the golden ROM ----------------
        n_out = n * fout.beats
        m.submodules.gold_rom = gold_rom = Memory(shape=fout.tdata_width, depth=n_out, init=self.rom.gold_words)
        gold_rd = read_port(gold_rom)
        out_idx = Signal(range(n_out + 1))
        out_beat = Signal(range(fout.beats))
        frames = Signal(16)
        done, failed, timed_out = Signal(), Signal(), Signal()
        sink_fire = Signal()
        expect_last = Signal()
        mismatch = Signal()
        m.d.comb += [
            self.sink.ready.eq(primed & ~done),
            sink_fire.eq(self.sink.valid & self.sink.ready),
            gold_rd.addr.eq(Mux(sink_fire, out_idx + 1, out_idx)),
            expect_last.eq(out_beat == fout.beats - 1),
            mismatch.eq((self.sink.payload.data != gold_rd.data) | (self.sink.payload.last != expect_last)),
        ]
        digits = len(str(n))
        frames_bcd = _BCDCounter(m, digits, "frames_bcd")
        fail_bcd = [Signal(4, name=f"fail_bcd_d{i}") for i in range(digits)]
        fail_frame = Signal(16)

        def record_failure():
            with m.If(~failed):
                m.d.sync += [failed.eq(1), fail_frame.eq(frames)]
                m.d.sync += [f.eq(d) for f, d in zip(fail_bcd, frames_bcd.digits)]

        with m.If(sink_fire):
            m.d.sync += [out_idx.eq(out_idx + 1), out_beat.eq(Mux(expect_last, 0, out_beat + 1))]
            with m.If(mismatch):
                record_failure()
            with m.If(expect_last):
                m.d.sync += frames.eq(frames + 1)
                frames_bcd.increment()
                with m.If(frames == n - 1):
                    m.d.sync += done.eq(1)

        # --- watchdog: no output beat for timeout_cycles -> fail -------------------
        idle = Signal(range(self.timeout_cycles + 1))
        with m.If(sink_fire | done | ~primed):
            m.d.sync += idle.eq(0)
        with m.Elif(idle == self.timeout_cycles - 1):
            m.d.sync += [done.eq(1), timed_out.eq(1)]
            record_failure()
        with m.Else():
            m.d.sync += idle.eq(idle + 1)

        # --- cycle counter: first input beat accepted .. done ------------------------
        started = Signal()
        cycles = Signal(32)
        with m.If(src_fire):
            m.d.sync += started.eq(1)
        with m.If((started | src_fire) & ~done):
            m.d.sync += cycles.eq(cycles + 1)

        passed = Signal()
        m.d.comb += [
            passed.eq(done & ~failed),
            self.done.eq(done),
            self.failed.eq(failed),
            self.passed.eq(passed),
            self.timed_out.eq(timed_out),
            self.frames.eq(frames),
            self.fail_frame.eq(fail_frame),
            self.cycles.eq(cycles),
            self.led.eq(Cat(done, passed, failed, frames[: LED_COUNT - 3])),
        ]

        if self.uart_divisor is not None:
            self._elaborate_uart(m, self.uart_divisor, n, done, failed, timed_out, fail_bcd)
        return m

    def _elaborate_uart(self, m, divisor: int, n, done, failed, timed_out, fail_bcd):
        """One status line after done: a sequencer over constant characters and fail-frame digits."""
        m.submodules.uart = uart = UARTTx(divisor)
        m.d.comb += self.uart_tx.eq(uart.tx)

        # Each line is a list of items: an int (a character) or ("digit", i).
        dig = [("digit", i) for i in range(len(fail_bcd))]
        lines = {
            0: [ord(c) for c in f"PASS {n}/{n}\r\n"],
            1: [ord(c) for c in "FAIL at frame "] + dig + [13, 10],
            2: [ord(c) for c in "FAIL timeout at frame "] + dig + [13, 10],
        }
        longest = max(len(v) for v in lines.values())
        kind = Signal(2)
        pos = Signal(range(longest + 1))
        char = Signal(8)
        skip = Signal()  # a leading zero of the frame number: not sent
        at_end = Signal()

        # leading[i]: digits 0..i (most significant first) are all zero
        leading = []
        acc = Const(1, 1)
        for i, d in enumerate(fail_bcd):
            z = Signal(name=f"fail_bcd_lead{i}")
            m.d.comb += z.eq(acc & (d == 0))
            leading.append(z)
            acc = z

        with m.Switch(kind):
            for k, items in lines.items():
                with m.Case(k):
                    m.d.comb += at_end.eq(pos == len(items))
                    with m.Switch(pos):
                        for p, item in enumerate(items):
                            with m.Case(p):
                                if isinstance(item, int):
                                    m.d.comb += char.eq(item)
                                else:
                                    i = item[1]
                                    m.d.comb += char.eq(0x30 + fail_bcd[i])
                                    if i < len(fail_bcd) - 1:  # the last digit always shows
                                        m.d.comb += skip.eq(leading[i])

        wait = Signal(range(max(self.repeat_cycles, 1) + 1))
        with m.FSM(name="uart_seq"):
            with m.State("IDLE"):
                with m.If(done):
                    m.d.sync += [kind.eq(Mux(timed_out, 2, Mux(failed, 1, 0))), pos.eq(0)]
                    m.next = "SEND"
            with m.State("SEND"):
                with m.If(at_end):
                    m.d.sync += wait.eq(0)
                    m.next = "WAIT"
                with m.Elif(skip):
                    m.d.sync += pos.eq(pos + 1)
                with m.Else():
                    m.d.comb += [uart.data.valid.eq(1), uart.data.payload.eq(char)]
                    with m.If(uart.data.ready):
                        m.d.sync += pos.eq(pos + 1)
            with m.State("WAIT"):
                if self.repeat_cycles:
                    with m.If(uart.data.ready):  # the last byte is out
                        m.d.sync += wait.eq(wait + 1)
                        with m.If(wait == self.repeat_cycles - 1):
                            m.d.sync += pos.eq(0)
                            m.next = "SEND"
