"""The accelerator's frame format: how an image goes in and the class scores come out.

Both ports are AXI-Stream (``tdata/tvalid/tready/tlast``). A frame is the
network input flattened in HWC order (channels innermost; a vector as is),
cut into beats of ``elems`` consecutive elements. Element k of a beat sits at
``tdata[k*bits : (k+1)*bits]`` (little-endian lanes); ``tdata`` is padded with
zeros up to a whole number of bytes. ``tlast`` is high on the last beat of a
frame. The input elements are unsigned 8-bit pixels; the output elements are
the last layer's raw signed accumulators, in class order.

This module is the single source of truth for packing, used by hw/ (to build
the ports), sim/ (drivers and monitors) and the board self-test ROM.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# The accelerator core's AXI-Stream ports (hw/top.Accelerator's signature), in this order, and with the
# clock and reset the whole Verilog top (bitscale_top): every wrapper, harness and project script uses these.
AXIS_PORTS = (
    "s_axis_tdata",
    "s_axis_tvalid",
    "s_axis_tready",
    "s_axis_tlast",
    "m_axis_tdata",
    "m_axis_tvalid",
    "m_axis_tready",
    "m_axis_tlast",
)
CORE_PORTS = ("clk", "rst", *AXIS_PORTS)
# the ones the core drives (outputs of bitscale_top); the rest are its inputs
AXIS_OUTPUTS = ("s_axis_tready", "m_axis_tdata", "m_axis_tvalid", "m_axis_tlast")


@dataclass(frozen=True)
class StreamFormat:
    elems: int  # elements per beat
    bits: int  # bits per element
    signed: bool
    beats: int  # beats per frame

    @property
    def tdata_width(self) -> int:
        return -(-self.elems * self.bits // 8) * 8

    @property
    def frame_elems(self) -> int:
        return self.elems * self.beats

    def pack(self, values) -> list[int]:
        """One frame's values (frame_elems of them) -> tdata words."""
        v = [int(x) for x in np.asarray(values).reshape(-1)]
        if len(v) != self.frame_elems:
            raise ValueError(f"a frame has {self.frame_elems} elements, got {len(v)}")
        lo, hi = (-(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1) if self.signed else (0, (1 << self.bits) - 1)
        mask = (1 << self.bits) - 1
        words = []
        for b in range(self.beats):
            word = 0
            for k in range(self.elems):
                x = v[b * self.elems + k]
                if not lo <= x <= hi:
                    raise ValueError(
                        f"value {x} does not fit {self.bits} {'signed' if self.signed else 'unsigned'} bits"
                    )
                word |= (x & mask) << (k * self.bits)
            words.append(word)
        return words

    def unpack(self, words) -> np.ndarray:
        """tdata words of one or more whole frames -> (frames, frame_elems) int64."""
        words = list(words)
        if len(words) % self.beats:
            raise ValueError(f"{len(words)} beats is not a whole number of {self.beats}-beat frames")
        mask = (1 << self.bits) - 1
        out = []
        for w in words:
            for k in range(self.elems):
                x = (int(w) >> (k * self.bits)) & mask
                if self.signed and x >> (self.bits - 1):
                    x -= 1 << self.bits
                out.append(x)
        return np.array(out, dtype=np.int64).reshape(-1, self.frame_elems)


@dataclass(frozen=True)
class FrameFormat:
    input: StreamFormat
    output: StreamFormat

    def to_json(self) -> dict:
        return {
            "input": asdict(self.input),
            "output": asdict(self.output),
            "order": "HWC, channels innermost; element k of a beat at tdata[k*bits:(k+1)*bits]",
        }

    @staticmethod
    def from_json(doc: dict) -> "FrameFormat":
        return FrameFormat(StreamFormat(**doc["input"]), StreamFormat(**doc["output"]))
