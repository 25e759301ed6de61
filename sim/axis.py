"""Reusable cocotb AXI-Stream verification pieces: driver, monitor, scoreboard.

The shape is cocotb's ``examples/matrix_multiplier``: a driver pushes input
frames, a monitor on the input port hands every accepted frame to a model
(the golden integer model), a monitor on the output port hands every
received frame to a checker that compares it with the model's expectation.

Timing convention (guaranteed for every simulator): components change the
signals they drive right after a rising clock edge and sample the port in
the ReadOnly phase of the same cycle, so a beat is recorded in the cycle
``c`` in which ``tvalid & tready`` were both high (it is taken by the DUT on
the rising edge that ends cycle ``c``). Cycle numbers count rising edges of
the clock since time 0 (``sim_time // period``). To keep Python out of idle
cycles, a driver whose beat is stalled sleeps until ``tready`` rises and an
always-ready sink sleeps until ``tvalid`` rises (the DUT's outputs change only
at clock edges or when our inputs change, so the wake-up is in the right cycle).

Frames are lists of ``tdata`` integers; :mod:`bitscale.hw.frame` packs and
unpacks them. Random gaps / backpressure come from a seeded ``random.Random``
so a failing run can be replayed.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import cocotb
from cocotb.simtime import get_sim_time
from cocotb.triggers import Event, ReadOnly, RisingEdge


def _bit(handle) -> bool:
    """A 1-bit signal as a bool (X/Z read as False)."""
    v = handle.value
    return str(v) == "1"


def _int(handle) -> int:
    v = handle.value
    return v.to_unsigned() if hasattr(v, "to_unsigned") else int(v)  # 1-bit signals read as Logic


class AxisBus:
    """A DUT's stream port: ``<prefix>_tdata/_tvalid/_tready/_tlast`` (style ``"axis"``)
    or an Amaranth ``stream.Signature`` port ``<prefix>__payload/__valid/__ready``
    (style ``"stream"``, no ``last``: frames are then cut every ``frame_beats`` beats).
    """

    def __init__(self, dut, prefix: str, style: str = "axis"):
        if style == "axis":
            names = ("_tdata", "_tvalid", "_tready", "_tlast")
        elif style == "stream":
            names = ("__payload", "__valid", "__ready", None)
        else:
            raise ValueError(f"bus style must be 'axis' or 'stream', not {style!r}")
        self.tdata, self.tvalid, self.tready = (getattr(dut, prefix + n) for n in names[:3])
        self.tlast = getattr(dut, prefix + names[3]) if names[3] else None
        self.name = prefix


class CycleClock:
    """Cycle numbers from simulation time (one cycle per clock period, in sim steps)."""

    def __init__(self, clk, period_steps: int):
        self.clk = clk
        self.period = int(period_steps)

    def now(self) -> int:
        return int(get_sim_time("step")) // self.period


@dataclass
class Frame:
    """One frame seen on a port: its tdata words and the cycle of each beat."""

    words: list[int] = field(default_factory=list)
    cycles: list[int] = field(default_factory=list)

    @property
    def first_cycle(self) -> int:
        return self.cycles[0]

    @property
    def last_cycle(self) -> int:
        return self.cycles[-1]


class AxisDriver:
    """Drives frames into a DUT's AXI-Stream slave port.

    ``gaps`` is the probability that the driver withholds ``tvalid`` for a
    cycle while it has data (never once a beat is offered: AXI-Stream forbids
    dropping ``tvalid`` before the handshake). ``gaps=0`` streams frames
    back-to-back with no idle cycle between beats or frames. Accepted beats
    are recorded (it is its own input monitor): :attr:`sent` holds the
    accepted frames and ``on_frame(frame)`` is called for each.
    """

    def __init__(
        self,
        bus: AxisBus,
        clock: CycleClock,
        gaps: float = 0.0,
        seed: int = 0,
        on_frame: Callable[[Frame], None] | None = None,
    ):
        self.bus, self.clock = bus, clock
        self.on_frame = on_frame
        self.gaps = float(gaps)
        self.rng = random.Random(seed)
        self._queue: deque = deque()  # (word, last, frame index)
        self._wake = Event()
        self._frames = 0
        self.sent: list[Frame] = []  # accepted beats, split into frames
        self.first_cycles: list[int] = []  # cycle of each frame's first accepted beat
        self._idle = Event()
        self._idle.set()
        bus.tvalid.value = 0
        if bus.tlast is not None:
            bus.tlast.value = 0
        bus.tdata.value = 0
        self._task = cocotb.start_soon(self._run())

    def send(self, words: list[int]) -> int:
        """Queue one frame (its tdata words); returns its index. Does not wait."""
        if not words:
            raise ValueError("a frame needs at least one beat")
        idx = self._frames
        self._frames += 1
        for i, w in enumerate(words):
            self._queue.append((int(w), i == len(words) - 1, idx))
        self._idle.clear()
        self._wake.set()
        return idx

    async def wait_idle(self) -> None:
        """Until every queued beat has been accepted by the DUT."""
        await self._idle.wait()

    async def _run(self) -> None:
        bus, rng = self.bus, self.rng
        beat = None  # the beat currently offered (tvalid high)
        shown = False  # what tvalid is now
        current = Frame()
        while True:
            if beat is None and not self._queue:
                if shown:
                    await RisingEdge(self.clock.clk)
                    bus.tvalid.value = 0
                    shown = False
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            await RisingEdge(self.clock.clk)
            if beat is None:
                if self.gaps and rng.random() < self.gaps:
                    if shown:
                        bus.tvalid.value = 0
                        shown = False
                    continue
                beat = self._queue.popleft()
                bus.tdata.value = beat[0]
                if bus.tlast is not None:
                    bus.tlast.value = int(beat[1])
                if not shown:
                    bus.tvalid.value = 1
                    shown = True
            await ReadOnly()
            # stalled: sleep until tready rises instead of waking every cycle (tvalid is held)
            while not _bit(bus.tready):
                await RisingEdge(bus.tready)
                await ReadOnly()
            if not current.words:
                self.first_cycles.append(self.clock.now())
            current.words.append(beat[0])
            current.cycles.append(self.clock.now())
            if beat[1]:
                self.sent.append(current)
                if self.on_frame is not None:
                    self.on_frame(current)
                current = Frame()
            beat = None


class AxisMonitor:
    """Watches an AXI-Stream port, collects beats and splits them into frames at ``tlast``
    (or every ``frame_beats`` beats on a bus without ``tlast``).

    With ``drive_ready=True`` it is also the sink: it drives ``tready``, low
    with probability ``backpressure`` each cycle (``0`` = always ready).
    ``callback(frame)`` is called for every complete frame. Frames are also
    kept in :attr:`frames`; :meth:`frames_reached` waits for a count.
    """

    def __init__(
        self,
        bus: AxisBus,
        clock: CycleClock,
        drive_ready: bool = False,
        backpressure: float = 0.0,
        seed: int = 1,
        callback: Callable[[Frame], None] | None = None,
        frame_beats: int | None = None,
    ):
        if bus.tlast is None and not frame_beats:
            raise ValueError(f"{bus.name} has no tlast: give frame_beats")
        self.bus, self.clock = bus, clock
        self.frame_beats = frame_beats
        self.drive_ready = drive_ready
        self.backpressure = float(backpressure)
        self.rng = random.Random(seed)
        self.callback = callback
        self.frames: list[Frame] = []
        self.errors: list[str] = []  # protocol problems seen (X/Z data)
        self.beats = 0
        self._current = Frame()
        self._target = None
        self._reached = Event()
        if drive_ready:
            bus.tready.value = 1
        self._task = cocotb.start_soon(self._run())

    @property
    def partial(self) -> Frame:
        """Beats received since the last ``tlast`` (an unfinished frame)."""
        return self._current

    def frames_reached(self, n: int):
        """A trigger that fires once at least ``n`` frames have been received.

        Combine it with a cycle budget: ``await First(mon.frames_reached(n), ClockCycles(clk, k))``.
        """
        self._target = n
        self._reached = Event()
        if len(self.frames) >= n:
            self._reached.set()
        return self._reached.wait()

    async def _run(self) -> None:
        bus, rng, clk = self.bus, self.rng, self.clock.clk
        ready = True
        while True:
            await RisingEdge(clk)
            if self.drive_ready and self.backpressure:
                want = rng.random() >= self.backpressure
                if want != ready:
                    bus.tready.value = int(want)
                    ready = want
            await ReadOnly()
            if self.drive_ready and not self.backpressure:
                # tready is constantly high: sleep until tvalid rises instead of waking every cycle
                while not _bit(bus.tvalid):
                    await RisingEdge(bus.tvalid)
                    await ReadOnly()
            if _bit(bus.tvalid) and (ready if self.drive_ready else _bit(bus.tready)):
                self.beats += 1
                cur = self._current
                try:
                    word = _int(bus.tdata)
                except ValueError:  # X/Z on tdata during a handshake: a DUT bug, recorded
                    word = -1
                    self.errors.append(f"{bus.name}_tdata has X/Z bits at cycle {self.clock.now()}: {bus.tdata.value}")
                cur.words.append(word)
                cur.cycles.append(self.clock.now())
                if _bit(bus.tlast) if bus.tlast is not None else len(cur.words) == self.frame_beats:
                    self.frames.append(cur)
                    self._current = Frame()
                    if self.callback is not None:
                        self.callback(cur)
                    if self._target is not None and len(self.frames) >= self._target:
                        self._target = None
                        self._reached.set()


class Scoreboard:
    """Compares received frames with the model's expectations, in order.

    ``model(input_frame) -> expected output words`` is called by :meth:`add_input`
    (call it when a frame is sent, or wire it to an input monitor's callback when
    outputs never leave before their input is complete); :meth:`add_output` (the
    output monitor's callback) pops the oldest expectation and compares. Every
    comparison is recorded in :attr:`results` (True/False per output frame);
    human-readable differences go to :attr:`errors`. ``compare`` may be given
    to compare decoded values instead of raw words.
    """

    def __init__(
        self, model: Callable[[Frame], list[int]], decode: Callable[[list[int]], list[int]] | None = None, log=None
    ):
        self.model = model
        self.decode = decode or (lambda words: list(words))
        self.expected: deque = deque()
        self.results: list[bool] = []
        self.outputs: list[list[int] | None] = []  # None: a frame that did not decode
        self.errors: list[str] = []
        self.log = log

    def add_input(self, frame: Frame) -> None:
        self.expected.append(self.model(frame))

    def add_output(self, frame: Frame) -> None:
        k = len(self.results)
        try:
            got = [int(v) for v in self.decode(frame.words)]
        except ValueError as e:  # wrong number of beats for a frame
            got = None
            self.errors.append(f"output frame {k}: {e}")
        self.outputs.append(got)
        if not self.expected:
            self.results.append(False)
            self.errors.append(f"output frame {k} has no matching input frame (duplicated or spurious)")
            return
        exp = [int(v) for v in self.expected.popleft()]
        ok = got == exp
        self.results.append(ok)
        if not ok and got is not None:
            diff = [i for i, (a, b) in enumerate(zip(got, exp)) if a != b]
            self.errors.append(f"output frame {k}: got {got}, expected {exp} (differs at {diff[:8]})")
        if not ok and self.log is not None:
            self.log.error(self.errors[-1])

    @property
    def missing(self) -> int:
        """Input frames whose output has not (yet) arrived."""
        return len(self.expected)
