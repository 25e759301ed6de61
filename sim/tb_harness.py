"""cocotb test for ``bitscale_harness`` (hw/harness_top.py): the fast whole-network run.

cocotb is in charge but never touches a beat: it starts the clock, waits out the power-on reset,
pulses ``ctrl__load`` (the memories read ``in.hex`` / ``gold.hex`` from the
working directory with ``$readmemh``), starts one command for the stream and
sleeps on ``status__done`` (a single value-change callback, with a Timer as
the time limit), waits a drain period in one Timer step (a duplicated frame
would show up there), starts the latency command (one frame alone into the
idle accelerator, no stalls), pulses ``ctrl__dump`` and reads the captured
outputs and timestamps back from the ``$writememh`` files. It then compares
every output frame with the golden words and writes the same result JSON as
sim/tb_accelerator.py (outputs, matches, beat cycles, latency, errors).

(``ClockCycles(clk, n)`` is a Python loop of n edge waits in cocotb 2.1, so
long waits use ``Timer(n * period)``: one callback.)

Parameters (``$BITSCALE_SIM_PARAMS``): ``frame`` (FrameFormat JSON),
``frames`` (stream length), ``latency_frame`` (index or null), ``gap``,
``stall``, ``period``, ``hold``, ``seed`` (the harness's patterns, see
hw/stream_harness.py), ``timeout_cycles`` (time limit of a command),
``idle_cycles`` (the harness watchdog), ``drain_cycles``, ``num_classes``
(values decoded per output frame), ``result`` (where to write the JSON).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.simtime import convert, get_sim_time
from cocotb.triggers import First, RisingEdge, Timer

from bitscale.hw.frame import FrameFormat
from bitscale.hw.harness_top import POR_CYCLES
from bitscale.sim.runner import CLOCK_PERIOD_NS, PARAMS_ENV


def read_hex(path, count: int | None = None) -> list[int]:
    """Words of a $readmemh/$writememh file (comments, blank and @address lines skipped; x/z read as -1)."""
    words = []
    with open(path) as f:
        for line in f:
            for tok in line.split("//", 1)[0].split():
                if tok.startswith("@"):
                    continue
                try:
                    words.append(int(tok, 16))
                except ValueError:
                    words.append(-1)  # x or z: never a valid word
                if count is not None and len(words) >= count:
                    return words
    return words


def write_hex(path, words, width: int) -> None:
    digits = max(1, -(-width // 4))
    with open(path, "w") as f:
        f.write("".join(f"{w:0{digits}x}\n" for w in words))


async def _command(
    dut, period: int, first: int, count: int, p: dict, stalls: bool, limit: int, timing: dict | None = None
) -> bool:
    """One harness command; True when done rose before ``limit`` cycles.

    ``timing`` gets the command's wall seconds and clock cycles (start to done).
    """
    await RisingEdge(dut.clk)  # drive right after an edge (a Timer may end in an edge's time step)
    dut.ctrl__first.value = first
    dut.ctrl__count.value = count
    dut.ctrl__gap.value = int(p.get("gap", 0)) if stalls else 0
    dut.ctrl__stall.value = int(p.get("stall", 0)) if stalls else 0
    dut.ctrl__period.value = int(p.get("period", 0)) if stalls else 0
    dut.ctrl__hold.value = int(p.get("hold", 0)) if stalls else 0
    dut.ctrl__seed.value = int(p.get("seed", 0)) & 0xFFFFFFFF
    dut.ctrl__timeout.value = int(p.get("idle_cycles", 0))
    dut.ctrl__start.value = 1
    t0, cpu0, c0 = time.perf_counter(), time.process_time(), get_sim_time("step")
    await RisingEdge(dut.clk)
    dut.ctrl__start.value = 0
    done = RisingEdge(dut.status__done)
    await First(done, Timer(limit * period, unit="step"))
    if timing is not None:
        timing["wall_s"] = time.perf_counter() - t0
        timing["cpu_s"] = time.process_time() - cpu0  # this process: the simulator and cocotb
        timing["cycles"] = (get_sim_time("step") - c0) // period
    await RisingEdge(dut.clk)
    return str(dut.status__done.value) == "1" and str(dut.status__timed_out.value) != "1"


@cocotb.test()
async def run_harness(dut):
    p = json.loads(Path(os.environ[PARAMS_ENV]).read_text())
    fmt = FrameFormat.from_json(p["frame"])
    fout = fmt.output
    n = int(p["frames"])
    period = int(convert(CLOCK_PERIOD_NS, "ns", to="step"))
    if not p.get("internal_clock"):  # else the harness Verilog makes it (hw/harness_top.harness_verilog)
        Clock(dut.clk, period, unit="step").start()
    for name in ("start", "first", "count", "gap", "stall", "period", "hold", "seed", "timeout", "load", "dump"):
        getattr(dut, f"ctrl__{name}").value = 0
    await Timer((POR_CYCLES + 2) * period, unit="step")  # the harness top's power-on reset
    await RisingEdge(dut.clk)
    # the control inputs are registered once (hw/harness_top.py): a strobe acts an edge later
    dut.ctrl__load.value = 1  # $readmemh in.hex / gold.hex at the next-but-one edge
    await RisingEdge(dut.clk)
    dut.ctrl__load.value = 0
    await RisingEdge(dut.clk)
    await RisingEdge(dut.clk)

    result = {"stream_frames": n, "errors": [], "timed_out": False, "latency": None}
    limit = int(p["timeout_cycles"])
    timing: dict = {}
    ok = await _command(dut, period, 0, n, p, True, limit, timing)
    result["stream_wall_s"], result["stream_cycles"] = timing["wall_s"], timing["cycles"]
    result["stream_cpu_s"] = timing["cpu_s"]
    if not ok:
        result["timed_out"] = True
        result["errors"].append(
            f"timeout: {int(dut.status__frames_out.value)} of {n} output frames "
            f"({int(dut.status__frames_in.value)} input frames accepted)"
        )
    else:
        await Timer(int(p.get("drain_cycles", 100)) * period, unit="step")
    received = int(dut.status__frames_out.value)
    lat = p.get("latency_frame")
    sent = n
    if lat is not None and ok and received == n:
        sent += 1
        if not await _command(dut, period, int(lat), 1, p, False, limit):
            result["timed_out"] = True
            result["errors"].append("timeout waiting for the latency frame's output")
    dut.ctrl__dump.value = 1  # $writememh out / ts_in / ts_out at the next-but-one edge
    await RisingEdge(dut.clk)
    dut.ctrl__dump.value = 0
    await RisingEdge(dut.clk)
    await RisingEdge(dut.clk)
    total = int(dut.status__frames_out.value)
    result["sim_cycles"] = int(get_sim_time("step")) // period
    result["hw_bad_frames"] = int(dut.status__bad_frames.value)
    result["hw_tlast_errors"] = int(dut.status__tlast_errors.value)
    if int(dut.status__overflow.value):
        result["errors"].append("more output words than the harness's output memory holds")

    got = min(total, sent)
    out_words = read_hex("out.dump.hex", got * fout.beats)
    ts_in = read_hex("ts_in.dump.hex", sent)
    ts_out = read_hex("ts_out.dump.hex", got)
    gold = read_hex(p.get("gold_file", "gold.hex"), sent * fout.beats)
    classes = int(p["num_classes"])
    outputs, matches = [], []
    for k in range(got):
        words = out_words[k * fout.beats : (k + 1) * fout.beats]
        exp = gold[k * fout.beats : (k + 1) * fout.beats]
        good = words == exp
        matches.append(good)
        vals = [int(v) for v in fout.unpack(words)[0][:classes]] if min(words, default=0) >= 0 else []
        outputs.append(vals)
        if not good and len(result["errors"]) < 20:
            want = [int(v) for v in fout.unpack(exp)[0][:classes]]
            diff = [i for i, (a, b) in enumerate(zip(vals, want)) if a != b] if vals else "all"
            result["errors"].append(f"frame {k}: got {vals}, expected {want}, differs at {diff}")
    if result["hw_bad_frames"] != matches.count(False):
        result["errors"].append(
            f"the harness's golden compare counted {result['hw_bad_frames']} bad frame(s), "
            f"the testbench {matches.count(False)}"
        )
    if result["hw_tlast_errors"]:
        result["errors"].append(f"{result['hw_tlast_errors']} output beat(s) with a wrong tlast")
    if total > sent:
        result["errors"].append(f"{total - sent} extra output frame(s)")
    stream_n = min(got, n)
    result["received"] = received
    result["in_first_cycles"] = ts_in[:n]
    result["out_last_cycles"] = ts_out[:stream_n]
    if sent > n and got > n:
        result["latency"] = {
            "first_in": ts_in[n],
            "last_out": ts_out[n],
            "cycles": ts_out[n] - ts_in[n],
            "match": matches[n],
        }
    result["outputs"] = outputs  # the stream's frames, then the latency frame
    result["matches"] = matches
    Path(p["result"]).write_text(json.dumps(result))
    assert not result["timed_out"], result["errors"][0]
    assert received == n, f"{n - received} frame(s) lost" if received < n else f"{received - n} extra frame(s)"
