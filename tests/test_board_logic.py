"""The self-test's logic in Amaranth's simulator, randomized with hypothesis: UART framing, the decimal
frame numbers in the status line, the watchdog and the repeated line.

(The same wrapper on Verilator with the real accelerator: test_board_selftest.py.)
"""

from __future__ import annotations

import numpy as np
from amaranth import Elaboratable, Module, Signal
from amaranth.sim import Simulator
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bitscale.hw.frame import FrameFormat, StreamFormat
from bitscale.boards.selftest import SelfTest, SelfTestData
from bitscale.boards.uart_tx import UARTTx, divisor_for

FRAME = FrameFormat(StreamFormat(4, 8, False, 2), StreamFormat(1, 16, True, 3))
SETTINGS = dict(max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


def decode_uart(wave: list[int], divisor: int) -> bytes:
    """8N1 bytes from a per-cycle sample of the line; asserts stop bits and idle-high between bytes."""
    out, i = [], 0
    while i < len(wave):
        if wave[i] == 1:
            i += 1
            continue
        mid = i + divisor // 2
        if mid + 9 * divisor >= len(wave):
            break  # a byte cut off at the end of the run
        assert wave[mid] == 0, "start bit too short"
        byte = sum(wave[mid + (k + 1) * divisor] << k for k in range(8))
        assert wave[mid + 9 * divisor] == 1, "missing stop bit"
        out.append(byte)
        i = mid + 9 * divisor
    return bytes(out)


@settings(**SETTINGS)
@given(data=st.lists(st.integers(0, 255), min_size=1, max_size=4), divisor=st.integers(2, 7))
def test_uart_tx_frames_bytes(data, divisor):
    dut = UARTTx(divisor)
    wave = []

    async def bench(ctx):
        for b in data:
            ctx.set(dut.data.valid, 1)
            ctx.set(dut.data.payload, b)
            while True:
                taken = ctx.get(dut.data.ready)  # valid & ready before this edge: taken at it
                await ctx.tick()
                wave.append(ctx.get(dut.tx))
                if taken:
                    break
        ctx.set(dut.data.valid, 0)
        for _ in range(11 * divisor + 2):
            await ctx.tick()
            wave.append(ctx.get(dut.tx))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert decode_uart(wave, divisor) == bytes(data)
    # back to back: the line is busy for exactly 10 bit times a byte, then idles high
    first_low = wave.index(0)
    assert all(v == 1 for v in wave[:first_low])
    assert all(v == 1 for v in wave[first_low + 10 * divisor * len(data) :])
    assert wave[first_low + 10 * divisor * len(data) - divisor :][:divisor] == [1] * divisor  # last stop bit


def test_divisor_for():
    assert divisor_for(12e6) == 104 and divisor_for(25e6) == 217
    with pytest.raises(ValueError, match="115200 baud"):
        divisor_for(150e3)


class Harness(Elaboratable):
    """SelfTest driving a stand-in core: out word j of a frame = (sum of its input words + j) mod 2^16."""

    def __init__(self, rom, *, hang=False, stall=0, **kw):
        self.st = SelfTest(FRAME, rom, uart_divisor=2, **kw)
        self.hang, self.stall = hang, stall

    def elaborate(self, platform):
        m = Module()
        m.submodules.st = s = self.st
        fout = FRAME.output
        total = Signal(16)
        j = Signal(range(fout.beats))
        sending = Signal()
        gap = Signal(range(self.stall + 1))  # cycles the core idles after each input beat
        m.d.comb += [
            s.src.ready.eq(~sending & (gap == 0)),
            s.sink.valid.eq(sending & (not self.hang)),
            s.sink.payload.data.eq(total + j),
            s.sink.payload.last.eq(j == fout.beats - 1),
        ]
        with m.If(gap != 0):
            m.d.sync += gap.eq(gap - 1)
        with m.If(s.src.valid & s.src.ready):
            m.d.sync += [total.eq(total + s.src.payload.data), gap.eq(self.stall)]
            with m.If(s.src.payload.last):
                m.d.sync += sending.eq(1)
        with m.If(s.sink.valid & s.sink.ready):
            m.d.sync += j.eq(j + 1)
            with m.If(s.sink.payload.last):
                m.d.sync += [sending.eq(0), j.eq(0), total.eq(0)]
        return m


def rom_for(n, seed=0) -> SelfTestData:
    rng = np.random.default_rng(seed)
    ins, gold = [], []
    for _ in range(n):
        w = FRAME.input.pack(rng.integers(0, 256, FRAME.input.frame_elems))
        ins += w
        gold += [(sum(w) + j) & 0xFFFF for j in range(FRAME.output.beats)]
    return SelfTestData(n, tuple(ins), tuple(gold))


def run_harness(h: Harness, lines: int = 1, limit: int = 40000) -> dict:
    s = h.st
    wave, seen = [], {}

    async def bench(ctx):
        for cycle in range(limit):
            await ctx.tick()
            wave.append(ctx.get(s.uart_tx))
            if ctx.get(s.done) and "done" not in seen:
                seen.update(
                    done=cycle,
                    passed=ctx.get(s.passed),
                    failed=ctx.get(s.failed),
                    timed_out=ctx.get(s.timed_out),
                    frames=ctx.get(s.frames),
                    fail_frame=ctx.get(s.fail_frame),
                    led=ctx.get(s.led),
                    cycles=ctx.get(s.cycles),
                )
            if "done" in seen and wave[-1] == 1 and decode_uart(wave, 2).count(b"\n") >= lines:
                # let the stop bit finish, then stop
                break

    sim = Simulator(h)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    seen["uart"] = decode_uart(wave, 2).decode()
    return seen


@settings(**SETTINGS)
@given(
    n=st.integers(1, 24),
    bad=st.one_of(st.none(), st.integers(0, 23)),
    stall=st.integers(0, 2),
    word=st.integers(0, 2),
    bit=st.integers(0, 15),
)
@example(n=12, bad=10, stall=0, word=2, bit=15)  # two digits
@example(n=20, bad=0, stall=1, word=0, bit=0)  # a leading zero not shown
@example(n=10, bad=None, stall=0, word=0, bit=0)
def test_selftest_status_line(n, bad, stall, word, bit):
    rom = rom_for(n, seed=n)
    if bad is not None:
        bad %= n
        rom = rom.corrupted(bad * FRAME.output.beats + word, bit)
    r = run_harness(Harness(rom, stall=stall, timeout_cycles=200))
    assert r["frames"] == n and r["timed_out"] == 0
    if bad is None:
        assert r["uart"] == f"PASS {n}/{n}\r\n"
        assert (r["passed"], r["failed"], r["led"] & 0b111) == (1, 0, 0b011)
    else:
        assert r["uart"] == f"FAIL at frame {bad}\r\n"  # decimal, no leading zeros
        assert (r["passed"], r["failed"], r["fail_frame"], r["led"] & 0b111) == (0, 1, bad, 0b101)
    assert r["led"] >> 3 == n % 32


def test_selftest_timeout_and_repeat():
    """A core that never answers: the watchdog fails frame 0; the line repeats every repeat_cycles."""
    r = run_harness(Harness(rom_for(3), hang=True, timeout_cycles=100, repeat_cycles=50), lines=2)
    assert r["uart"] == "FAIL timeout at frame 0\r\n" * 2
    assert (r["timed_out"], r["failed"], r["passed"], r["frames"]) == (1, 1, 0, 0)
    assert 100 <= r["done"] <= 110


@pytest.mark.filterwarnings("ignore:.*created but never used")
def test_selftest_rejects_bad_roms():
    rom = rom_for(2)
    with pytest.raises(ValueError, match="need 6 words"):
        SelfTest(FRAME, SelfTestData(2, rom.in_words, rom.gold_words[:-1]))
    with pytest.raises(ValueError, match="does not fit 16 bits"):
        SelfTest(FRAME, SelfTestData(2, rom.in_words, rom.gold_words[:-1] + (1 << 16,)))
    with pytest.raises(ValueError, match="at least one frame"):
        SelfTest(FRAME, SelfTestData(0, (), ()))
