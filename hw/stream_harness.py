# pyright: reportGeneralTypeIssues=false
# (Amaranth's m.If/m.Elif/m.Else: hw/amaranth_types.py)
"""HDL-side stream harness: frames stream from simulation memories into an accelerator at native speed.

:class:`StreamHarness` sits beside an AXI-Stream accelerator in simulation
(docs/simulation.md, "Fast harness"). Its memories (hw/sim_memory.py):

* ``in``: input frames, ``in_frames`` x ``frame.input.beats`` words, in
  input order (the board self-test's ROM packing, boards/selftest.py);
* ``gold``: the golden output words, ``out_frames`` x ``frame.output.beats``,
  in output order (frame k of the output is compared with gold frame k);
* ``out``: every output word captured, in order;
* ``ts_in`` / ``ts_out``: the cycle of the first accepted input beat of
  the k-th frame sent (in send order, over all commands) / of the last
  output beat of the k-th output frame (``out_frames`` deep).

A command (``ctrl.start`` high for a cycle while not busy) streams input
frames ``ctrl.first .. ctrl.first + ctrl.count - 1`` into ``src`` and then
waits until ``count`` more output frames have arrived on ``sink`` (or no
output beat came for ``ctrl.timeout`` cycles): ``status.done`` rises and
stays high until the next start. Commands accumulate: the output index runs
on, so a second command's frames land after the first's (the latency frame).

Valid/ready patterns (sampled at start, one Galois LFSR per side seeded from
``ctrl.seed``):

* ``ctrl.gap`` (0..255): in each cycle in which ``src`` is not already
  holding a beat, ``src.valid`` stays low with probability gap/256 (once
  offered, a beat is held until taken: AXI-Stream);
* ``ctrl.stall`` (0..255): ``sink.ready`` low with probability stall/256;
* ``ctrl.period`` / ``ctrl.hold``: with period > 0, ``sink.ready`` is also
  low in the first ``hold`` cycles of every ``period`` cycles (periodic
  back-pressure).
All zero: continuous (valid never drops between beats or frames, ready
always high).

``status``: ``cycle`` (free-running since reset; timestamps use it),
``frames_in``/``frames_out`` (totals), ``bad_frames`` (output frames with a
word or ``last`` different from the gold memory: the self-test's golden
compare), ``first_bad``, ``tlast_errors``, ``overflow`` (more output words
than the ``out`` memory holds).

Guaranteed: a beat is taken in the cycle in which valid and ready are both
high, and that is the cycle the timestamps record (the cocotb driver's
convention, sim/axis.py), so cycles per frame and latency equal the per-beat
testbench's on the same DUT; the patterns only delay beats, never drop or
repeat one.
"""

from __future__ import annotations

from typing import Any

from amaranth import Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from bitscale.hw import axis
from bitscale.hw.frame import FrameFormat
from bitscale.hw.sim_memory import SimMemory

TS_BITS = 48
LFSR_TAPS = 0x80200003  # x^32 + x^22 + x^2 + x + 1 (maximal)
SINK_SEED_XOR = 0x9E3779B9

CONTROL = wiring.Signature(
    {
        "start": Out(1),
        "first": Out(32),
        "count": Out(32),
        "gap": Out(8),
        "stall": Out(8),
        "period": Out(16),
        "hold": Out(16),
        "seed": Out(32),
        "timeout": Out(32),
        "load": Out(1),
        "dump": Out(1),
    }
)

STATUS = wiring.Signature(
    {
        "busy": Out(1),
        "done": Out(1),
        "timed_out": Out(1),
        "cycle": Out(TS_BITS),
        "frames_in": Out(32),
        "frames_out": Out(32),
        "bad_frames": Out(32),
        "first_bad": Out(32),
        "tlast_errors": Out(32),
        "overflow": Out(1),
    }
)

MEMORIES = ("in", "gold", "out", "ts_in", "ts_out")
LOADED = ("in", "gold")  # ctrl.load reads these from in.hex / gold.hex
DUMPED = ("out", "ts_in", "ts_out")  # ctrl.dump writes these (in/gold are only loaded)


def lfsr_next(value: int) -> int:
    """The harness LFSR's next state (Python model, for tests)."""
    return (value >> 1) ^ (LFSR_TAPS if value & 1 else 0)


def lfsr_seed(seed: int, sink: bool = False) -> int:
    s = (seed ^ (SINK_SEED_XOR if sink else 0)) & 0xFFFFFFFF
    return s or 1


class StreamHarness(wiring.Component):
    """Source, sink and memories for ``in_frames`` input and ``out_frames`` output frames of ``frame``."""

    # signature members, created by wiring.Component.__init__
    src: axis.Interface
    sink: axis.Interface
    ctrl: Any  # In(CONTROL): Amaranth creates its members at run time
    status: Any  # Out(STATUS)

    def __init__(
        self,
        frame: FrameFormat,
        in_frames: int,
        out_frames: int,
        *,
        backend: str = "amaranth",
        in_words=(),
        gold_words=(),
    ):
        if in_frames < 1 or out_frames < 1:
            raise ValueError(f"in_frames and out_frames must be >= 1, not {in_frames!r}/{out_frames!r}")
        self.frame, self.in_frames, self.out_frames, self.backend = frame, in_frames, out_frames, backend
        fin, fout = frame.input, frame.output
        self.mems = {
            "in": SimMemory(fin.tdata_width, in_frames * fin.beats, backend=backend, file="in.hex", init=in_words),
            "gold": SimMemory(
                fout.tdata_width, out_frames * fout.beats, backend=backend, file="gold.hex", init=gold_words
            ),
            "out": SimMemory(fout.tdata_width, out_frames * fout.beats, backend=backend, file="out.hex"),
            "ts_in": SimMemory(TS_BITS, out_frames, backend=backend, file="ts_in.hex"),
            "ts_out": SimMemory(TS_BITS, out_frames, backend=backend, file="ts_out.hex"),
        }
        super().__init__(
            {
                "src": Out(axis.signature(fin.tdata_width)),
                "sink": In(axis.signature(fout.tdata_width)),
                "ctrl": In(CONTROL),
                "status": Out(STATUS),
            }
        )

    @staticmethod
    def _lfsr(m: Module, name: str, seed_value, load) -> Signal:
        reg = Signal(32, name=name, init=1)
        with m.If(load):
            m.d.sync += reg.eq(seed_value)
        with m.Else():
            m.d.sync += reg.eq((reg >> 1) ^ Mux(reg[0], LFSR_TAPS, 0))
        return reg

    def elaborate(self, platform):
        m = Module()
        for name, mem in self.mems.items():
            m.submodules[f"mem_{name}"] = mem
            if name in LOADED:
                m.d.comb += mem.load.eq(self.ctrl.load)
            if name in DUMPED:
                m.d.comb += mem.dump.eq(self.ctrl.dump)
        mi, mg, mo, mti, mto = (self.mems[k] for k in MEMORIES)
        fin, fout = self.frame.input, self.frame.output
        ctrl, st = self.ctrl, self.status

        cycle = Signal(TS_BITS)
        m.d.sync += cycle.eq(cycle + 1)

        busy, done, timed_out, armed = Signal(), Signal(), Signal(), Signal()
        start = Signal()
        m.d.comb += start.eq(ctrl.start & ~busy)
        gap, stall, period, hold = Signal(8), Signal(8), Signal(16), Signal(16)
        timeout = Signal(32)
        with m.If(start):
            m.d.sync += [
                busy.eq(1),
                done.eq(0),
                timed_out.eq(0),
                armed.eq(1),
                gap.eq(ctrl.gap),
                stall.eq(ctrl.stall),
                period.eq(ctrl.period),
                hold.eq(ctrl.hold),
                timeout.eq(ctrl.timeout),
            ]
        seed_src = Signal(32)
        seed_snk = Signal(32)
        m.d.comb += [seed_src.eq(ctrl.seed), seed_snk.eq(ctrl.seed ^ SINK_SEED_XOR)]
        lfsr_src = self._lfsr(m, "lfsr_src", Mux(seed_src == 0, 1, seed_src), start)
        lfsr_snk = self._lfsr(m, "lfsr_snk", Mux(seed_snk == 0, 1, seed_snk), start)

        # --- source: frames first .. first+count-1 from the in memory ---------------------
        in_words = self.in_frames * fin.beats
        idx = Signal(range(in_words + 1))  # next word to offer
        end = Signal(range(in_words + 1))
        beat = Signal(range(max(fin.beats, 2)))
        primed = Signal()  # the read port shows word idx
        held = Signal()  # a beat was offered and not yet taken
        fire = Signal()
        m.d.comb += [
            self.src.valid.eq(busy & primed & (idx < end) & (held | (lfsr_src[:8] >= gap))),
            self.src.payload.data.eq(mi.rdata),
            self.src.payload.last.eq(beat == fin.beats - 1),
            fire.eq(self.src.valid & self.src.ready),
            mi.raddr.eq(Mux(fire, idx + 1, idx)),
        ]
        m.d.sync += [held.eq(self.src.valid & ~self.src.ready), primed.eq(~start)]
        first_words = Signal(range(in_words + 1))
        count_words = Signal(range(in_words + 1))
        # ctrl.first/count are in frames (the testbench keeps them inside the memory)
        m.d.comb += [first_words.eq(ctrl.first * fin.beats), count_words.eq(ctrl.count * fin.beats)]
        with m.If(start):
            m.d.sync += [idx.eq(first_words), end.eq(first_words + count_words), beat.eq(0), held.eq(0)]
        with m.Elif(fire):
            m.d.sync += [idx.eq(idx + 1), beat.eq(Mux(beat == fin.beats - 1, 0, beat + 1))]
        frames_in = Signal(32)
        with m.If(fire & (beat == 0)):  # indexed by sent frame (send order, like ts_out)
            m.d.comb += [mti.waddr.eq(frames_in), mti.wdata.eq(cycle), mti.we.eq(frames_in < self.out_frames)]
        with m.If(fire & (beat == fin.beats - 1)):
            m.d.sync += frames_in.eq(frames_in + 1)

        # --- sink: capture, compare with the gold memory, timestamp, count -----------------
        out_words = self.out_frames * fout.beats
        oidx = Signal(range(out_words + 1))
        obeat = Signal(range(max(fout.beats, 2)))
        frames_out = Signal(32)
        expect = Signal(32)  # frames_out at which the command is done
        bad_frames, first_bad, tlast_errors = Signal(32), Signal(32), Signal(32)
        any_bad = Signal()
        frame_bad = Signal()
        overflow = Signal()
        per_cnt = Signal(16)
        with m.If(start | (per_cnt + 1 >= period)):
            m.d.sync += per_cnt.eq(0)
        with m.Else():
            m.d.sync += per_cnt.eq(per_cnt + 1)
        periodic_low = Signal()
        m.d.comb += periodic_low.eq((period != 0) & (per_cnt < hold))
        sfire = Signal()
        expect_last = Signal()
        word_bad = Signal()
        in_range = Signal()
        m.d.comb += [
            self.sink.ready.eq(armed & ~(lfsr_snk[:8] < stall) & ~periodic_low),
            sfire.eq(self.sink.valid & self.sink.ready),
            expect_last.eq(obeat == fout.beats - 1),
            in_range.eq(oidx < out_words),
            mg.raddr.eq(Mux(sfire, oidx + 1, oidx)),
            word_bad.eq(~in_range | (self.sink.payload.data != mg.rdata)),
        ]
        with m.If(start):
            m.d.sync += expect.eq(frames_out + ctrl.count)
        with m.If(sfire):
            m.d.comb += [mo.waddr.eq(oidx), mo.wdata.eq(self.sink.payload.data), mo.we.eq(in_range)]
            m.d.sync += [oidx.eq(Mux(in_range, oidx + 1, oidx)), obeat.eq(Mux(expect_last, 0, obeat + 1))]
            with m.If(~in_range):
                m.d.sync += overflow.eq(1)
            with m.If(self.sink.payload.last != expect_last):
                m.d.sync += tlast_errors.eq(tlast_errors + 1)
            bad = frame_bad | word_bad | (self.sink.payload.last != expect_last)
            with m.If(expect_last):
                m.d.sync += [frames_out.eq(frames_out + 1), frame_bad.eq(0)]
                m.d.comb += [mto.waddr.eq(frames_out), mto.wdata.eq(cycle), mto.we.eq(frames_out < self.out_frames)]
                with m.If(bad):
                    m.d.sync += [bad_frames.eq(bad_frames + 1), any_bad.eq(1)]
                    with m.If(~any_bad):
                        m.d.sync += first_bad.eq(frames_out)
                with m.If(busy & (frames_out + 1 == expect)):
                    m.d.sync += [busy.eq(0), done.eq(1)]
            with m.Else():
                m.d.sync += frame_bad.eq(bad)

        # --- watchdog: busy and no output beat for `timeout` cycles -> done, timed_out ------
        idle = Signal(32)
        with m.If(start | sfire | ~busy):
            m.d.sync += idle.eq(0)
        with m.Elif((timeout != 0) & (idle + 1 >= timeout)):
            m.d.sync += [busy.eq(0), done.eq(1), timed_out.eq(1)]
        with m.Else():
            m.d.sync += idle.eq(idle + 1)

        m.d.comb += [
            st.busy.eq(busy),
            st.done.eq(done),
            st.timed_out.eq(timed_out),
            st.cycle.eq(cycle),
            st.frames_in.eq(frames_in),
            st.frames_out.eq(frames_out),
            st.bad_frames.eq(bad_frames),
            st.first_bad.eq(Mux(any_bad, first_bad, Const(0xFFFFFFFF, 32))),
            st.tlast_errors.eq(tlast_errors),
            st.overflow.eq(overflow),
        ]
        return m
