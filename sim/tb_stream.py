"""cocotb test module for one stream block (an Amaranth ``inp``/``out`` stream component).

Parameters (JSON file named by ``$BITSCALE_SIM_PARAMS``): ``inp`` / ``out``
(port prefixes), ``style`` (``"stream"``: ``<p>__payload/__valid/__ready``;
``"axis"``: ``<p>_tdata/...``), ``frames`` (input frames, lists of words),
``expected`` (the model's output frames, lists of words, in order),
``out_beats`` (beats per output frame; used to cut frames when the port has
no ``last``), ``gaps``, ``backpressure``, ``seed``, ``timeout_cycles``,
``drain_cycles``, ``result`` (JSON written with outputs, per-frame match,
last-beat cycles, errors). The test fails on any mismatch, lost or extra frame.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.simtime import convert
from cocotb.triggers import ClockCycles, First, RisingEdge

from bitscale.sim.axis import AxisBus, AxisDriver, AxisMonitor, CycleClock, Frame, Scoreboard
from bitscale.sim.runner import CLOCK_PERIOD_NS, PARAMS_ENV


@cocotb.test()
async def stream_block(dut):
    p = json.loads(Path(os.environ[PARAMS_ENV]).read_text())
    period = int(convert(CLOCK_PERIOD_NS, "ns", to="step"))
    cocotb.start_soon(Clock(dut.clk, period, unit="step").start())
    clock = CycleClock(dut.clk, period)
    style = p.get("style", "stream")
    inp, out = AxisBus(dut, p.get("inp", "inp"), style), AxisBus(dut, p.get("out", "out"), style)

    expected = [list(map(int, f)) for f in p["expected"]]
    pending = iter(expected)
    board = Scoreboard(lambda frame: next(pending, []), log=dut._log)

    dut.rst.value = 1
    inp.tvalid.value = 0
    out.tready.value = 1
    await ClockCycles(dut.clk, 5)
    dut.rst.value = 0
    await RisingEdge(dut.clk)

    mon = AxisMonitor(
        out,
        clock,
        drive_ready=True,
        backpressure=float(p.get("backpressure", 0)),
        seed=int(p.get("seed", 0)) + 1,
        callback=board.add_output,
        frame_beats=int(p["out_beats"]),
    )
    drv = AxisDriver(inp, clock, gaps=float(p.get("gaps", 0)), seed=int(p.get("seed", 0)))
    for f in p["frames"]:
        board.add_input(Frame(f))  # at send time: an output may leave before its input's last beat
        drv.send([int(w) for w in f])
    n = len(expected)
    await First(mon.frames_reached(n), ClockCycles(dut.clk, int(p["timeout_cycles"])))
    timed_out = len(mon.frames) < n
    if not timed_out:
        await ClockCycles(dut.clk, int(p.get("drain_cycles", 100)))
    errors = mon.errors[:5] + list(board.errors)
    if timed_out:
        errors.insert(
            0,
            f"timeout: {len(mon.frames)} of {n} output frames, "
            f"{len(drv.sent)} of {len(p['frames'])} input frames accepted",
        )
    if len(mon.frames) > n:
        errors.append(f"{len(mon.frames) - n} extra output frame(s)")
    if mon.partial.words:
        errors.append(f"{len(mon.partial.words)} stray output beat(s) after the last frame")
    Path(p["result"]).write_text(
        json.dumps(
            {
                "outputs": [f.words for f in mon.frames],
                "matches": board.results,
                "out_last_cycles": [f.last_cycle for f in mon.frames],
                "in_first_cycles": list(drv.first_cycles),
                "errors": errors,
            }
        )
    )
    assert not errors, "; ".join(errors[:5])
