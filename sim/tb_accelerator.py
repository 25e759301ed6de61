"""cocotb test module for a ``bitscale_top``-shaped DUT (see docs/simulation.md).

Ports: clk, rst (synchronous, active high), s_axis_* (input frames),
m_axis_* (output frames), packed as :mod:`bitscale.hw.frame` says.

Parameters come from the JSON file named by ``$BITSCALE_SIM_PARAMS``:

* ``frame``: FrameFormat JSON; ``network``: path of the network.json
  (the golden model runs on it); ``inputs``: an .npy of uint8 frames
  (M, *input_shape), streamed in order.
* ``gaps`` / ``backpressure``: probability of an idle input cycle / of
  ``m_axis_tready`` low in a cycle (0 = back-to-back, always ready);
  ``seed``.
* ``latency_frame``: index of an input to send once more, alone, after the
  stream has drained, to measure latency (or null).
* ``timeout_cycles``: cycle budget for the whole stream; ``drain_cycles``:
  cycles to keep watching the output after the last expected frame (a
  duplicated frame shows up there); ``strict``: fail the test on any
  mismatch (otherwise only lost frames / timeouts fail it).
* ``result``: where to write the JSON result (outputs, per-frame match,
  beat cycles, latency, errors).
* ``prefix`` / ``idle_prefixes`` (multi-design builds, bitscale.sim.multi):
  the ports are ``<prefix>s_axis_*`` / ``<prefix>m_axis_*``; the other
  designs' inputs are held idle.

Driver (input frames, in order) -> golden model -> expected queue; output
monitor -> scoreboard (checker). Cycle numbers: see sim/axis.py.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.simtime import convert
from cocotb.triggers import ClockCycles, First, RisingEdge, Timer

from bitscale.hw.frame import FrameFormat
from bitscale.nn import golden, ir
from bitscale.sim.axis import AxisBus, AxisDriver, AxisMonitor, CycleClock, Frame, Scoreboard
from bitscale.sim.runner import CLOCK_PERIOD_NS, PARAMS_ENV


def golden_model(net, fmt: FrameFormat):
    """Input frame words -> the golden model's output values (num_classes ints)."""
    n_in = int(np.prod(net.input_shape))

    def model(frame) -> list[int]:
        vals = fmt.input.unpack(frame.words)[0][:n_in]
        return [int(v) for v in golden.run(net, vals.reshape(1, *net.input_shape))[0]]

    return model


def output_decoder(net, fmt: FrameFormat):
    def decode(words) -> list[int]:
        if len(words) != fmt.output.beats:
            raise ValueError(f"{len(words)} beats, a frame has {fmt.output.beats}")
        return [int(v) for v in fmt.output.unpack(words)[0][: net.num_classes]]

    return decode


async def reset(dut, prefix: str = "", idle=(), cycles: int = 5) -> None:
    dut.rst.value = 1
    getattr(dut, f"{prefix}s_axis_tvalid").value = 0
    getattr(dut, f"{prefix}m_axis_tready").value = 1
    for other in idle:  # the other designs of a multi-design build stay idle
        for port, v in (("s_axis_tvalid", 0), ("s_axis_tlast", 0), ("s_axis_tdata", 0), ("m_axis_tready", 0)):
            getattr(dut, f"{other}{port}").value = v
    await ClockCycles(dut.clk, cycles)
    dut.rst.value = 0
    await RisingEdge(dut.clk)


@cocotb.test()
async def stream_frames(dut):
    p = json.loads(Path(os.environ[PARAMS_ENV]).read_text())
    fmt = FrameFormat.from_json(p["frame"])
    net = ir.load(p["network"])
    x = np.load(p["inputs"])
    frames = [
        fmt.input.pack(
            np.concatenate([img.reshape(-1).astype(np.int64), np.zeros(fmt.input.frame_elems - img.size, np.int64)])
        )
        for img in x
    ]
    seed = int(p.get("seed", 0))

    period = int(convert(CLOCK_PERIOD_NS, "ns", to="step"))
    cocotb.start_soon(Clock(dut.clk, period, unit="step").start())
    clock = CycleClock(dut.clk, period)

    board = Scoreboard(golden_model(net, fmt), output_decoder(net, fmt), log=dut._log)
    prefix = p.get("prefix", "")
    await reset(dut, prefix, p.get("idle_prefixes", []))
    out_mon = AxisMonitor(
        AxisBus(dut, f"{prefix}m_axis"),
        clock,
        drive_ready=True,
        backpressure=float(p.get("backpressure", 0.0)),
        seed=seed + 1,
        callback=board.add_output,
    )
    # expectations are queued when a frame is sent, not when its last beat is taken: a frame's
    # output may legally leave before its last input beats are consumed (a max-pool drops the
    # last rows/columns of an odd-sized map, so its last pixels feed no output)
    driver = AxisDriver(AxisBus(dut, f"{prefix}s_axis"), clock, gaps=float(p.get("gaps", 0.0)), seed=seed)

    result = {"stream_frames": len(frames), "errors": [], "timed_out": False, "latency": None}
    budget = int(p["timeout_cycles"])
    start = clock.now()
    t0, cpu0 = time.perf_counter(), time.process_time()
    for words in frames:
        board.add_input(Frame(words))
        driver.send(words)
    await First(out_mon.frames_reached(len(frames)), Timer(budget * period, unit="step"))
    result["stream_wall_s"], result["stream_cycles"] = time.perf_counter() - t0, clock.now() - start
    result["stream_cpu_s"] = time.process_time() - cpu0
    if len(out_mon.frames) < len(frames):
        result["timed_out"] = True
        result["errors"].append(
            f"timeout: {len(out_mon.frames)} of {len(frames)} output frames after {clock.now() - start} cycles "
            f"({len(driver.sent)} input frames accepted, {len(out_mon.partial.words)} beats of an unfinished "
            f"output frame)"
        )
    else:
        # keep watching: a duplicated or spurious frame would appear now (a Timer: cocotb's
        # ClockCycles is a Python loop over edges)
        await Timer(int(p.get("drain_cycles", 100)) * period, unit="step")
    stream_out = list(out_mon.frames)
    result["received"] = len(stream_out)
    result["in_first_cycles"] = list(driver.first_cycles)
    result["out_last_cycles"] = [f.last_cycle for f in stream_out]
    result["out_first_cycles"] = [f.first_cycle for f in stream_out]

    lat = p.get("latency_frame")
    if lat is not None and not result["timed_out"] and len(stream_out) == len(frames):
        n_before = len(out_mon.frames)
        board.add_input(Frame(frames[int(lat)]))
        driver.send(frames[int(lat)])
        await First(out_mon.frames_reached(n_before + 1), Timer(budget * period, unit="step"))
        if len(out_mon.frames) > n_before:
            first_in, fout = driver.first_cycles[-1], out_mon.frames[n_before]
            result["latency"] = {
                "first_in": first_in,
                "last_out": fout.last_cycle,
                "cycles": fout.last_cycle - first_in,
                "match": board.results[n_before],
            }
        else:
            result["timed_out"] = True
            result["errors"].append("timeout waiting for the latency frame's output")

    result["sim_cycles"] = clock.now()
    result["outputs"] = board.outputs
    result["matches"] = board.results
    result["errors"] += out_mon.errors[:5] + board.errors
    if board.missing and not result["timed_out"]:
        result["errors"].append(f"{board.missing} input frame(s) never produced an output")
    if out_mon.partial.words:
        result["errors"].append(f"{len(out_mon.partial.words)} output beat(s) without tlast at the end")
    Path(p["result"]).write_text(json.dumps(result))

    assert not result["timed_out"], result["errors"][0]
    assert len(stream_out) <= len(frames), f"{len(stream_out) - len(frames)} extra output frame(s)"
    assert len(stream_out) == len(frames) and not board.missing, f"{len(frames) - len(stream_out)} frame(s) lost"
    if p.get("strict", True):
        assert not result["errors"], "; ".join(result["errors"][:5])
        assert all(board.results), f"{board.results.count(False)} frame(s) differ from the golden model"
