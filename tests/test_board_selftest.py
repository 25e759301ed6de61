"""The board self-test wrapper in cocotb on Verilator: what the LEDs and the UART would show.

The same ``bitscale_selftest`` Verilog that goes on a board (self-test ROMs +
the accelerator core) runs here; the testbench decodes the UART line bit by
bit from ``uart_tx``. A correct ROM must say PASS, a ROM with one golden word
corrupted on purpose must say FAIL at that frame.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.verilator, pytest.mark.training]


HERE = Path(__file__).resolve().parent
UART_DIVISOR = 8  # cycles per bit in simulation (115200 baud on the board)


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
            continue  # a glitch, not a start bit
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
        params = json.loads(Path(os.environ["BITSCALE_SIM_PARAMS"]).read_text())
        divisor, max_cycles = params["uart_divisor"], params["max_cycles"]
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
            "done": int(dut.done.value),
            "passed": int(dut.passed.value),
            "failed": int(dut.failed.value),
            "timed_out": int(dut.timed_out.value),
            "frames": int(dut.frames.value),
            "fail_frame": int(dut.fail_frame.value),
            "cycles": int(dut.cycles.value),
            "led": int(dut.led.value),
            "led_before": led_before,
            "done_cycle": done_cycle,
            "uart": bytes(received).decode("ascii", "replace"),
        }
        Path(params["result"]).write_text(json.dumps(result))


# ---------------------------------------------------------------------------------------------
# host side
# ---------------------------------------------------------------------------------------------


def run_selftest(tmp: Path, core_verilog: str, frame, rom, *, timeout_cycles=4000, max_cycles=20000) -> dict:
    """Build bitscale_selftest + the core with Verilator (sim/runner.py), run the bench, return what it saw."""
    from bitscale.boards.board_top import SELFTEST_MODULE, selftest_verilog
    from bitscale.sim.runner import build, run_test

    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "bitscale_top.v").write_text(core_verilog)
    (tmp / "bitscale_selftest.v").write_text(
        selftest_verilog(frame, rom, uart_divisor=UART_DIVISOR, repeat_cycles=0, timeout_cycles=timeout_cycles)
    )
    bdir = build(
        [tmp / "bitscale_selftest.v", tmp / "bitscale_top.v"],
        SELFTEST_MODULE,
        "verilator",
        cache_dir=tmp / "cache",
        opt="-O0",
        log=lambda *a: None,
    )
    if str(HERE) not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
    result = tmp / "result.json"
    run = run_test(
        bdir,
        SELFTEST_MODULE,
        "test_board_selftest",
        {"uart_divisor": UART_DIVISOR, "max_cycles": max_cycles, "result": str(result)},
        tmp / "run",
    )
    assert run.passed, run.summary()
    return json.loads(result.read_text())


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
            m.d.comb += [
                self.s_tready.eq(~sending),
                self.m_tvalid.eq(sending),
                self.m_tdata.eq(total + j),
                self.m_tlast.eq(j == fout.beats - 1),
            ]
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
    from bitscale.boards.selftest import SelfTestData

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


# --- a tiny trained fc on digits (real accelerator core) --------------------------------------

SMALL = {"pe": 2, "simd": 8, "mode": "bit-serial"}  # fits the iCE40 UP5K


def train_tiny_fc(run_dir: Path) -> Path:
    """fc 64-16-16-10, 2-bit weights and activations, on scikit-learn's digits (a few seconds)."""
    from bitscale.nn.train import TrainConfig, train

    train(
        TrainConfig(model="fc", wbits=2, abits=2, scale=1.0, dataset="digits", epochs=3, base=16, layers=2, seed=0),
        run_dir,
        log=lambda *a, **k: None,
    )
    return run_dir


def shared_fc_run(tmp_path_factory) -> Path:
    """The tiny trained fc, trained once per test session and shared by the pytest-xdist workers."""
    import fcntl

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by all workers of this session
    run = root / "board_fc_run"
    with open(root / "board_fc_run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (run / "network.json").is_file():  # train() renames a complete run into place
            train_tiny_fc(run)
    return run


def small_folding(net):
    from bitscale.hw.folding import Folding, LayerFolding

    return Folding(tuple(LayerFolding(l.name, SMALL["pe"], SMALL["simd"], SMALL["mode"]) for l in net.compute_layers))


@pytest.fixture(scope="module")
def fc_build(tmp_path_factory):
    """A build directory for iCEBreaker from a tiny trained fc: core + 8-frame self-test of the run's test set."""
    from bitscale.boards.board import add_board
    from bitscale.hw.generate import generate
    from bitscale.nn import ir

    tmp = tmp_path_factory.mktemp("fc")
    run = shared_fc_run(tmp_path_factory)
    net = ir.load(run)
    generate(net, small_folding(net), tmp / "build", run_dir=run)
    add_board(tmp / "build", "icebreaker", frames=8, log=lambda *a: None)
    return tmp / "build"


def test_selftest_rom_is_the_runs_test_set(fc_build):
    from bitscale.hw.frame import FrameFormat
    from bitscale.boards.selftest import SelfTestData
    from bitscale.nn import golden, ir
    from bitscale.nn.data import test_set

    design = json.loads((fc_build / "design.json").read_text())
    board = json.loads((fc_build / "board.json").read_text())
    assert board["selftest"]["images"].startswith("test set of") and board["selftest"]["frames"] == 8
    rom = SelfTestData.from_json(json.loads((fc_build / "selftest.json").read_text()))
    frame = FrameFormat.from_json(design["frame"])
    x, _ = test_set(design["run_dir"])
    net = ir.load(fc_build)
    assert np.array_equal(frame.input.unpack(rom.in_words), x[:8].reshape(8, -1))
    assert np.array_equal(frame.output.unpack(rom.gold_words), golden.run(net, x[:8]))


def test_selftest_fc_pass_and_fail(fc_build, tmp_path):
    """The LEDs and the UART say PASS for the right ROM and FAIL at the frame whose golden word was flipped."""
    from bitscale.hw.frame import FrameFormat
    from bitscale.boards.selftest import SelfTestData

    design = json.loads((fc_build / "design.json").read_text())
    frame = FrameFormat.from_json(design["frame"])
    rom = SelfTestData.from_json(json.loads((fc_build / "selftest.json").read_text()))
    core = (fc_build / "bitscale_top.v").read_text()
    n, per = rom.frames, design["model_cycles_per_frame"]
    budget = dict(timeout_cycles=4 * per + 1000, max_cycles=(n + 4) * per + 2000)

    ok = run_selftest(tmp_path / "pass", core, frame, rom, **budget)
    assert ok["uart"] == f"PASS {n}/{n}\r\n"
    assert (ok["done"], ok["passed"], ok["failed"], ok["timed_out"], ok["frames"]) == (1, 1, 0, 0, n)
    assert ok["led"] == 0b011 | (n << 3)  # led0 done, led1 pass, led[3:] frame count
    assert ok["led_before"] & 0b111 == 0  # nothing lit while running
    # back to back: N frames take about N model periods, not N latencies
    assert n * per <= ok["cycles"] <= (n + 3) * per

    k = 5
    bad = rom.corrupted(index=k * frame.output.beats + frame.output.beats - 1, bit=0)  # frame 5's last word
    ko = run_selftest(tmp_path / "fail", core, frame, bad, **budget)
    assert ko["uart"] == f"FAIL at frame {k}\r\n"
    assert (ko["done"], ko["passed"], ko["failed"], ko["timed_out"], ko["fail_frame"], ko["frames"]) == (
        1,
        0,
        1,
        0,
        k,
        n,
    )
    assert ko["led"] == 0b101 | (n << 3)
