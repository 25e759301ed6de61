"""Amaranth-simulator helpers for stream components (tests and quick checks; not hardware).

:func:`run_stream` drives a component's input stream with a list of words
(optionally with random gaps) and collects output words (optionally with
random back-pressure), returning the words and the cycle each was taken.
"""

from __future__ import annotations

import random

from amaranth.hdl import Module, Signal, Value
from amaranth.sim import Simulator


def run_stream(
    dut, words, n_out, *, inp=None, out=None, in_gap=0.0, out_stall=0.0, seed=0, max_cycles=200_000, extra=None
):
    """Simulate ``dut``; returns (output words, cycle index of each output beat).

    ``inp``/``out`` default to ``dut.inp``/``dut.out``. ``extra`` may add more
    testbenches (called with the simulator). Raises AssertionError when
    ``max_cycles`` pass before ``n_out`` words came out.
    """
    inp = dut.inp if inp is None else inp
    out = dut.out if out is None else out
    # a payload that is not a plain signal (a data.View, hw/axis.FlatPayload) is set and sampled as its bits
    in_payload, out_payload = Value.cast(inp.payload), Value.cast(out.payload)
    got, cycles = [], []

    async def producer(ctx):
        rng = random.Random(seed)
        for w in words:
            while in_gap and rng.random() < in_gap:
                await ctx.tick()
            ctx.set(in_payload, w)
            ctx.set(inp.valid, 1)
            # wait for the beat to be taken; not tick().until(): the producer runs in the background, and an
            # until() still pending when the simulation ends leaves an async generator that cannot be closed
            # ("aclose(): asynchronous generator is already running")
            while True:
                *_, ready = await ctx.tick().sample(inp.ready)
                if ready:
                    break
            ctx.set(inp.valid, 0)

    async def consumer(ctx):
        rng = random.Random(seed + 1)
        cycle = 0
        while len(got) < n_out:
            ready = not (out_stall and rng.random() < out_stall)
            ctx.set(out.ready, ready)
            _, _, valid, payload = await ctx.tick().sample(out.valid, out_payload)
            if valid and ready:
                got.append(payload)
                cycles.append(cycle)
            cycle += 1
            if cycle > max_cycles:
                raise AssertionError(f"only {len(got)} of {n_out} output words after {max_cycles} cycles")
        ctx.set(out.ready, 0)

    # a toggling register guarantees a sync domain even for purely combinational dut's
    top = Module()
    top.submodules.dut = dut
    tick = Signal()
    top.d.sync += tick.eq(~tick)
    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(producer, background=True)
    sim.add_testbench(consumer)
    if extra:
        extra(sim)
    sim.run()
    return got, cycles


def run_accelerator(acc, frames, **kw):
    """Frames (N, *input_shape) of uint8 through an Accelerator; returns ((N, classes) int64, cycles, tlasts).

    ``cycles`` is the cycle of each output beat, ``tlasts`` the m_axis_tlast of each. The ports are
    driven as hw/axis.py streams (tlast in, unused by the core, stays low).
    """
    import numpy as np

    from bitscale.hw import axis

    fin, fout = acc.frame.input, acc.frame.output
    words = [w for f in frames for w in fin.pack(np.asarray(f).reshape(-1))]
    inp, out = axis.flat(acc, "s_axis"), axis.flat(acc, "m_axis")
    # an output word is the beat's payload: tdata, with tlast in the bit above it
    got, cycles = run_stream(acc, words, len(frames) * fout.beats, inp=inp, out=out, **kw)
    mask = (1 << fout.tdata_width) - 1
    lasts = [bool(w >> fout.tdata_width) for w in got]
    res = fout.unpack([w & mask for w in got]) if got else np.zeros((0, fout.frame_elems), np.int64)
    return res, cycles, lasts
